"""Home: what needs the signed-in person's attention today."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, render_template
from flask_login import current_user

from nurture_ui.extensions import db
from nurture_ui.models import Enrollment, Lead, OutboundMessage, Sequence, Task
from nurture_ui.web.access import ALL_ROLES, allow

bp = Blueprint("dashboard", __name__)


@bp.route("/")
@allow(*ALL_ROLES)
def index():
    tenant_id = current_user.tenant_id

    def count(stmt) -> int:
        return db.session.scalar(stmt) or 0

    mine = current_user.role == "rep"
    drafts = sa.select(sa.func.count(OutboundMessage.id)).where(
        OutboundMessage.tenant_id == tenant_id, OutboundMessage.status == "pending_approval"
    )
    tasks = sa.select(sa.func.count(Task.id)).where(Task.tenant_id == tenant_id, Task.status == "open")
    if mine:
        drafts = drafts.join(Lead, Lead.id == OutboundMessage.lead_id).where(Lead.owner_id == current_user.id)
        tasks = tasks.where(Task.assignee_id == current_user.id)
    figures = {
        "leads": count(sa.select(sa.func.count(Lead.id)).where(Lead.tenant_id == tenant_id)),
        "active_sequences": count(
            sa.select(sa.func.count(Sequence.id)).where(
                Sequence.tenant_id == tenant_id, Sequence.status == "active"
            )
        ),
        "live_enrollments": count(
            sa.select(sa.func.count(Enrollment.id)).where(
                Enrollment.tenant_id == tenant_id, Enrollment.status.in_(("active", "paused"))
            )
        ),
        "pending_drafts": count(drafts),
        "open_tasks": count(tasks),
    }
    return render_template("dashboard/index.html", figures=figures, mine=mine)
