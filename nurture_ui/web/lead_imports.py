"""Lead import pages: upload a CSV, map its columns, watch the background job, read the error report."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired

from nurture_ui.extensions import db
from nurture_ui.lead_import import (
    FIELD_LABELS,
    MAX_FILE_BYTES,
    ImportFileError,
    enqueue_import,
    preview,
    set_mapping,
    start_import,
)
from nurture_ui.lead_upsert import LEAD_FIELDS
from nurture_ui.models import LeadImport
from nurture_ui.tenancy import current_tenant_id, get_or_404, scoped
from nurture_ui.web.access import EDITORS, allow

bp = Blueprint("lead_imports", __name__, url_prefix="/leads/import")
# One byte over the limit, so start_import can say the file is too big without reading all of it.
MAX_READ = MAX_FILE_BYTES + 1


class UploadForm(FlaskForm):
    file = FileField("CSV file", validators=[FileRequired("Choose a CSV file to upload.")])


@bp.route("/", methods=["GET", "POST"])
@allow(*EDITORS)
def upload():
    form = UploadForm()
    if form.validate_on_submit():
        upload = form.file.data
        try:
            lead_import = start_import(
                current_tenant_id(), current_user.id, upload.filename or "", upload.read(MAX_READ)
            )
        except ImportFileError as error:
            form.file.errors.append(str(error))
        else:
            return redirect(url_for("lead_imports.mapping", import_id=lead_import.id))
    recent = db.session.scalars(scoped(LeadImport).order_by(LeadImport.created_at.desc()).limit(10)).all()
    status = 422 if form.errors else 200
    return render_template("lead_imports/upload.html", form=form, recent=recent), status


@bp.route("/<import_id>/mapping", methods=["GET", "POST"])
@allow(*EDITORS)
def mapping(import_id):
    lead_import = get_or_404(LeadImport, import_id)
    if lead_import.status != "mapping":
        return redirect(url_for("lead_imports.show", import_id=lead_import.id))
    errors: dict[str, str] = {}
    chosen = dict(lead_import.mapping)
    if request.method == "POST":
        chosen = {field: request.form.get(f"map-{field}", "") for field in LEAD_FIELDS}
        errors = set_mapping(lead_import, chosen)
        if not errors:
            enqueue_import(lead_import)
            return redirect(url_for("lead_imports.show", import_id=lead_import.id))
    return (
        render_template(
            "lead_imports/mapping.html",
            lead_import=lead_import,
            fields=LEAD_FIELDS,
            labels=FIELD_LABELS,
            chosen=chosen,
            errors=errors,
            rows=preview(lead_import),
        ),
        422 if errors else 200,
    )


@bp.route("/<import_id>")
@allow(*EDITORS)
def show(import_id):
    lead_import = get_or_404(LeadImport, import_id)
    if request.htmx:
        return render_template("lead_imports/_partials/progress.html", lead_import=lead_import)
    return render_template("lead_imports/show.html", lead_import=lead_import)
