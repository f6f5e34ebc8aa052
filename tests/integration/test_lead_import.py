"""CSV lead import: upload, column mapping, a real RQ worker running the job, the row-by-row report."""

from __future__ import annotations

import io

import pytest
import sqlalchemy as sa
from rq import SimpleWorker

from nurture_ui.extensions import db, get_queue, get_redis
from nurture_ui.lead_import import guess_mapping
from nurture_ui.models import Lead, LeadImport
from tests import factories

GOOD_AND_BAD = (
    "E-mail,First Name,Surname,Company,Lead Score,Status,Time zone\n"
    "ada@example.com,Ada,Lovelace,Engines Ltd,80,qualified,Europe/London\n"
    "not-an-email,Bad,Row,Nowhere,10,new,\n"
    "grace@example.com,Grace,Hopper,Navy,101,new,\n"
    "linus@example.com,Linus,T,Kernel,40,sleeping,Mars/Olympus\n"
    "ADA@example.com,Ada,Again,Engines Ltd,81,qualified,\n"
    "\n"
    "alan@example.com,Alan,Turing,Bletchley,65,contacted,\n"
)


def run_worker():
    """Run the queued jobs with a real RQ worker (in this process, until the queue is empty)."""
    worker = SimpleWorker([get_queue()], connection=get_redis())
    worker.work(burst=True)


def upload(client, text, name="leads.csv"):
    raw = text if isinstance(text, bytes) else text.encode()
    return client.post(
        "/leads/import/",
        {"file": (io.BytesIO(raw), name)},
        content_type="multipart/form-data",
    )


def import_file(client, text, mapping=None):
    response = upload(client, text)
    assert response.status_code == 302, response.get_data(as_text=True)
    mapping_url = response.headers["Location"]
    page = client.get(mapping_url)
    assert page.status_code == 200
    lead_import = db.session.scalars(sa.select(LeadImport).order_by(LeadImport.created_at.desc())).first()
    form = {f"map-{field}": header for field, header in (mapping or lead_import.mapping).items()}
    started = client.post(mapping_url, form)
    assert started.status_code == 302, started.get_data(as_text=True)
    run_worker()
    db.session.expire_all()
    return db.session.get(LeadImport, lead_import.id), started.headers["Location"]


def test_headers_are_guessed_into_a_mapping():
    assert guess_mapping(["E-mail", "First Name", "Surname", "Company", "Lead Score", "Notes"]) == {
        "email": "E-mail",
        "first_name": "First Name",
        "last_name": "Surname",
        "company": "Company",
        "score": "Lead Score",
    }


def test_import_runs_as_a_job_and_reports_bad_rows_row_by_row(login_as, clock):
    client = login_as("marketer")
    lead_import, show_url = import_file(client, GOOD_AND_BAD)

    assert lead_import.status == "done"
    assert (lead_import.total_rows, lead_import.processed_rows) == (6, 6)
    assert (lead_import.created_count, lead_import.updated_count) == (2, 0)
    report = {(e["row"], e["column"]): e["message"] for e in lead_import.errors}
    assert set(report) == {
        (3, "E-mail"),
        (4, "Lead Score"),
        (5, "Status"),
        (5, "Time zone"),
        (6, "E-mail"),
    }
    assert "row 2" in report[(6, "E-mail")]
    assert "outside 0 to 100" in report[(4, "Lead Score")]
    emails = set(db.session.scalars(sa.select(Lead.email)))
    assert emails == {"ada@example.com", "alan@example.com"}

    page = client.get(show_url).get_data(as_text=True)
    assert "Rows not imported" in page and "sleeping" in page
    assert 'hx-trigger="load delay:500ms"' not in page  # finished: no more polling


def test_reimporting_updates_instead_of_duplicating(login_as, tenant):
    factories.make_lead(tenant, email="ada@example.com", first_name="Old", score=5)
    client = login_as("admin")
    first, _ = import_file(client, "email,first_name,score\nada@example.com,Ada,70\nbob@example.com,Bob,20\n")
    assert (first.created_count, first.updated_count) == (1, 1)
    again, _ = import_file(client, "email,first_name,score\nada@example.com,Ada,70\nbob@example.com,Bob,25\n")
    assert (again.created_count, again.updated_count, again.unchanged_count) == (0, 1, 1)
    leads = {lead.email: lead for lead in db.session.scalars(sa.select(Lead))}
    assert len(leads) == 2
    assert (leads["ada@example.com"].first_name, leads["bob@example.com"].score) == ("Ada", 25)


def test_progress_partial_polls_while_the_job_has_not_run(login_as):
    client = login_as("marketer")
    response = upload(client, "email\nx@example.com\n")
    mapping_url = response.headers["Location"]
    show_url = client.post(mapping_url, {"map-email": "email"}).headers["Location"]
    partial = client.get(show_url, headers={"HX-Request": "true"}).get_data(as_text=True)
    assert 'hx-trigger="load delay:500ms"' in partial and "<html" not in partial
    assert "0 of 1 rows checked" in partial
    run_worker()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "The file is empty"),
        ("email,name\n", "no leads under it"),
        ("email\nada@example.com\x00\n", "holds NUL characters"),
        ("email\nada@example.com\n".encode("utf-16"), "holds NUL characters"),  # Excel's "Unicode text"
    ],
)
def test_unusable_files_are_refused_with_a_reason(login_as, text, message):
    client = login_as("marketer")
    response = upload(client, text)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)


def test_mapping_needs_an_email_column(login_as):
    client = login_as("marketer")
    mapping_url = upload(client, "Name,Mail\nAda,ada@example.com\n").headers["Location"]
    response = client.post(mapping_url, {"map-first_name": "Name"})
    assert response.status_code == 422
    assert "Choose the column that holds the email address" in response.get_data(as_text=True)


def test_reps_cannot_import_and_imports_are_tenant_scoped(login_as, other_tenant):
    assert login_as("rep").get("/leads/import/").status_code == 403
    client = login_as("marketer")
    upload(client, "email\nx@example.com\n")
    lead_import = db.session.scalars(sa.select(LeadImport)).one()
    outsider = login_as("admin", in_tenant=other_tenant)
    assert outsider.get(f"/leads/import/{lead_import.id}").status_code == 404


def test_a_row_with_a_time_zone_that_is_not_one_is_a_row_error_and_the_rest_import(login_as):
    text = (
        "Email,Time zone\n"
        f"long@example.com,{'x' * 300}\n"
        "folder@example.com,America\n"
        "dots@example.com,../../etc/passwd\n"
        "ok@example.com,Europe/Berlin\n"
    )
    lead_import, show_url = import_file(login_as("marketer"), text)
    assert lead_import.status == "done"
    assert (lead_import.created_count, lead_import.error_count) == (1, 3)
    assert {(e["row"], e["column"]) for e in lead_import.errors} == {
        (2, "Time zone"),
        (3, "Time zone"),
        (4, "Time zone"),
    }
    assert all("is not a time zone" in e["message"] for e in lead_import.errors)
    assert db.session.scalars(sa.select(Lead.timezone)).all() == ["Europe/Berlin"]
