"""Sign in and out."""

from __future__ import annotations

from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField
from wtforms.validators import DataRequired, Length

from nurture_ui import clock, login_throttle
from nurture_ui.extensions import db
from nurture_ui.models import User
from nurture_ui.web.access import ALL_ROLES, allow, public

bp = Blueprint("auth", __name__)


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired("Enter your email."), Length(max=255)])
    password = PasswordField("Password", validators=[DataRequired("Enter your password."), Length(max=1024)])
    remember = BooleanField("Keep me signed in")


def _safe_next(target: str | None) -> str | None:
    """Only same-site relative paths: an open redirect would make our login page a phishing tool."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


@bp.route("/login", methods=["GET", "POST"])
@public
def login():
    if current_user.is_authenticated:
        return redirect(url_for("dashboard.index"))
    form = LoginForm()
    error = None
    status = 200
    if form.validate_on_submit():
        email = form.email.data.strip().lower()
        address = request.remote_addr
        lockout = login_throttle.lockout_for(email, address)
        user = None
        if lockout is None:
            user = db.session.scalar(sa.select(User).where(sa.func.lower(User.email) == email))
            right = user is not None and user.check_password(form.password.data)
            if not right:
                login_throttle.record_failure(email, address)
                error, status = "That email and password do not match an account.", 401
                # The failure that reaches the limit says so at once.
                lockout = login_throttle.lockout_for(email, address)
            elif not user.is_active:
                # Said only to someone who knows the password: it tells nobody else the account exists.
                error = "This account is deactivated. Ask an admin of your team to reactivate it."
                status = 403
        if lockout is not None:
            error, status = lockout.message(clock.now()), 429
        elif error is None:
            login_throttle.clear_account(email)
            user.last_login_at = clock.now()
            db.session.commit()
            login_user(user, remember=form.remember.data)
            return redirect(_safe_next(request.args.get("next")) or url_for("dashboard.index"))
    return render_template("auth/login.html", form=form, error=error), status


@bp.route("/logout", methods=["POST"])
@allow(*ALL_ROLES)
def logout():
    logout_user()
    flash("You are signed out.", "info")
    return redirect(url_for("auth.login"))
