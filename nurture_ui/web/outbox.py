"""Outbox problems: the emails in doubt (``unknown``) or refused (``failed``), and what a person does about each.

Reached from the overview's engine-health figures. Every action is a POST that answers an htmx request with
the row's replacement (what happened, or why it was refused) and otherwise flashes and redirects, so the page
works without JavaScript. The rules live in ``nurture_ui.outbox``.
"""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user

from nurture_ui import clock, outbox
from nurture_ui.models import OutboundMessage
from nurture_ui.tenancy import get_or_404
from nurture_ui.web.access import allow

bp = Blueprint("outbox", __name__, url_prefix="/outbox")

# Those who watch the engine's health on the overview (reps and marketers do not see it).
SETTLERS = ("admin", "manager")


@bp.route("/problems")
@allow(*SETTLERS)
def problems():
    status = request.args.get("status", "")
    status = status if status in outbox.PROBLEM_STATUSES else ""
    rows = outbox.problems(current_user.tenant_id, status or None)
    return render_template(
        "outbox/problems.html", rows=rows, status=status, refusal_to_send=outbox.refusal_to_send
    )


def _done(message: OutboundMessage, text: str, *, tone: str = "ok"):
    if not request.htmx:
        flash(text, "success" if tone == "ok" else "warning")
        return redirect(url_for("outbox.problems", status=request.form.get("status", "")))
    return render_template("outbox/_partials/settled.html", message=message, text=text, tone=tone)


def _act(message_id, action, success: str):
    message = get_or_404(OutboundMessage, message_id)
    lead = message.lead.name
    try:
        action(message)
    except outbox.OutboxActionRefused as refused:
        return _done(message, f"Not done: {refused}", tone="warn")
    return _done(message, success.format(lead=lead, subject=message.subject))


@bp.route("/<message_id>/mark-delivered", methods=["POST"])
@allow(*SETTLERS)
def mark_delivered(message_id):
    return _act(
        message_id,
        lambda m: outbox.mark_delivered(m, actor_id=current_user.id, now=clock.now()),
        "Marked as delivered: “{subject}” to {lead}.",
    )


@bp.route("/<message_id>/send-again", methods=["POST"])
@allow(*SETTLERS)
def send_again(message_id):
    confirmed = request.form.get("confirm") == "yes"
    return _act(
        message_id,
        lambda m: outbox.send_again(m, actor_id=current_user.id, now=clock.now(), confirmed=confirmed),
        "Sending again: “{subject}” to {lead} is queued.",
    )


@bp.route("/<message_id>/retry", methods=["POST"])
@allow(*SETTLERS)
def retry(message_id):
    return _act(
        message_id,
        lambda m: outbox.retry(m, actor_id=current_user.id, now=clock.now()),
        "Retrying: “{subject}” to {lead} is queued.",
    )


@bp.route("/<message_id>/dismiss", methods=["POST"])
@allow(*SETTLERS)
def dismiss(message_id):
    return _act(
        message_id,
        lambda m: outbox.dismiss(m, actor_id=current_user.id, now=clock.now()),
        "Dismissed: “{subject}” to {lead} will not be sent.",
    )
