"""Pages as users get them: gunicorn over HTTP, 20 signed-in users at once, the engine sending meanwhile,
in a database that has churned.

    DATABASE_URL=postgresql://… REDIS_URL=redis://… .venv/bin/python -m bench.bench_load \\
        [--leads 100000] [--users 20] [--seconds 60] [--churn-steps 50000] [--due-steps 90000] [--json out.json]

1. The data: ``bench.bench_pages``'s (``bench.generate`` leads and activities, enrollments across five
   four-step sequences with their messages, 1,000 drafts waiting, replies, tasks), and ``--users`` managers
   who sign in with a password.
2. Churn: the engine (2 ``worker.py`` processes, the SMTP sink) works through ``--churn-steps`` due steps of
   another tenant, which is then deleted: the tables carry what a day's sending writes and deletes. Then
   ``VACUUM (ANALYZE)`` over the database, as autovacuum would leave it.
3. The load: ``--due-steps`` more steps due and the engine working through them at full speed, while the
   app runs under gunicorn (``app:app``, 2 workers × 4 threads, ``gthread``: what ``make run`` starts, for a
   2-core machine) on a free 127.0.0.1 port. ``--users`` threads each sign in through ``/login`` (its form
   and CSRF token, over HTTP with a keep-alive connection) and opens each page once to warm up; then all
   open the pages in turn, each pausing between two pages as a person reads one (``--think``: a time drawn
   evenly between 1 and 5 s by default, as in locust's ``between(1, 5)``; ``0`` for users who never pause),
   for ``--seconds``:
   overview, inbox, tasks, sequences, a builder, performance (90 days and all time), a
   lead's timeline, an enrollment's timeline, the filtered lead list and the performance CSV. The time of
   each request is from sending it to reading the whole body, in the client.

Prints p50/p95/p99 and requests/s per page, and how many steps the engine sent during the load.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

import sqlalchemy as sa

from bench import generate
from bench.bench_engine import BenchFailed, _ensure_redis, sent_count, wait_for_workers, worker_env
from bench.bench_pages import _four_steps, load_enrollments
from bench.due_steps import drop_tenant, seed_due_steps
from bench.processes import ROOT, SinkProcess, start_processes, stop_process
from bench.stats import latency_summary
from nurture_ui import create_app
from nurture_ui.extensions import db, get_queue
from nurture_ui.jobs import dispatch_due_job
from nurture_ui.models import Enrollment, Sequence, User

PASSWORD = "bench-load-password"
# Requested right after the page before it, without a pause: what the browser loads on its own.
BUILDER_COUNT = "sequence builder: its entry-rule count (htmx, after the page)"
FOLLOWS_AT_ONCE = {BUILDER_COUNT}
GUNICORN = ["--workers", "2", "--threads", "4", "--worker-class", "gthread"]
TIMEOUT_S = 60  # a request not answered by then counts as failed
CSRF = re.compile(rb'name="csrf_token" type="hidden" value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')


# ---------------------------------------------------------------- the engine at work


@dataclass
class EngineAtWork:
    """Two engine workers, the SMTP sink and a dispatcher tick each second, on ``steps`` due steps of a new
    tenant; ``sent()`` is how many the sink accepted so far. Deletes the tenant when it stops."""

    app: object
    steps: int
    workers: int = 2
    log_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="nurture-load-")))

    def __enter__(self) -> EngineAtWork:
        self.queue_name = f"bench-load-{uuid.uuid4().hex[:8]}"
        with self.app.app_context():
            self.due = seed_due_steps(self.steps, label="load")
        self.sink = SinkProcess()
        env = worker_env(self.app, self.queue_name, self.sink.port, 200)
        self.processes = start_processes(
            [sys.executable, "worker.py"], self.workers, env, self.log_dir / f"{self.queue_name}.log"
        )
        self._stop = threading.Event()
        with self.app.app_context():
            wait_for_workers(get_queue(self.queue_name), self.workers, self.processes)
        self._ticker = threading.Thread(target=self._tick, daemon=True)
        self._ticker.start()
        return self

    def _tick(self) -> None:
        with self.app.app_context():
            queue = get_queue(self.queue_name)
            job = queue.enqueue(dispatch_due_job, result_ttl=60)
            while not self._stop.wait(1.0):
                if job.get_status(refresh=True) in ("finished", "failed"):
                    job = queue.enqueue(dispatch_due_job, result_ttl=60)

    def sent(self) -> int:
        return self.sink.accepted()

    def wait_until_done(self, timeout: float) -> float:
        """Seconds until every step was sent (the sink has them and the database says ``sent``)."""
        started = time.perf_counter()
        with self.app.app_context():
            while self.sent() < self.steps or sent_count(self.due.tenant_id) < self.steps:
                if time.perf_counter() - started > timeout:
                    raise BenchFailed(f"churn: {self.sent()} of {self.steps} sent after {timeout:.0f} s")
                if all(p.poll() is not None for p in self.processes):
                    raise BenchFailed(f"every engine worker exited: see {self.log_dir}")
                time.sleep(0.2)
        return time.perf_counter() - started

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._ticker.join()
        for process in self.processes:
            stop_process(process)
        self.sink.stop()
        with self.app.app_context():
            get_queue(self.queue_name).empty()
            drop_tenant(self.due.tenant_id)


# ---------------------------------------------------------------- gunicorn


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def gunicorn(app, log: Path):
    """``gunicorn app:app`` on a free 127.0.0.1 port, the same database and Redis; yields the port once
    ``/login`` answers."""
    port = free_port()
    env = {**os.environ, "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
           "REDIS_URL": os.environ["REDIS_URL"], "SECRET_KEY": app.config["SECRET_KEY"]}  # fmt: skip
    with open(log, "ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "app:app", "--bind", f"127.0.0.1:{port}", *GUNICORN,
             "--log-level", "warning"], cwd=ROOT, env=env, stdout=out, stderr=out, start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise BenchFailed(f"gunicorn exited with {process.returncode}: see {log}")
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                connection.request("GET", "/login")
                if connection.getresponse().status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise BenchFailed(f"gunicorn did not answer within 60 s: see {log}")
            time.sleep(0.2)
        yield port
    finally:
        stop_process(process)


# ---------------------------------------------------------------- a signed-in user over HTTP


class Browser:
    """One user's keep-alive HTTP connection with its cookies."""

    def __init__(self, port: int) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT_S)
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, body: str | None = None, headers: dict | None = None):
        """(status, body bytes) of one request; keeps the cookies it sets."""
        headers = dict(headers or {})
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            self.connection.request(method, path, body=body, headers=headers)
            response = self.connection.getresponse()
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            # gunicorn closed the idle keep-alive connection (after --keep-alive, 2 s): reconnect and send
            # again, as a browser does.
            self.connection.close()
            self.connection.request(method, path, body=body, headers=headers)
            response = self.connection.getresponse()
        data = response.read()
        for cookie in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = cookie.partition("=")
            self.cookies[name.strip()] = rest.split(";", 1)[0]
        return response.status, data

    def sign_in(self, email: str, password: str) -> None:
        """Through the login form: its CSRF token, then the POST; raises unless it redirects."""
        status, page = self.request("GET", "/login")
        match = CSRF.search(page)
        if status != 200 or not match:
            raise BenchFailed(f"/login answered {status} without a CSRF token")
        token = (match.group(1) or match.group(2)).decode()
        form = urlencode({"csrf_token": token, "email": email, "password": password})
        status, _ = self.request("POST", "/login", form)
        if status != 302:
            raise BenchFailed(f"signing in as {email} answered {status}")


