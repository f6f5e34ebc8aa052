"""The public unsubscribe door: the link in every email, and the one-click POST of RFC 8058.

GET only shows a confirmation (mail scanners follow links; following one must not unsubscribe anybody).
POST unsubscribes, whether it comes from the confirmation form or straight from a mail client's
one-click button, which carries no CSRF token, hence the exemption: the signed token is the proof.
"""

from __future__ import annotations

from flask import Blueprint, abort, render_template

from nurture_ui import clock
from nurture_ui.engine.transitions import unsubscribe_lead
from nurture_ui.extensions import csrf, db
from nurture_ui.mailer import lead_id_from_token
from nurture_ui.models import Lead
from nurture_ui.web.access import public

bp = Blueprint("unsubscribe", __name__)


def _lead_for(token: str) -> Lead:
    lead_id = lead_id_from_token(token)
    lead = db.session.get(Lead, lead_id) if lead_id else None
    if lead is None:
        abort(404)
    return lead


@bp.get("/u/<token>")
@public
def confirm(token: str):
    lead = _lead_for(token)
    return render_template(
        "unsubscribe/confirm.html", token=token, email=lead.email, done=lead.unsubscribed_at is not None
    )


@bp.post("/u/<token>")
@public
@csrf.exempt
def unsubscribe(token: str):
    lead = _lead_for(token)
    unsubscribe_lead(lead.id, now=clock.now(), source="link")
    return render_template("unsubscribe/confirm.html", token=token, email=lead.email, done=True)
