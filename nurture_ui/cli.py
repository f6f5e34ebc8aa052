"""`flask nurture …`: the command-line door onto the core."""

from __future__ import annotations

import click
import sqlalchemy as sa
from flask.cli import AppGroup

from nurture_ui.accounts import AccountError, create_tenant, create_user
from nurture_ui.extensions import db
from nurture_ui.models import ROLES, Tenant

nurture_cli = AppGroup("nurture", help="Nurture administration.")


def upgrade_database() -> None:
    """Bring the database schema to the newest migration."""
    from flask_migrate import upgrade

    upgrade()


@nurture_cli.command("init-db")
def init_db_command():
    """Create or upgrade the database schema (runs the migrations)."""
    upgrade_database()
    click.echo(f"Database ready: {db.engine.url.render_as_string(hide_password=True)}")


@nurture_cli.command("seed-demo")
@click.option("--leads", "lead_count", default=300, show_default=True, help="How many demo leads.")
@click.option("--if-empty", is_flag=True, help="Do nothing when any tenant exists already.")
@click.option(
    "--history", is_flag=True, help="Replay two and a half weeks of the engine so pages have content."
)
def seed_demo_command(lead_count: int, if_empty: bool, history: bool):
    """Create the demo tenant, one user per role, leads, templates and two sequences."""
    from nurture_ui.demo import DEMO_PASSWORD, DEMO_USERS, replay_history, seed_demo

    if db.session.scalar(sa.select(Tenant.id).where(Tenant.slug == "demo")):
        click.echo("The demo tenant exists already; nothing to do.")
        return
    if if_empty and db.session.scalar(sa.select(Tenant.id).limit(1)):
        click.echo("The database has data already; not seeding.")
        return
    tenant = seed_demo(lead_count)
    if history:
        replay_history(tenant)
    click.echo(f"Demo tenant created with {lead_count} leads. Logins (password {DEMO_PASSWORD!r}):")
    for role, email, _name in DEMO_USERS:
        click.echo(f"  {role:<9} {email}")


@nurture_cli.command("create-user")
@click.option("--email", required=True)
@click.option("--name", required=True)
@click.option("--role", type=click.Choice(ROLES), required=True)
@click.option("--tenant", "tenant_slug", required=True, help="The tenant's slug; created when missing.")
@click.password_option()
def create_user_command(email: str, name: str, role: str, tenant_slug: str, password: str):
    """Create a user (and the tenant, when it does not exist yet)."""
    tenant = db.session.scalar(sa.select(Tenant).where(Tenant.slug == tenant_slug))
    try:
        if tenant is None:
            tenant = create_tenant(tenant_slug, slug=tenant_slug)
            click.echo(f"Created tenant {tenant_slug!r}.")
        user = create_user(tenant=tenant, email=email, name=name, role=role, password=password)
    except AccountError as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"Created {user.role} {user.email} in {tenant.slug!r}.")


@nurture_cli.command("run-due")
@click.option("--now", "now_text", help="The instant to run at, ISO 8601 (default: the current time).")
@click.option("--no-send", is_flag=True, help="Queue emails but do not send them.")
def run_due_command(now_text: str | None, no_send: bool):
    """Run dispatch and execution at an instant, synchronously (replays a sequence in seconds)."""
    from datetime import UTC, datetime

    from nurture_ui import clock
    from nurture_ui.engine.replay import run_due

    if now_text:
        try:
            now = datetime.fromisoformat(now_text)
        except ValueError as error:
            raise click.BadParameter(f"not an ISO 8601 time: {now_text!r}", param_hint="--now") from error
        now = now if now.tzinfo else now.replace(tzinfo=UTC)
    else:
        now = clock.now()
    report = run_due(now.astimezone(UTC), send=not no_send)
    outcomes = ", ".join(f"{k} {v}" for k, v in sorted(report.outcomes.items())) or "nothing due"
    click.echo(
        f"{now.astimezone(UTC).isoformat()}: {outcomes}; emails sent {report.sent}, failed {report.failed}"
    )


@nurture_cli.command("api-token")
@click.option("--tenant", "tenant_slug", required=True, help="The tenant's slug.")
@click.option("--label", default="", help="What the key is for, e.g. 'HubSpot sync'.")
def api_token_command(tenant_slug: str, label: str):
    """Create an API key for the inbound events API and print its id and secret."""
    from nurture_ui.api.credentials import issue_credential

    tenant = db.session.scalar(sa.select(Tenant).where(Tenant.slug == tenant_slug))
    if tenant is None:
        raise click.ClickException(f"No tenant {tenant_slug!r}.")
    credential, secret = issue_credential(tenant, label=label)
    click.echo(f"API key for {tenant.slug!r} (the secret is not shown again):")
    click.echo(f"  key:    {credential.key_id}")
    click.echo(f"  secret: {secret}")
    click.echo("Sign each request: X-Nurture-Key, X-Nurture-Timestamp (Unix seconds) and")
    click.echo('X-Nurture-Signature: sha256=HMAC-SHA256(secret, timestamp + "." + body) in hex.')


@nurture_cli.command("resume-pauses")
def resume_pauses_command():
    """Resume enrollments paused for an out-of-office reply whose return date has come."""
    from nurture_ui.signals import resume_due_pauses

    click.echo(f"Resumed {resume_due_pauses()} enrollment(s).")
