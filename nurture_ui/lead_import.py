"""Importing leads from a CSV file: upload, map columns to lead fields, then a background job that
checks every row, upserts the good ones by email and reports the bad ones row by row.

The flow is three steps, each a function here: ``start_import`` (store the file, read its header),
``set_mapping`` (which column is which field; guessed from the headers), ``enqueue_import`` (hand the
import's id to RQ). ``run_import`` is the job: it loads everything from the ``lead_imports`` row and
writes its progress back there, so the page can show a progress bar and a crash loses nothing.
"""

from __future__ import annotations

import contextlib
import csv
import io
import re
import uuid
from typing import Any

import sqlalchemy as sa
from flask import current_app

from nurture_ui import clock
from nurture_ui.extensions import db, get_queue
from nurture_ui.job_tenancy import tenant_job_options
from nurture_ui.lead_upsert import (
    LEAD_FIELDS,
    LeadFieldErrors,
    clean_lead_fields,
    owner_directory,
    upsert_lead,
)
from nurture_ui.models import Lead, LeadImport, Tenant

MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_ROWS = 50_000
MAX_STORED_ERRORS = 1000
CHUNK_ROWS = 200

FIELD_LABELS = {
    "email": "Email",
    "first_name": "First name",
    "last_name": "Last name",
    "company": "Company",
    "title": "Job title",
    "phone": "Phone",
    "status": "Status",
    "score": "Score",
    "score_band": "Score band",
    "segment": "Segment",
    "timezone": "Time zone",
    "owner_email": "Owner (email)",
    "do_not_contact": "Do not contact",
}
# Header spellings we recognise, compared without case, spaces, dashes or underscores.
_HEADER_GUESSES = {
    "email": ("email", "emailaddress", "e-mail", "mail", "workemail", "businessemail"),
    "first_name": ("firstname", "givenname", "first", "forename"),
    "last_name": ("lastname", "surname", "familyname", "last"),
    "company": ("company", "companyname", "organization", "organisation", "account", "accountname"),
    "title": ("title", "jobtitle", "position", "role"),
    "phone": ("phone", "phonenumber", "mobile", "telephone", "tel", "workphone"),
    "status": ("status", "leadstatus", "stage"),
    "score": ("score", "leadscore"),
    "score_band": ("scoreband", "band", "temperature", "rating"),
    "segment": ("segment", "industry", "vertical"),
    "timezone": ("timezone", "tz", "zone"),
    "owner_email": ("owner", "owneremail", "leadowner", "assignedto"),
    "do_not_contact": ("donotcontact", "dnc", "optout", "donotemail"),
}


class ImportFileError(ValueError):
    """Why an uploaded file cannot be imported, in words for the person who uploaded it."""


def start_import(tenant_id: uuid.UUID, user_id: uuid.UUID | None, filename: str, raw: bytes) -> LeadImport:
    """Store an uploaded CSV and read its header row (committed). Raises ImportFileError."""
    if len(raw) > MAX_FILE_BYTES:
        raise ImportFileError(f"The file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB.")
    text = _decode(raw)
    rows = _read(text)
    if not rows or not any(h.strip() for h in rows[0]):
        raise ImportFileError("The file is empty: the first row should name the columns.")
    data_rows = [r for r in rows[1:] if any(cell.strip() for cell in r)]
    if not data_rows:
        raise ImportFileError("The file has a header row but no leads under it.")
    if len(data_rows) > MAX_ROWS:
        raise ImportFileError(f"The file has {len(data_rows)} rows; import at most {MAX_ROWS} at a time.")
    headers = _headers(rows[0])
    lead_import = LeadImport(
        tenant_id=tenant_id,
        created_by=user_id,
        filename=(filename or "leads.csv")[:255],
        csv_text=text,
        headers=headers,
        mapping=guess_mapping(headers),
        total_rows=len(data_rows),
    )
    db.session.add(lead_import)
    db.session.commit()
    return lead_import


