"""Tenants and user accounts."""

from __future__ import annotations

import re

import sqlalchemy as sa

from nurture_ui import activity
from nurture_ui.extensions import db
from nurture_ui.models import ROLES, Tenant, User
from nurture_ui.time_zones import parse_zone


class AccountError(ValueError):
    """A readable reason why an account could not be created."""


def create_tenant(name: str, slug: str | None = None, policy: dict | None = None) -> Tenant:
    """Create a tenant (committed). The slug defaults to the name, lower-cased and dashed."""
    slug = slug or re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "tenant"
    if db.session.scalar(sa.select(Tenant.id).where(Tenant.slug == slug)):
        raise AccountError(f"A tenant called {slug!r} already exists.")
    tenant = Tenant(name=name, slug=slug, policy=policy or {})
    db.session.add(tenant)
    db.session.commit()
    return tenant


def create_user(
    *, tenant: Tenant, email: str, name: str, role: str, password: str, added_by: User | None = None
) -> User:
    """Create a user in ``tenant`` (committed; with a ``user_added`` activity naming ``added_by`` when an
    admin adds them). Refuses an unknown role or an email already taken."""
    email = email.strip().lower()
    if role not in ROLES:
        raise AccountError(f"Unknown role {role!r}: choose one of {', '.join(ROLES)}.")
    if len(password) < 10:
        raise AccountError("A password needs at least 10 characters.")
    if db.session.scalar(sa.select(User.id).where(sa.func.lower(User.email) == email)):
        raise AccountError(f"An account for {email} already exists.")
    user = User(tenant_id=tenant.id, email=email, name=name.strip(), role=role)
    user.set_password(password)
    db.session.add(user)
    if added_by is not None:
        db.session.flush()  # the new id, for the activity
        activity.record(
            "user_added",
            tenant_id=tenant.id,
            actor_id=added_by.id,
            data={"user_id": str(user.id), "user_name": user.name, "role": role, "by": added_by.name},
        )
    db.session.commit()
    return user


def set_time_zone(user: User, name: str | None) -> User:
    """Set the zone ``user`` reads times in (committed). An empty name or None clears it: the person then
    follows the tenant's time zone. Raises ``time_zones.UnknownZone`` (a ``ValueError`` with a readable
    message) for anything that is not a zone, and changes nothing then."""
    name = (name or "").strip()
    user.timezone = parse_zone(name).key if name else None
    db.session.commit()
    return user
