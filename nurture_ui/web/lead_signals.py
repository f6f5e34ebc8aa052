"""Signals logged by hand on a lead's page: a reply (classified, correctable) or a conversion.

Each does exactly what the same API event does: the view calls the same core function and commits.
"""

from __future__ import annotations

from flask import Blueprint, flash, redirect, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from nurture_ui import signals
from nurture_ui.extensions import db
from nurture_ui.models import REPLY_SENTIMENTS, Lead, LeadReply
from nurture_ui.tenancy import get_or_404
from nurture_ui.web.access import allow

bp = Blueprint("lead_signals", __name__, url_prefix="/leads")

# Who may log what a lead said or did: the people who talk to leads.
LOGGERS = ("admin", "rep", "manager")


class ReplyForm(FlaskForm):
    text = TextAreaField("Reply", validators=[DataRequired("Paste the reply's text."), Length(max=10_000)])
    subject = StringField("Subject", validators=[Optional(), Length(max=255)])


class SentimentForm(FlaskForm):
    sentiment = SelectField("Classification", choices=[(s, s.replace("_", " ")) for s in REPLY_SENTIMENTS])


class ConversionForm(FlaskForm):
    pass


def _back(lead: Lead):
    return redirect(url_for("leads.detail", lead_id=lead.id, _anchor="signals"))


def _effects(outcome: signals.Outcome) -> str:
    parts = []
    for label, enrollments in (
        ("Exited", outcome.exited),
        ("Paused", outcome.paused),
        ("Resumed", outcome.resumed),
    ):
        for e in enrollments:
            reason = (e.exit_reason or e.pause_reason or "").replace("_", " ")
            parts.append(f"{label} “{e.sequence.name}”" + (f" ({reason})" if reason else ""))
    return " ".join(p + "." for p in parts)


@bp.post("/<lead_id>/replies")
@allow(*LOGGERS)
def log_reply(lead_id):
    lead = get_or_404(Lead, lead_id)
    form = ReplyForm()
    if not form.validate():
        flash(" ".join(e for errors in form.errors.values() for e in errors), "error")
        return _back(lead)
    outcome = signals.record_reply(
        lead, form.text.data, subject=form.subject.data or "", actor_id=current_user.id
    )
    db.session.commit()
    sentiment = outcome.reply.sentiment.replace("_", " ")
    because = f" (“{outcome.classification.reason}”)" if outcome.classification.reason else ""
    flash(f"Reply logged and classified as {sentiment}{because}. {_effects(outcome)}".strip(), "success")
    return _back(lead)


@bp.post("/<lead_id>/replies/<reply_id>/classification")
@allow(*LOGGERS)
def correct_reply(lead_id, reply_id):
    lead = get_or_404(Lead, lead_id)
    reply = get_or_404(LeadReply, reply_id)
    form = SentimentForm()
    if reply.lead_id != lead.id or not form.validate():
        flash("Choose one of the classifications.", "error")
        return _back(lead)
    before = reply.sentiment
    outcome = signals.correct_reply(reply, form.sentiment.data, actor_id=current_user.id)
    db.session.commit()
    if before == reply.sentiment:
        flash("The classification is unchanged.", "info")
    else:
        flash(
            f"Reply reclassified as {reply.sentiment.replace('_', ' ')}. {_effects(outcome)}".strip(),
            "success",
        )
    return _back(lead)


@bp.post("/<lead_id>/conversion")
@allow(*LOGGERS)
def log_conversion(lead_id):
    lead = get_or_404(Lead, lead_id)
    if not ConversionForm().validate():
        flash("The form expired; try again.", "error")
        return _back(lead)
    outcome = signals.convert(lead, actor_id=current_user.id, source="lead page")
    db.session.commit()
    flash(f"Marked as converted. {_effects(outcome)}".strip(), "success")
    return _back(lead)
