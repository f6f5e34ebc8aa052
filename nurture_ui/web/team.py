"""The team: admins see every person of the tenant, add new ones, change roles, deactivate and reactivate
people, reset passwords and hand a departed person's leads to someone else. The rules live in
``nurture_ui.team``; every change is a POST that flashes what happened and comes back to the page (a reset
password is shown once, on the page the POST answers, and never flashed: flashes live in the cookie)."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, Length

from nurture_ui import team
from nurture_ui.accounts import AccountError, create_user
from nurture_ui.extensions import db
from nurture_ui.models import ROLES, User
from nurture_ui.tenancy import get_or_404
from nurture_ui.web.access import allow
from nurture_ui.web.validators import EmailAddress

bp = Blueprint("team", __name__, url_prefix="/team")

# Least privileged first: the form's first choice is the default.
ROLE_CHOICES = [(r, r.title()) for r in ("rep", "marketer", "manager", "admin")]
assert {r for r, _ in ROLE_CHOICES} == set(ROLES)


class UserForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired("Enter a name."), Length(max=255)])
    email = EmailField("Email", validators=[DataRequired("Enter an email."), EmailAddress(), Length(max=255)])
    role = SelectField("Role", choices=ROLE_CHOICES, default=team.LEAST_PRIVILEGED_ROLE)
    password = PasswordField(
        "Password",
        validators=[
            DataRequired("Enter a password."),
            Length(min=10, max=1024, message="Use at least 10 characters."),
        ],
    )


def _page(form: UserForm, *, status: int = 200, new_password: tuple[User, str] | None = None):
    users = db.session.scalars(
        sa.select(User)
        .where(User.tenant_id == current_user.tenant_id)
        .order_by(User.is_active_user.desc(), User.role, User.name)
    ).all()
    receivers = [u for u in users if u.is_active_user and u.role in team.LEAD_OWNER_ROLES]
    response = render_template(
        "team/index.html",
        users=users,
        form=form,
        roles=ROLE_CHOICES,
        work=team.work_by_person(current_user.tenant_id),
        receivers=receivers,
        new_password=new_password,
    )
    headers = {"Cache-Control": "no-store"} if new_password else {}
    return response, status, headers


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
                added_by=current_user,
            )
        except AccountError as error:
            form.email.errors.append(str(error))
        else:
            flash(f"{user.name} can now sign in as {user.role}.", "success")
            return redirect(url_for("team.index"))
    return _page(form, status=422 if form.errors else 200)


def _changed(action, success: str):
    try:
        action()
    except team.TeamChangeRefused as refused:
        flash(f"Not done: {refused}", "warning")
    else:
        flash(success, "success")
    return redirect(url_for("team.index"))


@bp.route("/<user_id>/role", methods=["POST"])
@allow("admin")
def change_role(user_id):
    person = get_or_404(User, user_id)
    role = request.form.get("role", "")
    return _changed(
        lambda: team.change_role(person, role, admin=current_user),
        f"{person.name} is now {role if role in ROLES else '?'}.",
    )


@bp.route("/<user_id>/deactivate", methods=["POST"])
@allow("admin")
def deactivate(user_id):
    person = get_or_404(User, user_id)
    return _changed(
        lambda: team.deactivate(person, admin=current_user),
        f"{person.name} is deactivated: they cannot sign in, and their open sessions have ended.",
    )


@bp.route("/<user_id>/reactivate", methods=["POST"])
@allow("admin")
def reactivate(user_id):
    person = get_or_404(User, user_id)
    return _changed(lambda: team.reactivate(person, admin=current_user), f"{person.name} can sign in again.")


@bp.route("/<user_id>/reset-password", methods=["POST"])
@allow("admin")
def reset_password(user_id):
    person = get_or_404(User, user_id)
    try:
        password = team.reset_password(person, admin=current_user)
    except team.TeamChangeRefused as refused:
        flash(f"Not done: {refused}", "warning")
        return redirect(url_for("team.index"))
    # Answered here, not redirected: the password must not travel in a flash (the session cookie).
    return _page(UserForm(formdata=None), new_password=(person, password))


@bp.route("/<user_id>/reassign", methods=["POST"])
@allow("admin")
def reassign(user_id):
    person = get_or_404(User, user_id)
    receiver_id = request.form.get("to_user_id", "")
    if not receiver_id:
        flash("Not done: choose who takes the leads.", "warning")
        return redirect(url_for("team.index"))
    receiver = get_or_404(User, receiver_id)
    try:
        moved = team.reassign_work(person, receiver, admin=current_user)
    except team.TeamChangeRefused as refused:
        flash(f"Not done: {refused}", "warning")
    else:
        flash(
            f"{receiver.name} now has {person.name}'s {moved.leads} lead{'s' if moved.leads != 1 else ''}"
            f" ({moved.drafts} pending draft{'s' if moved.drafts != 1 else ''} with them)"
            f" and {moved.tasks} open task{'s' if moved.tasks != 1 else ''}.",
            "success",
        )
    return redirect(url_for("team.index"))
