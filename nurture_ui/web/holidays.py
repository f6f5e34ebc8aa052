"""The holiday calendar page (admins only): import an .ics file, pick a country, remove an imported date."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import SelectField

from nurture_ui import clock
from nurture_ui.engine.schedule import send_window_for
from nurture_ui.extensions import db
from nurture_ui.holiday_calendar import (
    MAX_ICS_BYTES,
    CalendarRefused,
    calendar_for,
    countries,
    country_name,
    import_holidays,
    region_names,
    remove_holiday,
)
from nurture_ui.models import TenantHoliday
from nurture_ui.tenancy import parse_id, scoped
from nurture_ui.tenant_policy import PolicyRefused, update_policy
from nurture_ui.web.access import allow

bp = Blueprint("holidays", __name__, url_prefix="/settings/holidays")
# How far ahead the page lists holidays.
LISTED_DAYS = 400


class IcsForm(FlaskForm):
    file = FileField("Calendar file (.ics)", validators=[FileRequired("Choose an .ics file to import.")])


class CountryForm(FlaskForm):
    holiday_country = SelectField("Country", choices=[])
    holiday_subdivision = SelectField("Region", choices=[], validate_choice=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.holiday_country.choices = [("", "No country")] + [
            (code, f"{country_name(code)} ({code})") for code in countries()
        ]
        self.holiday_subdivision.choices = [("", "The whole country")]


def _page(ics_form: IcsForm, country_form: CountryForm, status: int = 200):
    tenant = current_user.tenant
    calendar = calendar_for(tenant)
    today = clock.now().astimezone(send_window_for(tenant, holidays=calendar).zone(None)).date()
    imported_ids = {
        row.day: row.id
        for row in db.session.scalars(scoped(TenantHoliday).where(TenantHoliday.day >= today)).all()
    }
    country = country_form.holiday_country.data or ""
    country_form.holiday_subdivision.choices = [("", "The whole country")] + [
        (code, code if name == code else f"{name} ({code})") for code, name in region_names(country).items()
    ]
    return render_template(
        "settings/holidays.html",
        ics_form=ics_form,
        country_form=country_form,
        coming=calendar.coming(today, LISTED_DAYS),
        imported_ids=imported_ids,
        country_label=country_name(calendar.country) if calendar.country else "",
        calendar=calendar,
    ), status


@bp.route("/")
@allow("admin")
def index():
    policy = current_user.tenant.effective_policy
    country_form = CountryForm(
        data={
            "holiday_country": policy["holiday_country"],
            "holiday_subdivision": policy["holiday_subdivision"],
        }
    )
    return _page(IcsForm(formdata=None), country_form)


@bp.route("/import", methods=["POST"])
@allow("admin")
def import_ics():
    form = IcsForm()
    if form.validate_on_submit():
        try:
            new = import_holidays(
                current_user.tenant, form.file.data.read(MAX_ICS_BYTES + 1), actor_id=current_user.id
            )
        except CalendarRefused as refused:
            form.file.errors.append(str(refused))
        else:
            flash(
                f"Imported {new} new holiday date{'s' if new != 1 else ''}."
                if new
                else "Every date in the file was already a holiday.",
                "success",
            )
            return redirect(url_for("holidays.index"))
    policy = current_user.tenant.effective_policy
    country_form = CountryForm(
        formdata=None,
        data={
            "holiday_country": policy["holiday_country"],
            "holiday_subdivision": policy["holiday_subdivision"],
        },
    )
    return _page(form, country_form, 422)


@bp.route("/country", methods=["POST"])
@allow("admin")
def choose_country():
    form = CountryForm()
    form.validate()
    values = {
        "holiday_country": form.holiday_country.data or "",
        "holiday_subdivision": form.holiday_subdivision.data or "",
    }
    if not form.holiday_country.errors:
        try:
            changes = update_policy(current_user.tenant, values, actor_id=current_user.id, now=clock.now())
        except PolicyRefused as refused:
            for key, message in refused.errors.items():
                getattr(form, key, form.holiday_country).errors = [message]
        else:
            flash("Saved the holiday country." if changes else "Nothing changed.", "success")
            return redirect(url_for("holidays.index"))
    return _page(IcsForm(formdata=None), form, 422)


@bp.route("/<holiday_id>/remove", methods=["POST"])
@allow("admin")
def remove(holiday_id: str):
    wanted = parse_id(holiday_id)
    removed = remove_holiday(current_user.tenant, wanted, actor_id=current_user.id) if wanted else None
    if removed is None:
        abort(404)
    flash(
        f"Removed {removed.day:%a %-d %b %Y} ({removed.name or 'holiday'}): emails may go out that day.",
        "success",
    )
    return redirect(url_for("holidays.index"))
