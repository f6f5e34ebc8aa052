"""A health check for load balancers and for `make run` to know the app is up."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, jsonify

from nurture_ui.extensions import db, get_redis
from nurture_ui.web.access import public

bp = Blueprint("health", __name__)


@bp.route("/healthz")
@public
def healthz():
    checks = {}
    try:
        db.session.execute(sa.text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # a health check reports, it does not raise
        checks["database"] = f"error: {exc.__class__.__name__}"
    try:
        get_redis().ping()
        checks["redis"] = "ok"
    except Exception as exc:
        checks["redis"] = f"error: {exc.__class__.__name__}"
    healthy = all(value == "ok" for value in checks.values())
    return jsonify(status="ok" if healthy else "degraded", checks=checks), 200 if healthy else 503
