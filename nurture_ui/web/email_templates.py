"""Email templates: list, create, edit, delete, and a preview rendered against a chosen lead."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, StringField, TextAreaField

from nurture_ui import email_previews, templating
from nurture_ui.extensions import db
from nurture_ui.models import EmailTemplate, Lead, SequenceStep
from nurture_ui.tenancy import current_tenant_id, get_or_404, scoped
from nurture_ui.web.access import ALL_ROLES, EDITORS, allow

bp = Blueprint("templates", __name__, url_prefix="/templates")


class TemplateForm(FlaskForm):
    name = StringField("Name")
    key = StringField("Key")
    subject = StringField("Subject")
    body = TextAreaField("Body")
    pre_approved = BooleanField("Pre-approved: steps using it may skip review when the tenant policy allows")


@bp.route("/")
@allow(*ALL_ROLES)
def index():
    templates = db.session.scalars(scoped(EmailTemplate).order_by(EmailTemplate.name)).all()
    usage = dict(
        db.session.execute(
            sa.select(SequenceStep.template_id, sa.func.count(SequenceStep.id))
            .where(SequenceStep.tenant_id == current_tenant_id(), SequenceStep.template_id.is_not(None))
            .group_by(SequenceStep.template_id)
        ).all()
    )
    return render_template(
        "email_templates/index.html", templates=templates, usage=usage, can_edit=current_user.role in EDITORS
    )


def _save(existing: EmailTemplate | None):
    form = TemplateForm(obj=existing if request.method == "GET" else None)
    if request.method == "POST" and form.validate_on_submit():
        data = templating.TemplateInput(
            key=form.key.data or "",
            name=form.name.data or "",
            subject=form.subject.data or "",
            body=form.body.data or "",
            pre_approved=form.pre_approved.data,
        )
        template, errors = templating.save_template(
            current_tenant_id(), data, actor=current_user, existing=existing
        )
        if not errors:
            flash(f"Template “{template.name}” saved.", "success")
            return redirect(url_for("templates.edit", template_id=template.id))
        db.session.rollback()
        for name, messages in errors.items():
            getattr(form, name).errors = list(messages)
    preview_lead, real = email_previews.sample_lead(current_tenant_id())
    status = 422 if form.errors or any(f.errors for f in form) else 200
    return (
        render_template(
            "email_templates/edit.html",
            form=form,
            template=existing,
            preview_lead=preview_lead if real else None,
            lead_fields=templating.LEAD_FIELDS,
            owner_fields=templating.OWNER_FIELDS,
            can_edit=current_user.role in EDITORS,
        ),
        status,
    )


@bp.route("/new", methods=["GET", "POST"])
@allow(*EDITORS)
def new():
    return _save(None)


@bp.route("/<template_id>", methods=["GET", "POST"])
@allow(*ALL_ROLES)
def edit(template_id):
    template = get_or_404(EmailTemplate, template_id)
    if request.method == "POST" and current_user.role not in EDITORS:
        abort(403)
    return _save(template)


@bp.route("/<template_id>/delete", methods=["POST"])
@allow(*EDITORS)
def delete(template_id):
    template = get_or_404(EmailTemplate, template_id)
    name = template.name
    problems = templating.delete_template(template, actor=current_user)
    if problems:
        flash(f"“{name}” was not deleted. " + " ".join(problems), "error")
        return redirect(url_for("templates.edit", template_id=template.id))
    flash(f"Template “{name}” deleted.", "success")
    return redirect(url_for("templates.index"))


@bp.route("/preview", methods=["POST"])
@allow(*ALL_ROLES)
def preview():
    """The subject and body as typed, rendered for the chosen lead (and its owner); problems with lines."""
    lead = get_or_404(Lead, request.form.get("lead_id", ""))
    rendered = email_previews.render_draft(
        request.form.get("subject", ""), request.form.get("body", ""), lead
    )
    return render_template("email_templates/_partials/preview.html", lead=lead, rendered=rendered)


@bp.route("/preview-leads")
@allow(*ALL_ROLES)
def preview_leads():
    """The tenant's leads matching the "Render for" search box (all of them, not a first page)."""
    text = request.args.get("q", "")[:200]
    leads = email_previews.search_leads(current_tenant_id(), text)
    return render_template("email_templates/_partials/lead_choices.html", leads=leads, text=text)


@bp.route("/send-test", methods=["POST"])
@allow(*EDITORS)
def send_test():
    """The subject and body as typed, rendered for the chosen lead and sent to the signed-in person only,
    marked as a test: never a send to the lead."""
    lead = get_or_404(Lead, request.form.get("lead_id", ""))
    _, failure = email_previews.send_test_email(
        request.form.get("subject", ""), request.form.get("body", ""), lead, current_user
    )
    return render_template(
        "email_templates/_partials/test_sent.html", failure=failure, to=current_user.email, lead=lead
    )
