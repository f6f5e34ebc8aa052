"""Enrolling leads by hand (one, or many as a background job), the "why (not)?" panel, and
pausing, resuming and unenrolling an enrollment."""

from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from nurture_ui import clock, lifecycle
from nurture_ui.bulk import MAX_SELECTED, bulk_job_status, skipped_csv, start_bulk_enrollment
from nurture_ui.enrollment import EnrollmentRefused, checkable_sequences, eligibility, enroll
from nurture_ui.extensions import db
from nurture_ui.models import Enrollment, Lead, Sequence
from nurture_ui.tenancy import get_or_404, parse_id
from nurture_ui.timeline import enrollment_timeline
from nurture_ui.web.access import ALL_ROLES, allow
from nurture_ui.web.leads import filters_from, lead_enrollments
from nurture_ui.web.local_time import reader_zone

bp = Blueprint("enrollments", __name__)


def _chosen_sequence() -> Sequence | None:
    sequence_id = request.values.get("sequence_id", "")
    return get_or_404(Sequence, sequence_id) if sequence_id else None


@bp.route("/leads/<lead_id>/enroll", methods=["GET"])
@allow(*ALL_ROLES)
def verdict(lead_id):
    """The "why (not)?" panel: every check for this lead and any of the tenant's sequences, whatever its
    status (a draft or paused one fails "the sequence is active", so it only explains)."""
    lead = get_or_404(Lead, lead_id)
    sequence = _chosen_sequence()
    context = dict(
        lead=lead,
        sequence=sequence,
        sequences=checkable_sequences(current_user.tenant_id),
        verdict=eligibility(lead, sequence) if sequence else None,
    )
    if request.htmx:
        return render_template("enrollments/_partials/verdict.html", **context)
    return render_template("enrollments/why.html", **context)


@bp.route("/leads/<lead_id>/enroll", methods=["POST"])
@allow(*ALL_ROLES)
def enroll_lead(lead_id):
    lead = get_or_404(Lead, lead_id)
    sequence = _chosen_sequence()
    if sequence is None:
        flash("Choose a sequence first.", "error")
        return redirect(url_for("leads.detail", lead_id=lead.id))
    override = request.form.get("override") == "yes"
    try:
        enrollment = enroll(lead, sequence, actor_id=current_user.id, override=override)
    except EnrollmentRefused as refused:
        context = dict(
            lead=lead,
            sequence=sequence,
            sequences=checkable_sequences(current_user.tenant_id),
            verdict=refused.verdict,
            error=str(refused) if not refused.verdict.failures else None,
        )
        template = "enrollments/_partials/verdict.html" if request.htmx else "enrollments/why.html"
        return render_template(template, **context), 422
    if request.htmx:
        # In place: the verdict box says what happened, the lead's sequences list shows the new one.
        return render_template(
            "enrollments/_partials/enrolled.html",
            lead=lead,
            sequence=sequence,
            enrollment=enrollment,
            enrollments=lead_enrollments(lead.id),
        )
    flash(f"{lead.name} is enrolled in “{sequence.name}”.", "success")
    return redirect(url_for("leads.detail", lead_id=lead.id))


@bp.route("/enrollments/<enrollment_id>")
@allow(*ALL_ROLES)
def detail(enrollment_id):
    """The enrollment's timeline: what happened, then the planned steps. An htmx request (the page polling
    itself while the enrollment is live) gets only the timeline partial."""
    enrollment = get_or_404(Enrollment, enrollment_id)
    context = dict(
        timeline=enrollment_timeline(enrollment, clock.now(), zone=reader_zone()),
        poll_seconds=current_app.config.get("TIMELINE_POLL_SECONDS", 5),
    )
    if request.htmx:
        return render_template("enrollments/_partials/timeline.html", **context)
    return render_template("enrollments/detail.html", enrollment=enrollment, **context)


