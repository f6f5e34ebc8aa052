"""Managing the team: an admin changes a person's role, deactivates or reactivates them, resets their password,
and hands a departed person's leads and open tasks to someone else.

Each change commits one unit of work with an activity naming the admin (``actor_id``) and the person; none
ever records a password. Two rules hold on every path: an admin never deactivates or demotes themselves,
and a tenant always keeps at least one active admin. A deactivated person cannot sign in, and their open
sessions end at their next request (the app's ``user_loader`` returns nobody for them); a reset password
ends every session of the person too (``User.get_id`` carries a fingerprint of the password hash).
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass

import sqlalchemy as sa

from nurture_ui import activity, login_throttle
from nurture_ui.extensions import db
from nurture_ui.models import ROLES, Lead, OutboundMessage, Task, User

# The role "Add a person" starts at: the least one (a rep sees only their own leads' work).
LEAST_PRIVILEGED_ROLE = "rep"
# Roles that may own leads and hold tasks (marketers build sequences; they do not work leads).
LEAD_OWNER_ROLES = frozenset({"admin", "manager", "rep"})


class TeamChangeRefused(ValueError):
    """A readable reason why a change to the team was not made."""


def _active_admins(tenant_id: uuid.UUID) -> int:
    return (
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(User)
            .where(User.tenant_id == tenant_id, User.role == "admin", User.is_active_user.is_(True))
        )
        or 0
    )


def _refuse_losing_last_admin(person: User) -> None:
    if person.role == "admin" and person.is_active_user and _active_admins(person.tenant_id) <= 1:
        raise TeamChangeRefused(
            f"{person.name} is the team's only active admin: make someone else admin first."
        )


def _record(kind: str, person: User, admin: User, data: dict) -> None:
    activity.record(
        kind,
        tenant_id=person.tenant_id,
        actor_id=admin.id,
        data={"user_id": str(person.id), "user_name": person.name, "by": admin.name, **data},
    )


def change_role(person: User, role: str, *, admin: User) -> None:
    """Give ``person`` the ``role`` (committed, with a ``user_role_changed`` activity). Refuses an unknown
    role, the admin's own role, and demoting the tenant's last active admin; the same role is no change."""
    if role not in ROLES:
        raise TeamChangeRefused(f"Unknown role {role!r}: choose one of {', '.join(ROLES)}.")
    if role == person.role:
        return
    if person.id == admin.id:
        raise TeamChangeRefused("You cannot change your own role: ask another admin.")
    if role != "admin":
        _refuse_losing_last_admin(person)
    before = person.role
    person.role = role
    _record("user_role_changed", person, admin, {"from": before, "to": role})
    db.session.commit()


def deactivate(person: User, *, admin: User) -> None:
    """Stop ``person`` signing in (committed, with a ``user_deactivated`` activity); their open sessions end at
    their next request. Their leads and tasks stay theirs until reassigned (``reassign_work``). Refuses the
    admin themselves and the tenant's last active admin; an inactive person is no change."""
    if not person.is_active_user:
        return
    if person.id == admin.id:
        raise TeamChangeRefused("You cannot deactivate yourself: ask another admin.")
    _refuse_losing_last_admin(person)
    person.is_active_user = False
    _record("user_deactivated", person, admin, {})
    db.session.commit()


def reactivate(person: User, *, admin: User) -> None:
    """Let ``person`` sign in again (committed, with a ``user_reactivated`` activity)."""
    if person.is_active_user:
        return
    person.is_active_user = True
    _record("user_reactivated", person, admin, {})
    db.session.commit()


def temporary_password() -> str:
    """A random password a person can type from a screen: 16 characters of an unambiguous alphabet."""
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
    return "-".join("".join(secrets.choice(alphabet) for _ in range(4)) for _ in range(4))


def reset_password(person: User, *, admin: User) -> str:
    """Give ``person`` a new random password and return it (to be shown to the admin once, never stored in
    the clear or logged). Committed with a ``password_reset`` activity; ends every open session of the person
    and clears their sign-in lockout. Refuses the admin's own password (they sign in with theirs)."""
    if person.id == admin.id:
        raise TeamChangeRefused("Reset your own password by asking another admin.")
    password = temporary_password()
    person.set_password(password)
    _record("password_reset", person, admin, {})
    db.session.commit()
    login_throttle.clear_account(person.email)
    return password


@dataclass(frozen=True)
class Reassigned:
    leads: int
    tasks: int
    drafts: int  # pending drafts that moved with their leads (a draft is reviewed by its lead's owner)


def reassign_work(person: User, to: User, *, admin: User) -> Reassigned:
    """Hand every lead ``person`` owns and every open task assigned to them to ``to`` (committed, with one
    ``leads_reassigned`` activity). Pending drafts follow their leads: the inbox shows a draft to its lead's
    owner. Refuses a receiver of another tenant, an inactive one, a marketer, or the person themselves."""
    if to.tenant_id != person.tenant_id:
        raise TeamChangeRefused("Choose someone of your own team.")
    if to.id == person.id:
        raise TeamChangeRefused("Choose someone else to take the work.")
    if not to.is_active_user:
        raise TeamChangeRefused(f"{to.name} is deactivated: choose an active person.")
    if to.role not in LEAD_OWNER_ROLES:
        raise TeamChangeRefused(f"{to.name} is a {to.role}: leads go to a rep, a manager or an admin.")
    drafts = (
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(OutboundMessage)
            .join(Lead, Lead.id == OutboundMessage.lead_id)
            .where(
                Lead.tenant_id == person.tenant_id,
                Lead.owner_id == person.id,
                OutboundMessage.status == "pending_approval",
            )
        )
        or 0
    )
    leads = db.session.execute(
        sa.update(Lead)
        .where(Lead.tenant_id == person.tenant_id, Lead.owner_id == person.id)
        .values(owner_id=to.id)
        .execution_options(synchronize_session=False)
    ).rowcount
    tasks = db.session.execute(
        sa.update(Task)
        .where(Task.tenant_id == person.tenant_id, Task.assignee_id == person.id, Task.status == "open")
        .values(assignee_id=to.id)
        .execution_options(synchronize_session=False)
    ).rowcount
    _record(
        "leads_reassigned",
        person,
        admin,
        {"to_user_id": str(to.id), "to_user_name": to.name, "leads": leads, "tasks": tasks, "drafts": drafts},
    )
    db.session.commit()
    return Reassigned(leads=leads, tasks=tasks, drafts=drafts)


def work_by_person(tenant_id: uuid.UUID) -> dict[uuid.UUID, tuple[int, int]]:
    """{user id: (leads owned, open tasks)} of the tenant's people who hold any: what reassigning moves."""
    held: dict[uuid.UUID, list[int]] = {}
    leads = (
        sa.select(Lead.owner_id, sa.func.count())
        .where(Lead.tenant_id == tenant_id, Lead.owner_id.is_not(None))
        .group_by(Lead.owner_id)
    )
    for owner_id, count in db.session.execute(leads):
        held.setdefault(owner_id, [0, 0])[0] = count
    tasks = (
        sa.select(Task.assignee_id, sa.func.count())
        .where(Task.tenant_id == tenant_id, Task.status == "open", Task.assignee_id.is_not(None))
        .group_by(Task.assignee_id)
    )
    for assignee_id, count in db.session.execute(tasks):
        held.setdefault(assignee_id, [0, 0])[1] = count
    return {user_id: (n[0], n[1]) for user_id, n in held.items()}
