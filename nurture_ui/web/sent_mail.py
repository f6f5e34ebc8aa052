"""Sent mail: the tenant's outgoing emails (a rep: their own leads'), searchable and paged, and each one as
the lead saw it. The page answers htmx filter and paging requests with its results partial. The queries
live in ``nurture_ui.sent_mail``."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, abort, current_app, render_template, request
from flask_login import current_user

from nurture_ui import sent_mail
from nurture_ui.extensions import db
from nurture_ui.models import OutboundMessage, Sequence
from nurture_ui.tenancy import get_or_404, parse_id
from nurture_ui.web.access import ALL_ROLES, allow

bp = Blueprint("sent_mail", __name__, url_prefix="/sent")


def filters_from(args) -> sent_mail.SentMailFilters:
    status = args.get("status", "sent")
    sequence = args.get("sequence", "")
    return sent_mail.SentMailFilters(
        q=args.get("q", "")[:200],
        status=status if status in sent_mail.SENT_MAIL_STATUSES else "sent",
        sequence=parse_id(sequence) if sequence else None,
    )


@bp.get("/")
@allow(*ALL_ROLES)
def index():
    filters = filters_from(request.args)
    page = sent_mail.sent_mail_page(current_user, filters, request.args.get("before", ""))
    context = dict(
        page=page,
        filters=filters,
        first_page=not request.args.get("before"),
        statuses=sent_mail.SENT_MAIL_STATUSES,
        max_searched=sent_mail.MAX_SEARCHED_LEADS,
    )
    if request.htmx:
        return render_template("sent_mail/_partials/results.html", **context)
    sequences = db.session.scalars(
        sa.select(Sequence).where(Sequence.tenant_id == current_user.tenant_id).order_by(Sequence.name)
    ).all()
    return render_template(
        "sent_mail/index.html",
        sequences=sequences,
        devmail=current_app.config.get("DEVMAIL_ENABLED"),
        **context,
    )


@bp.get("/<message_id>")
@allow(*ALL_ROLES)
def show(message_id):
    message = get_or_404(OutboundMessage, message_id)
    if not sent_mail.may_read(current_user, message):
        abort(404)  # a rep reads their own leads' mail; another's is not there for them
    return render_template(
        "sent_mail/show.html",
        message=message,
        email=sent_mail.email_as_sent(message),
        list_args={k: v for k, v in request.args.items() if k in ("q", "status", "sequence", "before")},
    )