def _decode(raw: bytes) -> str:
    for encoding in ("utf-8-sig", "cp1252"):
        with contextlib.suppress(UnicodeDecodeError):
            text = raw.decode(encoding)
            break
    else:
        raise ImportFileError("The file is not text: save it as CSV (UTF-8).")
    # NUL is never in CSV text (PostgreSQL cannot store it); it is the mark of UTF-16 or a binary file.
    if "\x00" in text:
        raise ImportFileError(
            "The file holds NUL characters, so it is not CSV text (a UTF-16 or binary file?): "
            "save it as CSV (UTF-8)."
        )
    return text


def _read(text: str) -> list[list[str]]:
    sample = text[:8192]
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    try:
        return list(csv.reader(io.StringIO(text), dialect))
    except csv.Error as error:
        raise ImportFileError(f"The file is not valid CSV: {error}.") from None


def _headers(row: list[str]) -> list[str]:
    """Header names, blank ones named by position and repeats numbered, so each is unique."""
    seen: dict[str, int] = {}
    headers = []
    for position, name in enumerate(row, start=1):
        name = name.strip() or f"Column {position}"
        if name in seen:
            seen[name] += 1
            name = f"{name} ({seen[name]})"
        else:
            seen[name] = 1
        headers.append(name)
    return headers


def _squash(header: str) -> str:
    return re.sub(r"[\s_\-]+", "", header.lower())


def guess_mapping(headers: list[str]) -> dict[str, str]:
    """{lead field: header} for the headers we recognise; each header is used at most once."""
    mapping: dict[str, str] = {}
    used: set[str] = set()
    for field in LEAD_FIELDS:
        for header in headers:
            if header not in used and _squash(header) in {_squash(g) for g in _HEADER_GUESSES[field]}:
                mapping[field] = header
                used.add(header)
                break
    return mapping


def preview(lead_import: LeadImport, rows: int = 5) -> list[dict[str, str]]:
    """The first rows as {header: value}, to show beside the mapping."""
    return [dict(zip(lead_import.headers, row, strict=False)) for _, row in _data_rows(lead_import)[:rows]]


def set_mapping(lead_import: LeadImport, mapping: dict[str, str]) -> dict[str, str]:
    """Save the column mapping (committed) and return {} — or field-named errors and save nothing."""
    mapping = {field: header for field, header in mapping.items() if header and field in LEAD_FIELDS}
    errors = {}
    for field, header in mapping.items():
        if header not in lead_import.headers:
            errors[field] = f"There is no column {header!r} in the file."
    if "email" not in mapping:
        errors["email"] = "Choose the column that holds the email address: leads are matched by it."
    used: dict[str, str] = {}
    for field, header in mapping.items():
        if header in used:
            errors[field] = f"The column {header!r} is already used for {FIELD_LABELS[used[header]]}."
        used.setdefault(header, field)
    if errors:
        return errors
    lead_import.mapping = mapping
    db.session.commit()
    return {}


def enqueue_import(lead_import: LeadImport) -> None:
    """Queue the import's job (committed). Refuses an import that has already started."""
    if lead_import.status != "mapping":
        raise ImportFileError("This import has already been started.")
    lead_import.status = "queued"
    db.session.commit()
    job = get_queue().enqueue(
        run_import,
        str(lead_import.id),
        job_timeout=3600,
        result_ttl=86400,
        **tenant_job_options(lead_import.tenant_id),
    )
    lead_import.job_id = job.id
    db.session.commit()


def run_import(import_id: str) -> dict[str, int]:
    """The RQ job: import the rows of ``lead_imports`` row ``import_id``. Safe to run twice: a finished
    import is not run again, and rows already imported are updates on a second run, not duplicates."""
    from nurture_ui.jobs import job_app_context

    with job_app_context():
        return process_import(uuid.UUID(import_id))


