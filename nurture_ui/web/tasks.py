"""The task queue: open tasks and call reminders, overdue first; log how it went (or skip) in one click.

Completing or skipping goes through ``engine.transitions.complete_task``, which resumes the enrollment and
times its next step from that moment; the row then says where the lead went next.
"""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, abort, flash, make_response, redirect, render_template, request, url_for
from flask_login import current_user

from nurture_ui import clock, reasons
from nurture_ui.engine.transitions import TransitionRefused, complete_task
from nurture_ui.extensions import db
from nurture_ui.models import Enrollment, SequenceStep, Task
from nurture_ui.models.task import CALL_OUTCOMES
from nurture_ui.tenancy import get_or_404, parse_id
from nurture_ui.web.access import allow
from nurture_ui.web.local_time import lead_time, local_time, reader_zone
from nurture_ui.web.relative_time import due_group, due_words
from nurture_ui.work_queues import SEES_EVERYONE, QueueFilters, reps, task_contexts, task_count, tasks_query

bp = Blueprint("tasks", __name__, url_prefix="/tasks")

WORKERS = ("rep", "manager", "admin")
OUTCOME_LABELS = {
    "connected": "Connected",
    "voicemail": "Voicemail",
    "no_answer": "No answer",
    "wrong_number": "Wrong number",
    "done": "Done",
}
GROUPS = (("overdue", "Overdue"), ("today", "Due today"), ("upcoming", "Coming up"))
PAGE_SIZE = 200


def _filters() -> QueueFilters:
    if current_user.role in SEES_EVERYONE and request.values.get("assignee"):
        return QueueFilters(rep=parse_id(request.values["assignee"]))
    return QueueFilters()


def _grouped(filters: QueueFilters) -> tuple[list[Task], dict[str, list[Task]]]:
    """The open tasks on the page and the same tasks by due day in the reader's zone: "overdue" means due
    on a day that has ended for the person reading, not a due time a minute ago."""
    tasks = list(db.session.scalars(tasks_query(current_user, filters).limit(PAGE_SIZE)).unique())
    zone = reader_zone()
    groups: dict[str, list[Task]] = {key: [] for key, _ in GROUPS}
    for task in tasks:
        groups[due_group(task.due_at, zone)].append(task)
    return tasks, groups


@bp.route("/")
@allow(*WORKERS)
def index():
    filters = _filters()
    tasks, groups = _grouped(filters)
    zone = reader_zone()
    context = dict(
        groups=[(key, label, groups[key]) for key, label in GROUPS],
        any_tasks=bool(tasks),
        contexts=task_contexts(tasks),
        due_words=lambda t: due_words(t.due_at, zone),
        total=task_count(current_user, filters),
        filters=filters,
        outcomes=CALL_OUTCOMES,
        outcome_labels=OUTCOME_LABELS,
    )
    if request.htmx and request.headers.get("HX-Target") == "task-list":
        return render_template("tasks/_partials/list.html", **context)
    team = reps(current_user.tenant_id) if current_user.role in SEES_EVERYONE else []
    return render_template("tasks/index.html", team=team, **context)


@bp.route("/count")
@allow(*WORKERS)
def count():
    return render_template("tasks/_partials/nav_count.html")


def _task_or_404(task_id) -> Task:
    task = get_or_404(Task, task_id)
    if current_user.role not in SEES_EVERYONE and task.assignee_id != current_user.id:
        abort(404)
    return task


def _their_clock(instant, lead) -> str:
    theirs = lead_time(instant, lead)
    return f" ({theirs} for them)" if theirs else ""


def _what_next(task: Task) -> str:
    """Where the lead went after this task, in one sentence."""
    if task.enrollment_id is None:
        return ""
    enrollment = db.session.get(Enrollment, task.enrollment_id)
    name = task.lead.name
    if enrollment.status == "completed":
        return f"{name} has finished the sequence."
    if enrollment.status == "exited":
        return f"{name} left the sequence: {reasons.exit_reason(enrollment.exit_reason).lower()}."
    if enrollment.status == "active" and enrollment.next_step_on is not None:
        step = db.session.scalar(
            sa.select(SequenceStep).where(
                SequenceStep.sequence_id == enrollment.sequence_id,
                SequenceStep.step_order == enrollment.current_step_order,
            )
        )
        channel = reasons.channel(step.channel).lower() if step else "step"
        return (
            f"{name} moves on: step {enrollment.current_step_order} ({channel}) "
            f"is due {local_time(enrollment.next_step_on)}{_their_clock(enrollment.next_step_on, task.lead)}."
        )
    return ""


def _closed(task: Task, *, text: str, tone: str = "ok"):
    if not request.htmx:
        flash(text, "success" if tone == "ok" else "warning")
        rep = _filters().rep
        return redirect(url_for("tasks.index", **({"assignee": rep} if rep else {})))
    # Every count on the page comes back with the row, out of band, from the same queries as the page:
    # the heading, each group's header and the sidebar badge can never disagree.
    filters = _filters()
    _, groups = _grouped(filters)
    response = make_response(
        render_template(
            "tasks/_partials/closed.html",
            task=task,
            text=text,
            tone=tone,
            remaining=task_count(current_user, filters),
            group_counts={key: len(groups[key]) for key, _ in GROUPS},
        )
    )
    response.headers["HX-Trigger"] = "tasks-changed"
    return response


@bp.route("/<task_id>/complete", methods=["POST"])
@allow(*WORKERS)
def complete(task_id):
    task = _task_or_404(task_id)
    outcome = request.form.get("outcome", "")
    if task.kind != "call_reminder":
        outcome = "done"
    try:
        complete_task(task.id, user_id=current_user.id, now=clock.now(), outcome=outcome)
    except TransitionRefused as refused:
        return _closed(task, text=str(refused), tone="warn")
    db.session.expire_all()
    task = db.session.get(Task, task.id)
    label = OUTCOME_LABELS.get(outcome, outcome).lower()
    verb = f"Call logged: {label}." if task.kind == "call_reminder" else "Done."
    return _closed(task, text=f"{verb} {_what_next(task)}".strip())


@bp.route("/<task_id>/skip", methods=["POST"])
@allow(*WORKERS)
def skip(task_id):
    task = _task_or_404(task_id)
    try:
        complete_task(task.id, user_id=current_user.id, now=clock.now(), skipped=True)
    except TransitionRefused as refused:
        return _closed(task, text=str(refused), tone="warn")
    db.session.expire_all()
    task = db.session.get(Task, task.id)
    return _closed(task, text=f"Skipped. {_what_next(task)}".strip(), tone="muted")
