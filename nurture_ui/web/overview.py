"""The manager's overview: every sequence's figures, work waiting on each rep, and the engine's health."""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from nurture_ui import clock, overview, platform
from nurture_ui.charts import Bar, bar_chart
from nurture_ui.reports import DEFAULT_DAYS, DateRange
from nurture_ui.web.access import allow

bp = Blueprint("overview", __name__, url_prefix="/overview")

# The dispatcher ticks every few seconds; this long without a tick means the scheduler is not running.
STALE_DISPATCH = timedelta(minutes=5)


def link_if(endpoint: str, **values) -> str | None:
    """The URL of ``endpoint`` when the app has it (the inbox and task queue are other areas' pages)."""
    if endpoint not in current_app.view_functions:
        return None
    return url_for(endpoint, **values)


@bp.route("/")
@allow("admin", "manager")
def index():
    now = clock.now()
    tenant_id = current_user.tenant_id
    span = DateRange.parse(request.args.get("from"), request.args.get("to"), now=now)
    counts, problems = overview.message_problems(tenant_id)
    sequences = overview.sequence_rows(tenant_id, span, now)
    health = overview.engine_health(tenant_id)
    beat = health.last_dispatch
    stale = health.reachable and (beat is None or now - beat.at > STALE_DISPATCH)
    if not health.reachable:
        summary = "Queue down"
    elif stale:
        summary = "Not dispatching"
    elif health.failed_jobs:
        summary = f"{health.failed_jobs} failed job{'s' if health.failed_jobs != 1 else ''}"
    else:
        summary = "Running"
    bars = [
        Bar(
            row.sequence.name,
            row.headline.enrolled,
            tone="muted" if row.sequence.status == "archived" else "accent",
            note=" · ".join(
                f"{value}% {what}"
                for what, value in (
                    ("replied", row.headline.rate(row.headline.replied)),
                    ("converted", row.headline.rate(row.headline.converted)),
                )
                if value is not None
            ),
        )
        for row in sequences
    ]
    return render_template(
        "overview/index.html",
        now=now,
        span=span,
        span_words=f"in the last {DEFAULT_DAYS} days",
        sequences=sequences,
        sequence_chart=bar_chart(bars, title="Leads enrolled per sequence, with reply and conversion rates"),
        backlog=overview.approval_backlog(tenant_id),
        overdue=overview.overdue_tasks(tenant_id, now),
        health=health,
        platform_view=platform.is_platform_admin(current_user),
        dispatch_stale=stale,
        engine_summary=summary,
        problem_counts=counts,
        problems=problems,
        link_if=link_if,
        ago=lambda at: ago(at, now),
    )


def ago(at: datetime, now: datetime) -> str:
    """``3 min ago``, ``5 h ago``, ``2 days ago``; ``in 3 h`` for a time still ahead."""
    seconds = (now - at).total_seconds()
    future, seconds = seconds < 0, abs(seconds)
    if seconds < 60:
        words = "just now" if not future else "in under a minute"
        return words
    if seconds < 3600:
        amount = f"{int(seconds // 60)} min"
    elif seconds < 2 * 86400:
        amount = f"{int(seconds // 3600)} h"
    else:
        amount = f"{int(seconds // 86400)} days"
    return f"in {amount}" if future else f"{amount} ago"


@bp.route("/retry-failed-jobs", methods=["POST"])
@allow("admin")
def retry_failed_jobs():
    retried = overview.retry_failed_jobs(current_user.tenant_id)
    flash(f"{retried} failed job{'s' if retried != 1 else ''} put back on the queue.", "success")
    return redirect(url_for("overview.index"))