def _back(enrollment: Enrollment):
    target = request.form.get("next", "")
    if target != "lead":
        target = url_for("enrollments.detail", enrollment_id=enrollment.id)
    else:
        target = url_for("leads.detail", lead_id=enrollment.lead_id)
    return redirect(target)


@bp.route("/enrollments/<enrollment_id>/pause", methods=["POST"])
@allow(*ALL_ROLES)
def pause(enrollment_id):
    enrollment = get_or_404(Enrollment, enrollment_id)
    try:
        lifecycle.pause_enrollment(enrollment, actor_id=current_user.id)
        db.session.commit()
        flash("Paused. Nothing more happens until you resume it.", "success")
    except lifecycle.TransitionRefused as refused:
        flash(str(refused), "error")
    return _back(enrollment)


@bp.route("/enrollments/<enrollment_id>/resume", methods=["POST"])
@allow(*ALL_ROLES)
def resume(enrollment_id):
    enrollment = get_or_404(Enrollment, enrollment_id)
    try:
        lifecycle.resume_enrollment(enrollment, actor_id=current_user.id)
        db.session.commit()
        flash("Resumed.", "success")
    except lifecycle.TransitionRefused as refused:
        flash(str(refused), "error")
    return _back(enrollment)


@bp.route("/enrollments/<enrollment_id>/unenroll", methods=["POST"])
@allow(*ALL_ROLES)
def unenroll(enrollment_id):
    enrollment = get_or_404(Enrollment, enrollment_id)
    if lifecycle.exit_enrollment(enrollment, "unenrolled", actor_id=current_user.id):
        db.session.commit()
        flash("Unenrolled. Unsent messages were cancelled and open tasks closed.", "success")
    else:
        flash(f"This enrollment had already ended ({enrollment.status}).", "info")
    return _back(enrollment)


@bp.route("/leads/bulk-enroll", methods=["POST"])
@allow(*ALL_ROLES)
def bulk_enroll():
    sequence = _chosen_sequence()
    if sequence is None or sequence.status != "active":
        flash("Choose an active sequence to enroll the leads in.", "error")
        return redirect(url_for("leads.index", **filters_from(request.form).as_args()))
    scope = request.form.get("scope", "selected")
    if scope == "matching":
        job_id = start_bulk_enrollment(
            tenant_id=current_user.tenant_id,
            sequence_id=sequence.id,
            actor_id=current_user.id,
            filters=filters_from(request.form),
        )
    else:
        ids = [parsed for value in request.form.getlist("lead_ids") if (parsed := parse_id(value))]
        if not ids:
            flash("Select at least one lead, or choose “all matching”.", "error")
            return redirect(url_for("leads.index", **filters_from(request.form).as_args()))
        if len(ids) > MAX_SELECTED:
            flash(f"Select at most {MAX_SELECTED} leads, or enroll all matching the filter.", "error")
            return redirect(url_for("leads.index"))
        job_id = start_bulk_enrollment(
            tenant_id=current_user.tenant_id, sequence_id=sequence.id, actor_id=current_user.id, lead_ids=ids
        )
    return redirect(url_for("enrollments.bulk_progress", job_id=job_id))


@bp.route("/leads/bulk-enroll/<job_id>")
@allow(*ALL_ROLES)
def bulk_progress(job_id):
    status = bulk_job_status(job_id, current_user.tenant_id)
    if status is None:
        abort(404)
    if request.htmx:
        return render_template("enrollments/_partials/bulk_progress.html", job=status)
    return render_template("enrollments/bulk.html", job=status)


@bp.route("/leads/bulk-enroll/<job_id>/skipped.csv")
@allow(*ALL_ROLES)
def bulk_skipped_csv(job_id):
    """Who a bulk enrollment skipped and why, as a CSV download."""
    status = bulk_job_status(job_id, current_user.tenant_id)
    if status is None:
        abort(404)
    return Response(
        skipped_csv(status),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="bulk-enroll-skipped-{job_id[:12]}.csv"'},
    )