def pages_of(data: dict) -> list[tuple[str, callable]]:
    """The pages a user opens, each as (name, a function giving a path for this visit)."""
    sequences, leads, enrollments = data["sequence_ids"], data["lead_ids"], data["enrollment_ids"]
    filtered = f"/leads/?status=new&score_band=warm&segment=SMB&owner={data['owner_id']}"

    def one(values):
        return random.choice(values)

    return [
        ("manager overview", lambda: "/overview/"),
        ("inbox", lambda: "/inbox/"),
        ("tasks", lambda: "/tasks/"),
        ("sequences list", lambda: "/sequences/"),
        ("sequence builder", lambda: f"/sequences/{one(sequences)}"),
        # The builder's entry-rule count, which the browser asks for as soon as the page is shown.
        (BUILDER_COUNT, lambda: f"/sequences/{one(sequences)}/eligibility"),
        ("sequence performance, last 90 days", lambda: f"/sequences/{one(sequences)}/performance"),
        ("sequence performance, all time", lambda: f"/sequences/{one(sequences)}/performance?from=all"),
        ("lead timeline", lambda: f"/leads/{one(leads)}/timeline"),
        ("enrollment timeline", lambda: f"/enrollments/{one(enrollments)}"),
        ("lead list with filters", lambda: filtered),
        ("performance CSV (steps, all time)",
         lambda: f"/sequences/{one(sequences)}/performance.csv?chart=steps&from=all"),
    ]  # fmt: skip


