"""Tenant scoping: every query a view makes for tenant data goes through here.

A user of tenant A asking for an id that belongs to tenant B gets the same 404 as for an id that
does not exist, so ids leak nothing.
"""

from __future__ import annotations

import uuid
from typing import TypeVar

import sqlalchemy as sa
from flask import abort
from flask_login import current_user

from nurture_ui.extensions import db

M = TypeVar("M")


def current_tenant_id() -> uuid.UUID:
    if not current_user.is_authenticated:
        abort(401)
    return current_user.tenant_id


def scoped(model: type[M], *columns) -> sa.Select:
    """``SELECT model`` (or the given columns) restricted to the signed-in user's tenant."""
    stmt = sa.select(*columns) if columns else sa.select(model)
    return stmt.where(model.tenant_id == current_tenant_id())


def parse_id(value: str | uuid.UUID) -> uuid.UUID | None:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def get_or_404(model: type[M], object_id: str | uuid.UUID) -> M:
    """The row of ``model`` with this id in the user's tenant, or abort with 404."""
    parsed = parse_id(object_id)
    if parsed is None:
        abort(404)
    row = db.session.scalar(scoped(model).where(model.id == parsed))
    if row is None:
        abort(404)
    return row
