"""The inbox's "Replies to sort" tab: replies the classifier was not sure about, oldest first, each sorted
by a person with one button (or one key): positive, not interested, opt-out, out of office, other.

A decision answers an htmx request with the card's replacement — what the decision did, in the card's own
place — plus the tab's and the sidebar's counts out of band. Without htmx it flashes and redirects. Reps
see and sort the replies of their own leads; managers and admins everyone's (nurture_ui.work_queues).
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, make_response, redirect, render_template, request, url_for
from flask_login import current_user

from nurture_ui import triage
from nurture_ui.classifier import own_words
from nurture_ui.extensions import db
from nurture_ui.models import LeadReply
from nurture_ui.tenancy import get_or_404
from nurture_ui.web.access import allow
from nurture_ui.work_queues import (
    SEES_EVERYONE,
    draft_count,
    replies_to_sort_query,
    reply_contexts,
    reply_to_sort_count,
)

bp = Blueprint("replies", __name__, url_prefix="/replies")

SORTERS = ("rep", "manager", "admin")
PAGE_SIZE = 25
# One key per decision, shown on its button and in the page's help line.
DECISION_KEYS = {"positive": "p", "negative": "n", "unsubscribe": "u", "out_of_office": "o", "neutral": "x"}


@bp.app_template_global()
def reply_words(reply: LeadReply) -> tuple[str, bool]:
    """The reply's own words, and whether the message holds more (quoted history, a signature)."""
    body = (reply.body_excerpt or "").strip()
    words = own_words(body)
    return (words or body), bool(words) and words != body


@bp.route("")
@allow(*SORTERS)
def index():
    limit = min(max(request.args.get("limit", PAGE_SIZE, type=int), PAGE_SIZE), 500)
    replies = list(db.session.scalars(replies_to_sort_query(current_user).limit(limit)).unique())
    context = dict(
        replies=replies,
        contexts=reply_contexts(replies),
        total=reply_to_sort_count(current_user),
        draft_total=draft_count(current_user),
        limit=limit,
        decisions=triage.DECISIONS,
        keys=DECISION_KEYS,
    )
    if request.htmx and request.headers.get("HX-Target") == "replies-list":
        return render_template("inbox/_partials/reply_list.html", **context)
    return render_template("inbox/replies.html", **context)


@bp.route("/count")
@allow(*SORTERS)
def count():
    """The sidebar badge of replies to sort, refreshed now and then (a decision refreshes it out of band)."""
    return render_template("inbox/_partials/nav_reply_count.html")


def _reply_or_404(reply_id) -> LeadReply:
    """A reply the signed-in person may sort: a rep only those of their own leads."""
    reply = get_or_404(LeadReply, reply_id)
    if current_user.role not in SEES_EVERYONE and reply.lead.owner_id != current_user.id:
        abort(404)
    return reply


@bp.route("/<reply_id>/decision", methods=["POST"])
@allow(*SORTERS)
def decide(reply_id):
    reply = _reply_or_404(reply_id)
    decision = request.form.get("decision", "")
    try:
        outcome = triage.decide_triage(reply, decision, actor_id=current_user.id)
    except triage.TriageRefused as refused:
        db.session.rollback()
        return _answer(reply, str(refused), tone="warn")
    db.session.commit()
    return _answer(reply, _decided_text(outcome), tone="ok")


def _decided_text(outcome) -> str:
    lead, reply = outcome.lead, outcome.reply
    sorted_as = triage.DECISIONS[reply.sentiment]
    effects = []
    if reply.sentiment == "unsubscribe":
        effects.append(f"{lead.name} is unsubscribed")
    for enrollment in outcome.exited:
        effects.append(f"left “{enrollment.sequence.name}”")
    for enrollment in outcome.paused:
        until = f" until {enrollment.resume_on:%b %-d}" if enrollment.resume_on else ""
        effects.append(f"“{enrollment.sequence.name}” paused{until}")
    for enrollment in outcome.resumed:
        effects.append(f"“{enrollment.sequence.name}” goes on")
    if not effects:
        effects.append("no sequence was waiting on it")
    return f"Sorted as {sorted_as.lower()}: " + "; ".join(effects) + "."


def _answer(reply: LeadReply, text: str, *, tone: str):
    if not request.htmx:
        flash(text, "success" if tone == "ok" else "warning")
        return redirect(url_for("inbox.replies.index"))
    body = render_template("inbox/_partials/reply_result.html", reply=reply, text=text, tone=tone)
    oob = render_template(
        "inbox/_partials/reply_counts_oob.html",
        total=reply_to_sort_count(current_user),
        draft_total=draft_count(current_user),
    )
    response = make_response(body + oob)
    # The draft count may change too: an exit cancels the lead's drafts.
    response.headers["HX-Trigger"] = "inbox-changed"
    return response