def run_users(
    port: int, emails: list[str], pages, seconds: float, think: tuple[float, float] = (0, 0)
) -> tuple[dict, dict, float]:
    """Every user signs in and opens each page once, then all cycle through ``pages`` for ``seconds``,
    pausing between two pages for a time drawn evenly from the ``think`` range (``(0, 0)``: none, each user
    waits only for the server). Returns the times (ms) per page, the failures per page (status or error)
    and the seconds actually measured."""
    times = {name: [] for name, _ in pages}
    failures: dict[str, list[str]] = {name: [] for name, _ in pages}
    lock = threading.Lock()
    browsers = [Browser(port) for _ in emails]
    window: dict[str, float] = {}

    def open_window() -> None:  # run once, when the last user has signed in, before any is released
        window["start"] = time.perf_counter()
        window["end"] = window["start"] + seconds

    signed_in = threading.Barrier(len(emails) + 1, action=open_window)

    def user(browser: Browser, email: str, offset: int) -> None:
        try:
            browser.sign_in(email, PASSWORD)
            for _, path in pages:  # one untimed visit of each page: gunicorn's workers warm, as in use
                try:
                    browser.request("GET", path())
                except (OSError, http.client.HTTPException):
                    browser.connection.close()  # a slow warm-up is not measured; the user goes on
        finally:
            signed_in.wait()
        n = offset
        if think[1]:
            # People do not all click at the same instant: each user's first page comes a pause after the start.
            time.sleep(random.uniform(0, think[1]))
        while time.perf_counter() < window["end"]:
            name, path = pages[n % len(pages)]
            if think[1] and n > offset and name not in FOLLOWS_AT_ONCE:
                time.sleep(min(random.uniform(*think), max(0.0, window["end"] - time.perf_counter())))
                if time.perf_counter() >= window["end"]:
                    break
            n += 1
            started = time.perf_counter()
            try:
                status, _ = browser.request("GET", path())
                problem = None if status == 200 else f"HTTP {status}"
            except (OSError, http.client.HTTPException) as error:
                browser.connection.close()
                problem = type(error).__name__
            elapsed = (time.perf_counter() - started) * 1000
            with lock:
                if problem:
                    failures[name].append(problem)
                else:
                    times[name].append(elapsed)

    threads = [
        threading.Thread(target=user, args=(b, e, i), daemon=True)
        for i, (b, e) in enumerate(zip(browsers, emails, strict=True))
    ]
    for thread in threads:
        thread.start()
    signed_in.wait()
    for thread in threads:
        thread.join()
    return times, failures, time.perf_counter() - window["start"]


# ---------------------------------------------------------------- the data


def load_data(leads: int, users: int) -> dict:
    """bench_pages' tenant and ``users`` managers who can sign in; the ids the pages pick from."""
    made = generate.load(leads, 5, 5)
    tenant_id = made["tenant_id"]
    _four_steps(list(db.session.scalars(sa.select(Sequence).where(Sequence.id.in_(made["sequence_ids"])))))
    owners = list(
        db.session.scalars(sa.select(User.id).where(User.tenant_id == tenant_id, User.role == "rep"))
    )
    extra = load_enrollments(tenant_id, made["sequence_ids"], owners, datetime.now(UTC))
    probe = User(tenant_id=tenant_id, email="x", name="x", role="manager")
    probe.set_password(PASSWORD)  # hashed once, the same hash for every bench manager
    emails = [f"manager{i}.{uuid.uuid4().hex[:6]}@load.test" for i in range(users)]
    db.session.add_all([User(tenant_id=tenant_id, email=e, name=f"Manager {i}", role="manager",
                             password_hash=probe.password_hash) for i, e in enumerate(emails)])  # fmt: skip
    db.session.commit()
    rows = db.session.execute(
        sa.select(Enrollment.id, Enrollment.lead_id).where(Enrollment.tenant_id == tenant_id).limit(2000)
    ).all()
    activities = db.session.scalar(
        sa.text("SELECT count(*) FROM activities WHERE tenant_id = :t"), {"t": tenant_id}
    )
    return {"tenant_id": str(tenant_id), "emails": emails, "sequence_ids": [str(s) for s in made["sequence_ids"]],
            "lead_ids": [str(r.lead_id) for r in rows], "enrollment_ids": [str(r.id) for r in rows],
            "owner_id": str(owners[0]), "leads": leads, "activities": activities, **extra}  # fmt: skip


