"""The platform admin's engine page: every tenant's queue, and a retry of every failed job.

Tenant admins reach it only by typing its address, and then it does not exist for them (404): the page
says nothing about other tenants, not even that there is something to refuse.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user

from nurture_ui import clock, platform
from nurture_ui.web.access import allow
from nurture_ui.web.overview import STALE_DISPATCH, ago

bp = Blueprint("platform", __name__, url_prefix="/platform")


def _platform_admins_only() -> None:
    if not platform.is_platform_admin(current_user):
        abort(404)


@bp.route("/engine")
@allow("admin")
def engine():
    _platform_admins_only()
    now = clock.now()
    view = platform.platform_engine()
    beat = view.health.last_dispatch
    return render_template(
        "platform/engine.html",
        health=view.health,
        rows=view.rows,
        dispatch_stale=view.health.reachable and (beat is None or now - beat.at > STALE_DISPATCH),
        ago=lambda at: ago(at, now),
    )


@bp.route("/engine/retry-failed-jobs", methods=["POST"])
@allow("admin")
def retry_failed_jobs():
    _platform_admins_only()
    retried = platform.retry_every_failed_job()
    flash(
        f"{retried} failed job{'s' if retried != 1 else ''} of all tenants put back on the queue.", "success"
    )
    return redirect(url_for("platform.engine"))
