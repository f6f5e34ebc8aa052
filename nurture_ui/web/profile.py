"""Your profile: the signed-in person's own preferences. Today that is the time zone they read times in."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import SelectField

from nurture_ui import accounts
from nurture_ui.time_zones import UnknownZone, first_zone, zone_names
from nurture_ui.web.access import ALL_ROLES, allow

bp = Blueprint("profile", __name__, url_prefix="/profile")


class TimeZoneForm(FlaskForm):
    # Checked by accounts.set_time_zone (parse_zone), not by the choices: a zone the list leaves out (an
    # alias) still gets a clear message rather than WTForms' "Not a valid choice".
    timezone = SelectField("Show times in", validate_choice=False)


def _tenant_zone_name() -> str:
    return first_zone(current_user.tenant.policy_value("timezone")).key


@bp.route("/", methods=["GET", "POST"])
@allow(*ALL_ROLES)
def index():
    form = TimeZoneForm()
    form.timezone.choices = [("", f"The team's time zone ({_tenant_zone_name()})")] + [
        (z, z) for z in zone_names()
    ]
    if not form.is_submitted():
        form.timezone.data = current_user.timezone or ""
    if form.validate_on_submit():
        try:
            accounts.set_time_zone(current_user, form.timezone.data)
        except UnknownZone as refused:
            form.timezone.errors = [str(refused)]
        else:
            chosen = current_user.timezone or f"the team's time zone ({_tenant_zone_name()})"
            flash(f"Times are now shown in {chosen}.", "success")
            return redirect(url_for("profile.index"))
    return render_template("profile/index.html", form=form), 422 if form.errors else 200
