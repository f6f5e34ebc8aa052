"""The approval inbox: pending drafts, oldest first; approve, edit then approve, or reject, inline.

Every action answers an htmx request with the card's replacement (nothing when the draft is done, a notice
when it was refused) and triggers ``inbox-changed``, on which the sidebar count and the task count refresh.
Without htmx the same routes flash and redirect, so the page works without JavaScript.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, g, make_response, redirect, render_template, request, url_for
from flask_login import current_user

from nurture_ui import clock
from nurture_ui.engine.executor import ROUTINE_REVIEW_REASON
from nurture_ui.engine.review_undo import UndoRefused, undo_review, undo_window
from nurture_ui.engine.transitions import ReviewRefused, already_reviewed, approve_message, reject_message
from nurture_ui.extensions import db
from nurture_ui.models import OutboundMessage, Sequence
from nurture_ui.reasons import reschedule_reason
from nurture_ui.tenancy import get_or_404, parse_id, scoped
from nurture_ui.web import inbox_replies
from nurture_ui.web.access import allow
from nurture_ui.web.local_time import lead_time, local_time
from nurture_ui.web.relative_time import since
from nurture_ui.work_queues import (
    SEES_EVERYONE,
    QueueFilters,
    draft_count,
    drafts_by_ids,
    drafts_query,
    reply_to_sort_count,
    reps,
    step_counts,
    task_count,
)

bp = Blueprint("inbox", __name__, url_prefix="/inbox")
# The "Replies to sort" tab lives under /inbox/replies (endpoints inbox.replies.*).
bp.register_blueprint(inbox_replies.bp)
bp.add_app_template_filter(since, "since")
bp.add_app_template_global(ROUTINE_REVIEW_REASON, "routine_review_reason")

REVIEWERS = ("rep", "manager", "admin")
PAGE_SIZE = 25
MAX_BULK = 200


def filters_from(args) -> QueueFilters:
    if current_user.role not in SEES_EVERYONE:
        return QueueFilters(sequence=parse_id(args.get("sequence", "")) if args.get("sequence") else None)
    return QueueFilters(
        rep=parse_id(args.get("rep", "")) if args.get("rep") else None,
        sequence=parse_id(args.get("sequence", "")) if args.get("sequence") else None,
    )


def _list_context(filters: QueueFilters, limit: int = PAGE_SIZE) -> dict:
    drafts = list(db.session.scalars(drafts_query(current_user, filters).limit(limit)).unique())
    return dict(
        drafts=drafts,
        total=draft_count(current_user, filters),
        totals=step_counts({d.sequence_id for d in drafts}),
        filters=filters,
        limit=limit,
    )


@bp.route("/")
@allow(*REVIEWERS)
def index():
    filters = filters_from(request.args)
    limit = min(max(request.args.get("limit", PAGE_SIZE, type=int), PAGE_SIZE), 500)
    context = _list_context(filters, limit)
    if request.htmx and request.headers.get("HX-Target") == "inbox-list":
        return render_template("inbox/_partials/list.html", **context)
    sequences = db.session.scalars(scoped(Sequence).order_by(Sequence.name)).all()
    team = reps(current_user.tenant_id) if current_user.role in SEES_EVERYONE else []
    return render_template(
        "inbox/index.html",
        sequences=sequences,
        team=team,
        draft_total=draft_count(current_user),
        reply_total=reply_to_sort_count(current_user),
        **context,
    )


@bp.route("/count")
@allow(*REVIEWERS)
def count():
    """The sidebar badge, refreshed by htmx whenever a draft is handled (and now and then)."""
    return render_template("inbox/_partials/nav_count.html")


def _draft_or_404(message_id) -> OutboundMessage:
    """A draft the signed-in person may review: a rep only those of their own leads."""
    message = get_or_404(OutboundMessage, message_id)
    if current_user.role not in SEES_EVERYONE and message.lead.owner_id != current_user.id:
        abort(404)
    return message


def _card(message: OutboundMessage, mode: str = "view", **extra) -> str:
    totals = step_counts({message.sequence_id})
    template = "inbox/_partials/card.html" if request.htmx else "inbox/draft.html"
    return render_template(template, draft=message, mode=mode, totals=totals, **extra)


def _answer(body: str, *, status_text: str | None = None, status_tone: str = "ok", flash_category="success"):
    """The htmx answer to an action: the card's replacement, the status line and the refreshed counts."""
    if not request.htmx:
        if status_text:
            flash(status_text, flash_category)
        return redirect(url_for("inbox.index", **filters_from(request.form).as_args()))
    filters = filters_from(request.form)
    oob = render_template(
        "inbox/_partials/after_action.html",
        status_text=status_text,
        status_tone=status_tone,
        total=draft_count(current_user, filters),
        draft_total=draft_count(current_user),
    )
    response = make_response(body + oob)
    response.headers["HX-Trigger"] = "inbox-changed"
    return response


