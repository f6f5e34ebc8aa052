"""The CLI commands and the health check."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from nurture_ui.extensions import db
from nurture_ui.models import ROLES, EmailTemplate, Lead, Sequence, Tenant, User


def test_seed_demo_makes_a_user_per_role_leads_templates_and_two_sequences(app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["nurture", "seed-demo", "--leads", "120"])
    assert result.exit_code == 0, result.output
    assert "admin@demo.test" in result.output
    tenant = db.session.scalar(sa.select(Tenant).where(Tenant.slug == "demo"))
    roles = set(db.session.scalars(sa.select(User.role).where(User.tenant_id == tenant.id)))
    assert roles == set(ROLES)
    assert db.session.scalar(sa.select(sa.func.count(Lead.id))) == 120
    statuses = set(db.session.scalars(sa.select(Lead.status).distinct()))
    assert {"new", "contacted", "qualified"} <= statuses
    assert db.session.scalar(sa.select(sa.func.count(EmailTemplate.id))) == 4
    assert db.session.scalar(sa.select(sa.func.count(Sequence.id))) == 2
    again = runner.invoke(args=["nurture", "seed-demo"])
    assert "exists already" in again.output
    assert db.session.scalar(sa.select(sa.func.count(Lead.id))) == 120


def test_demo_logins_work(app, web):
    app.test_cli_runner().invoke(args=["nurture", "seed-demo", "--leads", "5"])
    from nurture_ui.demo import DEMO_PASSWORD

    web.login("manager@demo.test", DEMO_PASSWORD)
    assert "Max Manager" in web.get("/").get_data(as_text=True)


def test_create_user_command_makes_the_tenant_when_missing(app):
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=[
            "nurture",
            "create-user",
            "--email",
            "Boss@Corp.test",
            "--name",
            "Boss",
            "--role",
            "admin",
            "--tenant",
            "corp",
            "--password",
            "a long password",
        ],
    )
    assert result.exit_code == 0, result.output
    user = db.session.scalar(sa.select(User).where(User.email == "boss@corp.test"))
    assert user.role == "admin" and user.tenant.slug == "corp"
    duplicate = runner.invoke(
        args=[
            "nurture",
            "create-user",
            "--email",
            "boss@corp.test",
            "--name",
            "B",
            "--role",
            "rep",
            "--tenant",
            "corp",
            "--password",
            "a long password",
        ],
    )
    assert duplicate.exit_code != 0 and "already exists" in duplicate.output


def test_init_db_is_idempotent(app):
    result = app.test_cli_runner().invoke(args=["nurture", "init-db"])
    assert result.exit_code == 0, result.output
    assert "Database ready" in result.output


def test_health_check_reports_database_and_redis(web):
    response = web.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "checks": {"database": "ok", "redis": "ok"}}


def test_postgresql_connections_plan_without_jit(app):
    """JIT compiling cost the builder's eligibility count and the reports 300-500 ms of CPU a query, for
    queries that run in under 100 ms without it: the app's connections turn it off."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("a PostgreSQL setting")
    assert db.session.scalar(sa.text("SHOW jit")) == "off"
