"""Tying a message that reached us to the lead (and our email) it is about, within one tenant.

Replies: ``In-Reply-To``, then ``References`` (last to first) against our Message-IDs, then a reply token
in any recipient address, then the sender's address. Bounces: the original Message-ID quoted in the
report, then a reply token, then the failed recipient. Every way is limited to the tenant's own rows.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa

from nurture_ui.extensions import db
from nurture_ui.mail.reply_tokens import message_row_id_from_address
from nurture_ui.models import Lead, OutboundMessage

MATCHED_BY = ("in_reply_to", "references", "reply_token", "sender", "original_message_id", "final_recipient")


@dataclass(frozen=True)
class Match:
    """What a message was tied to. ``lead`` None: unmatched (``reason`` says why)."""

    lead: Lead | None = None
    message: OutboundMessage | None = None
    matched_by: str | None = None
    reason: str = ""


def our_message(tenant_id: uuid.UUID, message_id: str) -> OutboundMessage | None:
    """Our email with this Message-ID in this tenant (stored with or without its angle brackets)."""
    bare = (message_id or "").strip().strip("<>")
    if not bare:
        return None
    return db.session.scalar(
        sa.select(OutboundMessage).where(
            OutboundMessage.tenant_id == tenant_id, OutboundMessage.message_id.in_((f"<{bare}>", bare))
        )
    )


def message_named_by_token(tenant_id: uuid.UUID, addresses: Iterable[str]) -> OutboundMessage | None:
    """Our email whose reply token one of ``addresses`` carries (a valid token of this tenant's)."""
    for address in addresses:
        row_id = message_row_id_from_address(address)
        if row_id is None:
            continue
        message = db.session.get(OutboundMessage, row_id)
        if message is not None and message.tenant_id == tenant_id:
            return message
    return None


def lead_by_address(tenant_id: uuid.UUID, address: str) -> tuple[Lead | None, str]:
    """The one lead of this tenant with this email (any case), and why there is none when there is not."""
    address = (address or "").strip().lower()
    if not address:
        return None, "no address to match"
    leads = list(
        db.session.scalars(
            sa.select(Lead).where(Lead.tenant_id == tenant_id, sa.func.lower(Lead.email) == address).limit(2)
        )
    )
    if len(leads) > 1:
        return None, f"several leads have the address {address}"
    if not leads:
        return None, f"no lead has the address {address}"
    return leads[0], ""


def match_reply(
    tenant_id: uuid.UUID,
    *,
    in_reply_to: list[str],
    references: list[str],
    recipients: Iterable[str],
    sender: str,
) -> Match:
    """The lead and our email a reply (or an auto-reply) answers, in the order the design fixes."""
    for message_id in in_reply_to:
        if message := our_message(tenant_id, message_id):
            return Match(message.lead, message, "in_reply_to")
    for message_id in reversed(references):
        if message := our_message(tenant_id, message_id):
            return Match(message.lead, message, "references")
    if message := message_named_by_token(tenant_id, recipients):
        return Match(message.lead, message, "reply_token")
    lead, reason = lead_by_address(tenant_id, sender)
    if lead is not None:
        return Match(lead, None, "sender")
    return Match(reason=f"no email of ours in the headers, no reply token, and {reason}")


def match_bounce(
    tenant_id: uuid.UUID,
    *,
    original_message_ids: list[str],
    token_addresses: Iterable[str],
    failed_recipients: list[str],
) -> Match:
    """The lead and our email a delivery failure report is about."""
    for message_id in original_message_ids:
        if message := our_message(tenant_id, message_id):
            return Match(message.lead, message, "original_message_id")
    if message := message_named_by_token(tenant_id, token_addresses):
        return Match(message.lead, message, "reply_token")
    reasons = []
    for address in failed_recipients:
        lead, reason = lead_by_address(tenant_id, address)
        if lead is not None:
            return Match(lead, None, "final_recipient")
        reasons.append(reason)
    why = "; ".join(reasons) or "the report names no failed recipient"
    return Match(reason=f"the original email is not one of ours, no reply token, and {why}")
