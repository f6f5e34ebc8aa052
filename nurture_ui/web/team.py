"""The team: admins see every user of the tenant and add new ones."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, flash, redirect, render_template, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, Length

from nurture_ui.accounts import AccountError, create_user
from nurture_ui.extensions import db
from nurture_ui.models import ROLES, User
from nurture_ui.web.access import allow
from nurture_ui.web.validators import EmailAddress

bp = Blueprint("team", __name__, url_prefix="/team")


class UserForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired("Enter a name."), Length(max=255)])
    email = EmailField("Email", validators=[DataRequired("Enter an email."), EmailAddress(), Length(max=255)])
    role = SelectField("Role", choices=[(r, r.title()) for r in ROLES])
    password = PasswordField(
        "Password",
        validators=[
            DataRequired("Enter a password."),
            Length(min=10, max=1024, message="Use at least 10 characters."),
        ],
    )


@bp.route("/", methods=["GET", "POST"])
@allow("admin")
def index():
    form = UserForm()
    if form.validate_on_submit():
        try:
            user = create_user(
                tenant=current_user.tenant,
                email=form.email.data,
                name=form.name.data,
                role=form.role.data,
                password=form.password.data,
            )
        except AccountError as error:
            form.email.errors.append(str(error))
        else:
            flash(f"{user.name} can now sign in as {user.role}.", "success")
            return redirect(url_for("team.index"))
    users = db.session.scalars(
        sa.select(User).where(User.tenant_id == current_user.tenant_id).order_by(User.role, User.name)
    ).all()
    return render_template("team/index.html", users=users, form=form), 422 if form.errors else 200
