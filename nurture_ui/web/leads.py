"""The leads list (filters, search, pages) and a lead's page."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField, SelectField
from wtforms.validators import InputRequired, NumberRange

from nurture_ui.eligibility import REASON_LABELS
from nurture_ui.enrollment import active_sequences, checkable_sequences
from nurture_ui.extensions import db
from nurture_ui.leads import LeadFilters, eligibility_scope, lead_query, segments, team, update_lead
from nurture_ui.models import LEAD_STATUSES, SCORE_BANDS, Activity, Enrollment, Lead
from nurture_ui.signals import lead_replies
from nurture_ui.tenancy import current_tenant_id, get_or_404
from nurture_ui.web.access import ALL_ROLES, allow

bp = Blueprint("leads", __name__, url_prefix="/leads")


class LeadForm(FlaskForm):
    status = SelectField("Status", choices=[(s, s.title()) for s in LEAD_STATUSES])
    score = IntegerField(
        "Score",
        validators=[
            InputRequired("Enter a score."),
            NumberRange(0, 100, "A score is a whole number from 0 to 100."),
        ],
    )
    score_band = SelectField("Score band", choices=[(b, b.title()) for b in SCORE_BANDS])
    owner_id = SelectField("Owner", coerce=str)
    do_not_contact = BooleanField("Do not contact")


def _owner_choices(users) -> list[tuple[str, str]]:
    return [("", "Unassigned")] + [(str(u.id), u.name) for u in users]


def filters_from(args) -> LeadFilters:
    """Lead filters from query arguments or a form, with unknown values dropped."""
    return LeadFilters(
        q=args.get("q", "").strip()[:200],
        status=args.get("status", "") if args.get("status", "") in LEAD_STATUSES else "",
        score_band=args.get("score_band", "") if args.get("score_band", "") in SCORE_BANDS else "",
        segment=args.get("segment", "").strip()[:120],
        owner=args.get("owner", "").strip()[:64],
        eligibility=args.get("eligibility", "").strip()[:80],
    )


@bp.route("/")
@allow(*ALL_ROLES)
def index():
    tenant_id = current_tenant_id()
    filters = filters_from(request.args)
    page = request.args.get("page", 1, type=int)
    pagination = db.paginate(
        lead_query(tenant_id, filters),
        page=min(max(page, 1), 1_000_000),  # a huge page number overflows the database's OFFSET
        per_page=current_app.config["LEADS_PER_PAGE"],
        error_out=False,
    )
    context = dict(
        sequences=active_sequences(tenant_id),
        pagination=pagination,
        filters=filters,
        statuses=LEAD_STATUSES,
        bands=SCORE_BANDS,
        segments=segments(tenant_id),
        users=team(tenant_id),
        eligibility_scope=eligibility_scope(tenant_id, filters.eligibility) if filters.eligibility else None,
        reason_labels=REASON_LABELS,
    )
    # htmx filter and page changes swap only the results; the full page includes the same partial.
    if request.htmx and request.headers.get("HX-Target") == "lead-results":
        return render_template("leads/_partials/results.html", **context)
    return render_template("leads/index.html", **context)


def lead_enrollments(lead_id) -> list[Enrollment]:
    """The lead's enrollments, newest first, as its page lists them."""
    return list(
        db.session.scalars(
            sa.select(Enrollment).where(Enrollment.lead_id == lead_id).order_by(Enrollment.enrolled_on.desc())
        )
    )


@bp.route("/<lead_id>", methods=["GET", "POST"])
@allow(*ALL_ROLES)
def detail(lead_id):
    lead = get_or_404(Lead, lead_id)
    users = team(lead.tenant_id)
    form = LeadForm(obj=lead if request.method == "GET" else None)
    form.owner_id.choices = _owner_choices(users)
    if request.method == "GET":
        form.owner_id.data = str(lead.owner_id) if lead.owner_id else ""
    if request.method == "POST" and form.validate_on_submit():
        owner = next((u for u in users if str(u.id) == form.owner_id.data), None)
        changed = update_lead(
            lead,
            {
                "status": form.status.data,
                "score": form.score.data,
                "score_band": form.score_band.data,
                "owner_id": owner.id if owner else None,
                "do_not_contact": form.do_not_contact.data,
            },
            actor=current_user,
        )
        flash("Lead saved." if changed else "Nothing changed.", "success" if changed else "info")
        return redirect(url_for("leads.detail", lead_id=lead.id))
    enrollments = lead_enrollments(lead.id)
    activities = db.session.scalars(
        sa.select(Activity).where(Activity.lead_id == lead.id).order_by(Activity.occurred_at.desc()).limit(20)
    ).all()
    status = 422 if form.errors else 200
    return (
        render_template(
            "leads/detail.html",
            lead=lead,
            form=form,
            enrollments=enrollments,
            activities=activities,
            sequences=checkable_sequences(lead.tenant_id),
            replies=lead_replies(lead.id),
        ),
        status,
    )
