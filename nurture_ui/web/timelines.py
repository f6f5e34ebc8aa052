"""A lead's timeline: its enrollments, emails, replies and tasks on one time axis."""

from __future__ import annotations

from flask import Blueprint, render_template

from nurture_ui import clock
from nurture_ui.charts import lanes_chart
from nurture_ui.lead_timeline import lead_timeline
from nurture_ui.models import Lead
from nurture_ui.tenancy import get_or_404
from nurture_ui.web.access import ALL_ROLES, allow
from nurture_ui.web.local_time import reader_zone

bp = Blueprint("timelines", __name__)


@bp.route("/leads/<lead_id>/timeline")
@allow(*ALL_ROLES)
def lead(lead_id):
    zone = reader_zone()
    timeline = lead_timeline(get_or_404(Lead, lead_id), clock.now(), zone=zone)
    chart = lanes_chart(
        timeline.lanes,
        start=timeline.start,
        end=timeline.end,
        title=f"History of {timeline.lead.name}",
        zone=zone,
    )
    return render_template("timelines/lead.html", timeline=timeline, lead=timeline.lead, chart=chart)
