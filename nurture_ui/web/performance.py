"""How a sequence performs: charts of its cohort's funnel, exits, steps and enrollments, and their CSVs."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

from flask import Blueprint, Response, abort, render_template, request

from nurture_ui import clock, reasons
from nurture_ui.charts import Bar, bar_chart, column_chart
from nurture_ui.models import Sequence
from nurture_ui.reports import CHARTS, DateRange, csv_rows, sequence_performance
from nurture_ui.tenancy import get_or_404
from nurture_ui.web.access import allow

bp = Blueprint("performance", __name__)

READERS = ("admin", "marketer", "manager")


def _performance(sequence_id):
    sequence = get_or_404(Sequence, sequence_id)
    now = clock.now()
    span = DateRange.parse(request.args.get("from"), request.args.get("to"), now=now)
    return sequence_performance(sequence, span, now)


def _charts(p) -> dict:
    enrolled = p.headline.enrolled

    def share(n: int) -> str:
        return f"{round(100 * n / enrolled)}%" if enrolled else ""

    funnel = [
        Bar(label, n, tone="ok" if label == "Converted" else ("accent" if i else "muted"), note=share(n))
        for i, (label, n) in enumerate(p.funnel)
    ]
    exits = [Bar(reasons.exit_reason(reason), n, tone="bad", note=share(n)) for reason, n in p.exits]
    steps = []
    for f in p.steps:
        label = f"Step {f.step.step_order}"
        steps.append(
            Bar(f"{label} ran", f.executed, tone="accent", note=reasons.channel(f.step.channel).lower())
        )
        if f.skipped:
            steps.append(Bar(f"{label} skipped", f.skipped, tone="muted"))
        if f.replies_after:
            steps.append(Bar(f"{label} → replies", f.replies_after, tone="ok"))
    fmt = {"day": "%b %-d", "week": "%b %-d", "month": "%b %Y"}[p.bucket]
    # Sized for a half-width card, so the text reads at its natural size.
    size = {"width": 540, "label_width": 170}
    return {
        "funnel": bar_chart(funnel, title="Funnel: enrolled, reached each step, replied, converted", **size),
        "exits": bar_chart(exits, title="Why leads left early", **size),
        "steps": bar_chart(steps, title="Per step: ran, skipped, replies after", **size),
        "over_time": column_chart(
            [(d.strftime(fmt), n) for d, n in p.over_time], title=f"Enrollments per {p.bucket}", width=540
        ),
    }


def duration(seconds: float | None) -> str:
    """A wait in the unit a person would say it in: minutes, hours or days."""
    if seconds is None:
        return "—"
    if seconds < 3600:
        return f"{max(1, round(seconds / 60))} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def _quick_ranges(now) -> list[tuple[str, dict]]:
    today = now.date()
    ranges = [
        (label, DateRange.parse((today - timedelta(days=days - 1)).isoformat(), today.isoformat(), now=now))
        for label, days in (("Last 30 days", 30), ("Last 90 days", 90), ("Last year", 365))
    ]
    return [(label, span.args()) for label, span in ranges] + [
        ("All time", DateRange.parse("all", None, now=now).args())
    ]


@bp.route("/sequences/<sequence_id>/performance")
@allow(*READERS)
def show(sequence_id):
    p = _performance(sequence_id)
    return render_template(
        "performance/show.html",
        p=p,
        charts=_charts(p),
        reasons=reasons,
        duration=duration,
        quick=_quick_ranges(clock.now()),
    )


@bp.route("/sequences/<sequence_id>/performance.csv")
@allow(*READERS)
def export(sequence_id):
    chart = request.args.get("chart", "funnel")
    if chart not in CHARTS:
        abort(404)
    p = _performance(sequence_id)
    out = io.StringIO()
    csv.writer(out).writerows(csv_rows(p, chart))
    name = f"{p.sequence.name}-{chart}-{p.span.args()['from']}-{p.span.args()['to']}"
    safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in name).strip("-")[:120]
    return Response(
        out.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{safe}.csv"'},
    )
