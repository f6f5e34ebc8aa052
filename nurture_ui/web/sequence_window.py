"""The builder's send-window card: a sequence keeps the tenant's window or gets its own."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import RadioField, SelectField

from nurture_ui.extensions import db
from nurture_ui.models import Sequence
from nurture_ui.sequence_window import update_send_window
from nurture_ui.sequences import SequenceRefused
from nurture_ui.tenancy import get_or_404
from nurture_ui.web.access import EDITORS, allow
from nurture_ui.web.settings import DAYS, Checkboxes

bp = Blueprint("sequence_window", __name__, url_prefix="/sequences")


class SendWindowForm(FlaskForm):
    whose = RadioField(
        "Send window",
        choices=[("tenant", "The window from Settings"), ("own", "This sequence's own window")],
        default="tenant",
    )
    send_days = Checkboxes("Days", choices=list(enumerate(DAYS)), coerce=int)
    send_start_hour = SelectField("From", choices=[(h, f"{h:02d}:00") for h in range(24)], coerce=int)
    send_end_hour = SelectField("Until", choices=[(h, f"{h:02d}:00") for h in range(1, 25)], coerce=int)
    send_zone = SelectField(
        "Time zone",
        choices=[("lead", "Each lead's own time zone"), ("tenant", "The company's time zone (Settings)")],
    )

    @classmethod
    def for_sequence(cls, sequence: Sequence, tenant_window: dict) -> SendWindowForm:
        """The form filled from the saved sequence (its own window, else the tenant's as a starting point)."""
        own = sequence.send_window
        window = own or tenant_window
        return cls(
            formdata=None,
            data={
                "whose": "own" if own else "tenant",
                "send_days": list(window.get("days", [])),
                "send_start_hour": window.get("start_hour", 9),
                "send_end_hour": window.get("end_hour", 17),
                "send_zone": (own or {}).get("zone", "lead"),
            },
        )

    def validate(self, extra_validators=None) -> bool:
        """Back to the tenant's window needs no days or hours: only the choice (and the CSRF token) count."""
        if self.whose.data == "tenant":
            return self.whose.validate(self) and self.csrf_token.validate(self)
        return super().validate(extra_validators)

    def value(self) -> dict | None:
        if self.whose.data != "own":
            return None
        return {
            "days": sorted(set(self.send_days.data or [])),
            "start_hour": self.send_start_hour.data,
            "end_hour": self.send_end_hour.data,
            "zone": self.send_zone.data,
        }


@bp.route("/<sequence_id>/send-window", methods=["POST"])
@allow(*EDITORS)
def save(sequence_id):
    from nurture_ui.web.sequences import SequenceDetailsForm, builder_context

    sequence = get_or_404(Sequence, sequence_id)
    form = SendWindowForm()
    if form.validate_on_submit():
        try:
            changed = update_send_window(sequence, form.value(), actor=current_user)
        except SequenceRefused as refused:
            db.session.rollback()
            form.whose.errors = list(refused.messages)
        else:
            flash("Saved the send window." if changed else "Nothing changed.", "success")
            return redirect(url_for("sequences.builder", sequence_id=sequence.id) + "#send-window")
    return render_template(
        "sequences/builder.html",
        form=SequenceDetailsForm.for_sequence(sequence),
        **builder_context(sequence, window_form=form, show_window=True),
    ), 422
