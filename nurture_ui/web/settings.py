"""The tenant's policy settings (admins only): limits, who may be enrolled, the send window, review."""

from __future__ import annotations

from functools import cache

import sqlalchemy as sa
from flask import Blueprint, flash, redirect, render_template, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, FloatField, IntegerField, SelectField, SelectMultipleField, StringField
from wtforms.validators import InputRequired, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from nurture_ui import clock
from nurture_ui.extensions import db
from nurture_ui.models import Activity
from nurture_ui.tenant_policy import ENROLLABLE, PolicyRefused, check_policy, update_policy
from nurture_ui.time_zones import zone_names
from nurture_ui.web.access import allow

bp = Blueprint("settings", __name__, url_prefix="/settings")

DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
LABELS = {
    "frequency_cap_hours": "Frequency cap",
    "max_steps": "Maximum steps",
    "max_span_days": "Maximum span",
    "reenrollment_cooldown_days": "Re-enrollment cooldown",
    "cross_sequence_cooldown": "Cross-sequence cooldown",
    "cross_sequence_cooldown_days": "Cross-sequence cooldown length",
    "reply_window_days": "Reply window",
    "ooo_default_days": "Out-of-office pause",
    "warm_bands": "Warm score bands",
    "enrollable_statuses": "Enrollable statuses",
    "send_window": "Send window",
    "timezone": "Time zone",
    "holiday_country": "Holiday country",
    "holiday_subdivision": "Holiday region",
    "preapproved_skip_review": "Pre-approved templates skip review",
    "drafter_url": "Writing service address",
    "drafter_timeout_seconds": "Writing service timeout",
}


@cache
def _zones() -> list[tuple[str, str]]:
    return [(z, z) for z in zone_names()]


class Checkboxes(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


def _whole(label: str):
    return IntegerField(label, validators=[InputRequired("Enter a whole number.")])


class PolicyForm(FlaskForm):
    frequency_cap_hours = _whole("Frequency cap (hours)")
    reenrollment_cooldown_days = _whole("Re-enrollment cooldown (days)")
    cross_sequence_cooldown = BooleanField("Keep leads who just left a sequence out of every other one")
    cross_sequence_cooldown_days = _whole("Cross-sequence cooldown (days)")
    reply_window_days = _whole("Reply window (days)")
    ooo_default_days = _whole("Out-of-office pause (days)")
    enrollable_statuses = Checkboxes(
        "Lead statuses that may be enrolled", choices=[(s, s.title()) for s in ENROLLABLE]
    )
    warm_bands = StringField("Warm score bands")
    send_days = Checkboxes("Days", choices=list(enumerate(DAYS)), coerce=int)
    send_start_hour = SelectField("From", choices=[(h, f"{h:02d}:00") for h in range(24)], coerce=int)
    send_end_hour = SelectField("Until", choices=[(h, f"{h:02d}:00") for h in range(1, 25)], coerce=int)
    timezone = SelectField("Default time zone", choices=[])
    max_steps = _whole("Maximum steps per sequence")
    max_span_days = _whole("Maximum span (days)")
    preapproved_skip_review = BooleanField("Pre-approved templates may skip review")
    drafter_url = StringField("Writing service address", validators=[Optional()])
    drafter_timeout_seconds = FloatField(
        "Timeout (seconds)", validators=[InputRequired("Enter a number of seconds.")]
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.timezone.choices = _zones()

    def load(self, policy: dict) -> None:
        for name in (
            "frequency_cap_hours",
            "reenrollment_cooldown_days",
            "cross_sequence_cooldown",
            "cross_sequence_cooldown_days",
            "reply_window_days",
            "ooo_default_days",
            "max_steps",
            "max_span_days",
            "preapproved_skip_review",
            "timezone",
            "drafter_url",
            "drafter_timeout_seconds",
            "enrollable_statuses",
        ):
            getattr(self, name).data = policy[name]
        self.warm_bands.data = ", ".join(policy["warm_bands"])
        window = policy["send_window"]
        self.send_days.data = list(window.get("days", []))
        self.send_start_hour.data = window.get("start_hour", 9)
        self.send_end_hour.data = window.get("end_hour", 17)

    def values(self) -> dict:
        bands = [b.strip().lower() for b in (self.warm_bands.data or "").split(",") if b.strip()]
        timeout = self.drafter_timeout_seconds.data
        return {
            "frequency_cap_hours": self.frequency_cap_hours.data,
            "reenrollment_cooldown_days": self.reenrollment_cooldown_days.data,
            "cross_sequence_cooldown": bool(self.cross_sequence_cooldown.data),
            "cross_sequence_cooldown_days": self.cross_sequence_cooldown_days.data,
            "reply_window_days": self.reply_window_days.data,
            "ooo_default_days": self.ooo_default_days.data,
            "max_steps": self.max_steps.data,
            "max_span_days": self.max_span_days.data,
            "enrollable_statuses": [s for s in ENROLLABLE if s in (self.enrollable_statuses.data or [])],
            "warm_bands": list(dict.fromkeys(bands)),
            "send_window": {
                "days": sorted(set(self.send_days.data or [])),
                "start_hour": self.send_start_hour.data,
                "end_hour": self.send_end_hour.data,
            },
            "timezone": self.timezone.data,
            "preapproved_skip_review": bool(self.preapproved_skip_review.data),
            "drafter_url": (self.drafter_url.data or "").strip(),
            "drafter_timeout_seconds": int(timeout)
            if timeout is not None and timeout == int(timeout)
            else timeout,
        }


def _describe(key: str, value) -> str:
    if key == "send_window" and isinstance(value, dict):
        days = ", ".join(DAYS[d] for d in value.get("days", []))
        return f"{days} {value.get('start_hour', 0):02d}:00–{value.get('end_hour', 24):02d}:00"
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value) if value not in ("", None) else "(empty)"


@bp.route("/", methods=["GET", "POST"])
@allow("admin")
def index():
    tenant = current_user.tenant
    form = PolicyForm()
    if form.is_submitted():
        form.validate()
        # The policy's own checks too, so every problem shows at once (a field keeps its first message).
        for key, message in check_policy({**tenant.effective_policy, **form.values()}).items():
            field = getattr(form, key)
            if not field.errors:
                field.errors = [message]
        if not any(f.errors for f in form):
            try:
                changes = update_policy(tenant, form.values(), actor_id=current_user.id, now=clock.now())
            except PolicyRefused as refused:  # pragma: no cover (checked above)
                flash(str(refused), "error")
            else:
                if changes:
                    flash(f"Saved: {', '.join(LABELS[k].lower() for k in changes)}.", "success")
                else:
                    flash("Nothing changed.", "info")
                return redirect(url_for("settings.index"))
    else:
        form.load(tenant.effective_policy)
    history = db.session.scalars(
        sa.select(Activity)
        .where(Activity.tenant_id == tenant.id, Activity.type == "tenant_policy_changed")
        .order_by(Activity.occurred_at.desc())
        .limit(10)
    ).all()
    status = 422 if any(f.errors for f in form) else 200
    return render_template(
        "settings/index.html", form=form, history=history, labels=LABELS, describe=_describe
    ), status