def vacuum_database() -> float:
    """``VACUUM (ANALYZE)`` over the whole database; its seconds."""
    db.session.commit()
    connection = db.session.connection().connection.driver_connection
    connection.commit()
    connection.autocommit = True
    started = time.perf_counter()
    try:
        connection.execute("VACUUM (ANALYZE)")
    finally:
        connection.autocommit = False
    return round(time.perf_counter() - started, 1)


def dead_rows() -> int:
    return int(db.session.scalar(sa.text("SELECT coalesce(sum(n_dead_tup), 0) FROM pg_stat_user_tables")))


def think_range(text: str) -> tuple[float, float]:
    """``--think``: ``"1-5"`` -> (1.0, 5.0); ``"2"`` -> (2.0, 2.0)."""
    low, _, high = text.partition("-")
    try:
        bounds = (float(low), float(high or low))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: write seconds, or MIN-MAX such as 1-5") from None
    if bounds[0] < 0 or bounds[1] < bounds[0]:
        raise argparse.ArgumentTypeError(f"{text!r}: MIN-MAX with 0 <= MIN <= MAX")
    return bounds


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--think", type=think_range, default=(1.0, 5.0),
                        help="seconds a user pauses between two pages: MIN-MAX, drawn evenly (default 1-5), or one "
                             "number (0: never pauses)")  # fmt: skip
    parser.add_argument("--churn-steps", type=int, default=50_000, help="steps sent and deleted before")
    parser.add_argument("--due-steps", type=int, default=90_000, help="steps due when the load starts")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args(argv)

    _ensure_redis()
    app = create_app()
    with app.app_context():
        from nurture_ui.cli import upgrade_database

        upgrade_database()
        if db.engine.dialect.name != "postgresql":
            print("bench_load loads its data with COPY and vacuums: set DATABASE_URL to PostgreSQL. Skipped.")
            return {}
        started = time.perf_counter()
        data = load_data(args.leads, args.users)
        print(f"data: {args.leads:,} leads, {data['activities']:,} activities in "
              f"{time.perf_counter() - started:.0f} s", flush=True)  # fmt: skip
    log_dir = Path(tempfile.mkdtemp(prefix="nurture-load-"))
    churn = {"steps": args.churn_steps}
    if args.churn_steps:
        with EngineAtWork(app, args.churn_steps, log_dir=log_dir) as engine:
            churn["seconds"] = round(engine.wait_until_done(timeout=max(600, args.churn_steps / 20)), 1)
    with app.app_context():
        churn["dead_rows_before_vacuum"] = dead_rows()
        churn["vacuum_seconds"] = vacuum_database()
    print(f"churn: {churn}", flush=True)
    pages = pages_of(data)
    # gunicorn first: the engine starts sending just before the users sign in, so its due steps last the load.
    with (
        gunicorn(app, log_dir / "gunicorn.log") as port,
        EngineAtWork(app, args.due_steps, log_dir=log_dir) as engine,
    ):
        sent_before = engine.sent()
        times, failures, seconds = run_users(port, data["emails"], pages, args.seconds, args.think)
        sent_during = engine.sent() - sent_before
    rows = []
    for name, _ in pages:
        if not times[name]:
            raise BenchFailed(f"{name}: no request succeeded ({failures[name][:3]})")
        rows.append({"page": name, **latency_summary(times[name], seconds), "failures": len(failures[name]),
                     "failure_kinds": sorted(set(failures[name]))})  # fmt: skip
        print(f"{name:<38} {rows[-1]['requests_per_s']:>6.1f} req/s  p50 {rows[-1]['p50_ms']:>6.1f}  "
              f"p95 {rows[-1]['p95_ms']:>6.1f}  p99 {rows[-1]['p99_ms']:>6.1f} ms  failures {len(failures[name])} {sorted(set(failures[name]))}")  # fmt: skip
    engine_figures = {"steps_sent": sent_during, "steps_per_s": round(sent_during / seconds, 1),
                      "ran_out": sent_during + sent_before >= args.due_steps}  # fmt: skip
    print(f"engine meanwhile: {engine_figures}")
    with app.app_context():
        drop_tenant(uuid.UUID(data["tenant_id"]))
    result = {"server": f"gunicorn {' '.join(GUNICORN)}", "users": args.users, "think_s": list(args.think),
              "seconds": round(seconds, 1),
              "data": {k: data[k] for k in ("leads", "activities", "enrollments", "messages")}, "churn": churn,
              "engine": engine_figures, "pages": rows}  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    try:
        main()
    except BenchFailed as error:
        raise SystemExit(f"bench_load: {error}") from None
