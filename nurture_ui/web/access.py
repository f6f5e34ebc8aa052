"""Who may open which view, and the navigation that follows from it.

Every view declares its roles with ``@allow(...)`` (or ``@public``). A view that declares nothing is
refused to everyone: access fails closed, so a forgotten decorator is a 403, never a leak. The
navigation is derived from the same declarations, so a link shows exactly when its page would open.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flask import abort, current_app, request
from flask_login import current_user

from nurture_ui.extensions import login_manager
from nurture_ui.models import ROLES

ALL_ROLES = frozenset(ROLES)
EDITORS = frozenset({"admin", "marketer"})


def allow(*roles: str) -> Callable:
    unknown = set(roles) - ALL_ROLES
    if unknown:
        raise ValueError(f"unknown roles {sorted(unknown)}")

    def mark(view: Callable) -> Callable:
        view.allowed_roles = frozenset(roles)
        return view

    return mark


def public(view: Callable) -> Callable:
    view.is_public = True
    return view


def allowed_roles(endpoint: str) -> frozenset[str] | None:
    """The roles that may open ``endpoint``; None when it is public."""
    view = current_app.view_functions.get(endpoint)
    if view is None:
        return frozenset()
    if getattr(view, "is_public", False):
        return None
    return getattr(view, "allowed_roles", frozenset())


def enforce_access():
    """``before_request`` hook: sign-in and role check for every endpoint."""
    endpoint = request.endpoint
    if endpoint is None or endpoint == "static":
        return None
    roles = allowed_roles(endpoint)
    if roles is None:
        return None
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    if current_user.role not in roles:
        abort(403)
    return None


@dataclass(frozen=True)
class NavItem:
    label: str
    endpoint: str
    icon: str
    only_if: str | None = None  # a config flag that must be on (development pages)


# The order of the sidebar. Items whose page does not exist yet, or that the role may not open, are hidden.
NAVIGATION = (
    NavItem("Home", "dashboard.index", "home"),
    NavItem("Inbox", "inbox.index", "inbox"),
    NavItem("Tasks", "tasks.index", "check"),
    NavItem("Sequences", "sequences.index", "flow"),
    NavItem("Templates", "templates.index", "mail"),
    NavItem("Leads", "leads.index", "users"),
    NavItem("Overview", "overview.index", "chart"),
    NavItem("Team", "team.index", "team"),
    NavItem("Settings", "settings.index", "gear"),
    NavItem("Mailboxes", "mailboxes.index", "inbox"),
    NavItem("Sent mail", "sent_mail.index", "send"),
)


def can_open(endpoint: str) -> bool:
    """Whether the signed-in person may open ``endpoint`` (templates use it to show a link or not)."""
    if endpoint not in current_app.view_functions:
        return False
    roles = allowed_roles(endpoint)
    return roles is None or (current_user.is_authenticated and current_user.role in roles)


def navigation_for(role: str) -> list[NavItem]:
    items = []
    for item in NAVIGATION:
        if item.only_if and not current_app.config.get(item.only_if):
            continue
        roles = allowed_roles(item.endpoint)
        if (roles is None or role in roles) and item.endpoint in current_app.view_functions:
            items.append(item)
    return items