def process_import(import_id: uuid.UUID) -> dict[str, int]:
    lead_import = db.session.get(LeadImport, import_id)
    if lead_import is None or lead_import.finished:
        return {}
    tenant = db.session.get(Tenant, lead_import.tenant_id)
    lead_import.status, lead_import.started_at = "running", clock.now()
    lead_import.processed_rows = lead_import.created_count = lead_import.updated_count = 0
    lead_import.unchanged_count = lead_import.error_count = 0
    lead_import.errors = []
    db.session.commit()
    try:
        _import_rows(lead_import, tenant)
    except Exception as error:
        db.session.rollback()
        lead_import = db.session.get(LeadImport, import_id)
        lead_import.status, lead_import.finished_at = "failed", clock.now()
        lead_import.failure = f"The import stopped: {error.__class__.__name__}. Rows before it were saved."
        db.session.commit()
        current_app.logger.exception("lead import %s failed", import_id)
        raise
    lead_import.status, lead_import.finished_at = "done", clock.now()
    db.session.commit()
    return {
        "created": lead_import.created_count,
        "updated": lead_import.updated_count,
        "unchanged": lead_import.unchanged_count,
        "errors": lead_import.error_count,
    }


def _data_rows(lead_import: LeadImport) -> list[tuple[int, list[str]]]:
    """(spreadsheet row number, cells) for every non-blank row under the header."""
    rows = _read(lead_import.csv_text)
    return [(number, row) for number, row in enumerate(rows[1:], start=2) if any(c.strip() for c in row)]


def _import_rows(lead_import: LeadImport, tenant: Tenant) -> None:
    owners = owner_directory(tenant.id)
    column = {header: position for position, header in enumerate(lead_import.headers)}
    rows = _data_rows(lead_import)
    first_row_of: dict[str, int] = {}
    errors: list[dict[str, Any]] = []
    for start in range(0, len(rows), CHUNK_ROWS):
        chunk = rows[start : start + CHUNK_ROWS]
        checked = []
        for number, cells in chunk:
            raw = {}
            for field, header in lead_import.mapping.items():
                position = column[header]
                value = cells[position].strip() if position < len(cells) else ""
                # A blank cell leaves the field as it is; only the email must be there.
                if value or field == "email":
                    raw[field] = value
            try:
                clean = clean_lead_fields(raw, tenant, owners)
            except LeadFieldErrors as error:
                for field, message in error.errors.items():
                    errors.append(
                        _row_error(number, lead_import.mapping.get(field, field), raw.get(field), message)
                    )
                continue
            key = clean["email"].lower()
            if key in first_row_of:
                message = f"The same email as row {first_row_of[key]}; only that row was imported."
                errors.append(_row_error(number, lead_import.mapping["email"], raw["email"], message))
                continue
            first_row_of[key] = number
            checked.append(clean)
        existing = _existing_leads(tenant.id, [c["email"].lower() for c in checked])
        for clean in checked:
            _lead, outcome, _diff = upsert_lead(
                tenant,
                clean,
                existing=existing.get(clean["email"].lower()),
                actor_id=lead_import.created_by,
                source="import",
            )
            setattr(lead_import, f"{outcome}_count", getattr(lead_import, f"{outcome}_count") + 1)
        lead_import.processed_rows += len(chunk)
        lead_import.error_count = len(errors)
        lead_import.errors = errors[:MAX_STORED_ERRORS]
        db.session.commit()
        _report_progress(lead_import)


def _row_error(row: int, column: str, value: Any, message: str) -> dict[str, Any]:
    return {
        "row": row,
        "column": column,
        "value": ("" if value is None else str(value))[:120],
        "message": message,
    }


def _existing_leads(tenant_id: uuid.UUID, emails: list[str]) -> dict[str, Lead]:
    if not emails:
        return {}
    leads = db.session.scalars(
        sa.select(Lead).where(Lead.tenant_id == tenant_id, sa.func.lower(Lead.email).in_(emails))
    )
    return {lead.email.lower(): lead for lead in leads}


def _report_progress(lead_import: LeadImport) -> None:
    from rq import get_current_job

    job = get_current_job()
    if job is not None:
        job.meta["progress"] = {"processed": lead_import.processed_rows, "total": lead_import.total_rows}
        job.save_meta()