@bp.route("/<message_id>")
@allow(*REVIEWERS)
def card(message_id):
    return _pending_card(message_id)


@bp.route("/<message_id>/edit")
@allow(*REVIEWERS)
def edit(message_id):
    return _pending_card(message_id, "edit")


@bp.route("/<message_id>/reject")
@allow(*REVIEWERS)
def reject_form(message_id):
    return _pending_card(message_id, "reject")


def _pending_card(message_id, mode: str = "view") -> str:
    """The draft's card in ``mode``, or a notice saying who handled it when it is no longer pending."""
    message = _draft_or_404(message_id)
    if message.status != "pending_approval":
        return _card(message, "notice", notice=_gone_text(message))
    return _card(message, mode)


def _gone_text(message: OutboundMessage) -> str:
    return already_reviewed(message)


def _their_clock(instant, lead) -> str:
    theirs = lead_time(instant, lead)
    return f" ({theirs} for them)" if theirs else ""


def _approved_text(message: OutboundMessage, approval, undo_seconds: int) -> str:
    lead = message.lead.name
    edited = " with your edit" if approval.edited else ""
    if approval.held_until is not None:
        # The reason already ends in its own parenthesis ("… (frequency cap)"): a dash, not another pair.
        why = reschedule_reason(approval.hold_reason).removeprefix("moved: ")
        return (
            f"Approved{edited}: “{message.subject}” to {lead} goes out {local_time(approval.held_until)}"
            f"{_their_clock(approval.held_until, message.lead)} — {why}."
        )
    if undo_seconds:
        return f"Approved{edited}: “{message.subject}” goes to {lead} in {undo_seconds} seconds."
    return f"Approved{edited}: “{message.subject}” to {lead} is on its way."


def _result(message: OutboundMessage, text: str, *, tone: str = "ok", undo_seconds: int = 0):
    """The answer to a review: what it did, where the card was (with Undo while the window is open)."""
    if not request.htmx:
        return _answer("", status_text=text, flash_category="success" if tone == "ok" else "warning")
    body = render_template(
        "inbox/_partials/result.html", draft=message, text=text, tone=tone, undo_seconds=undo_seconds
    )
    return _answer(body, status_text=None)


@bp.route("/<message_id>/approve", methods=["POST"])
@allow(*REVIEWERS)
def approve(message_id):
    message = _draft_or_404(message_id)
    edits = {}
    if "subject" in request.form or "body" in request.form:
        edits = {"subject": request.form.get("subject", ""), "body": request.form.get("body", "")}
    window = undo_window()
    try:
        approval = approve_message(
            message.id,
            reviewer_id=current_user.id,
            now=clock.now(),
            despite_reply=request.form.get("despite_reply") == "1",
            hold_for=window,
            **edits,
        )
    except ReviewRefused as refused:
        return _refused(message, refused, edits)
    seconds = int(window.total_seconds())
    return _result(
        approval.message, _approved_text(approval.message, approval, seconds), undo_seconds=seconds
    )


def _refused(message: OutboundMessage, refused: ReviewRefused, edits: dict | None = None):
    db.session.expire_all()
    message = db.session.get(OutboundMessage, message.id)
    if refused.code == "invalid":
        # The edit form again, with what was typed and the reason.
        return _answer(_card(message, "edit", error=str(refused), typed=edits), status_text=None)
    if refused.code == "replied":
        if not request.htmx:
            # The draft's own page, its button now "Send anyway": the inbox a redirect leads to would offer
            # a plain "Approve" again, refused again, and the reviewer could never send it.
            return _card(message, "view", warning=str(refused))
        return _answer(
            _card(message, "view", warning=str(refused)),
            status_text=str(refused),
            status_tone="warn",
            flash_category="warning",
        )
    return _answer(
        _card(message, "notice", notice=str(refused)),
        status_text=str(refused),
        status_tone="warn",
        flash_category="warning",
    )


@bp.route("/<message_id>/reject", methods=["POST"])
@allow(*REVIEWERS)
def reject(message_id):
    message = _draft_or_404(message_id)
    action = request.form.get("action", "")
    try:
        rejection = reject_message(
            message.id,
            reviewer_id=current_user.id,
            now=clock.now(),
            action=action,
            note=request.form.get("note"),
        )
    except ReviewRefused as refused:
        if refused.code == "invalid":
            return _answer(_card(message, "reject", error=str(refused)), status_text=None)
        return _refused(message, refused)
    lead = rejection.message.lead.name
    if rejection.action == "exit":
        text = f"Rejected: {lead} leaves the sequence."
    elif rejection.enrollment_outcome == "completed":
        text = f"Rejected: that was the last step, so {lead} has finished the sequence."
    elif rejection.enrollment_outcome == "paused_for_triage":
        text = f"Rejected: step skipped; {lead}'s next step waits until their reply is sorted."
    else:
        text = f"Rejected: step skipped; {lead} moves on to the next step."
    return _result(rejection.message, text, tone="muted", undo_seconds=int(undo_window().total_seconds()))


@bp.route("/<message_id>/undo", methods=["POST"])
@allow(*REVIEWERS)
def undo(message_id):
    """Take back an approve or a reject within the undo window: the draft waits for review again."""
    message = _draft_or_404(message_id)
    try:
        undone = undo_review(message.id, actor_id=current_user.id, now=clock.now(), window=undo_window())
    except UndoRefused as refused:
        db.session.expire_all()
        message = db.session.get(OutboundMessage, message.id)
        return _result(message, str(refused), tone="warn")
    verb = "approval" if undone.undid == "approved" else "rejection"
    text = f"Undone: your {verb} is taken back; the draft waits for approval again."
    if not request.htmx:
        flash(text, "success")
        return redirect(url_for("inbox.index"))
    return _answer(_card(undone.message, "view", undone=text), status_text=None)


@bp.route("/approve", methods=["POST"])
@allow(*REVIEWERS)
def approve_selected():
    """Approve every selected draft, each on its own (one refusal does not stop the others)."""
    ids = [i for i in (parse_id(v) for v in request.form.getlist("message_ids")[:MAX_BULK]) if i]
    drafts = drafts_by_ids(current_user, ids)
    approved, refusals = 0, []
    for draft in drafts:
        try:
            approve_message(draft.id, reviewer_id=current_user.id, now=clock.now())
            approved += 1
        except ReviewRefused as refused:
            refusals.append(str(refused))
    if not ids:
        text, tone = "Select the drafts to approve first (x selects the one you are on).", "warn"
    else:
        text = f"Approved {approved} draft{'s' if approved != 1 else ''}."
        if refusals:
            text += " " + " ".join(refusals)
        tone = "warn" if refusals else "ok"
    if not request.htmx:
        flash(text, "success" if tone == "ok" else "warning")
        return redirect(url_for("inbox.index", **filters_from(request.form).as_args()))
    filters = filters_from(request.form)
    body = render_template("inbox/_partials/list.html", **_list_context(filters))
    response = make_response(
        body
        + render_template(
            "inbox/_partials/after_action.html",
            status_text=text,
            status_tone=tone,
            total=draft_count(current_user, filters),
            draft_total=draft_count(current_user),
        )
    )
    response.headers["HX-Trigger"] = "inbox-changed"
    return response


class _Counts:
    """The sidebar's counts, computed only when a page shows them, once per request."""

    @property
    def drafts(self) -> int:
        if "nav_draft_count" not in g:
            g.nav_draft_count = draft_count(current_user)
        return g.nav_draft_count

    @property
    def replies(self) -> int:
        if "nav_reply_count" not in g:
            g.nav_reply_count = reply_to_sort_count(current_user)
        return g.nav_reply_count

    @property
    def tasks(self) -> int:
        if "nav_task_count" not in g:
            g.nav_task_count = task_count(current_user)
        return g.nav_task_count


@bp.app_context_processor
def sidebar_counts():
    # The nav shows a count beside these entries; each partial refreshes itself on "inbox-changed".
    return {
        "queue_counts": _Counts(),
        "nav_counters": {
            "inbox.index": "inbox/_partials/nav_counts.html",
            "tasks.index": "tasks/_partials/nav_count.html",
        },
    }
