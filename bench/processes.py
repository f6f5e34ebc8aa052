"""The processes a throughput benchmark runs: the SMTP sink, RQ workers, and a memory sampler watching them.

Memory is read from ``/proc`` (Linux): a worker is its process and the job process (or work horses) it forks,
so the sampler walks every worker's process tree twenty times a second, sums the trees' ``VmRSS`` and keeps the
highest sum (pages the two share after the fork count twice: an upper bound). CPU time per process comes from
``/proc/<pid>/stat``.
"""

from __future__ import annotations

import os
import signal
import smtplib
import subprocess
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


class SinkProcess:
    """``bench.smtp_sink`` in its own process on a free port; ``accepted()`` asks it how many it took."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.smtp_sink", "0"], cwd=ROOT, stdout=subprocess.PIPE, text=True
        )
        ready = self.process.stdout.readline().split()
        if not ready or ready[0] != "ready":
            self.process.kill()
            raise RuntimeError("the SMTP sink did not start")
        self.port = int(ready[1])
        self._control: smtplib.SMTP | None = None

    def accepted(self) -> int:
        if self._control is None:
            self._control = smtplib.SMTP("127.0.0.1", self.port, timeout=10)
        code, text = self._control.docmd("XCOUNT")
        if code != 250:
            raise RuntimeError(f"the SMTP sink answered {code} {text!r}")
        return int(text)

    def stop(self) -> None:
        if self._control is not None:
            self._control.close()
        stop_process(self.process)


def start_processes(command: list[str], count: int, env: dict[str, str], log: Path) -> list[subprocess.Popen]:
    """``count`` copies of ``command`` run from the repository root, each its own process group leader,
    their output appended to ``log`` (a pipe nobody reads would fill and stop them)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        return [
            subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=out, start_new_session=True)
            for _ in range(count)
        ]


def stop_process(process: subprocess.Popen, timeout: float = 10) -> None:
    """SIGTERM (RQ's warm shutdown), then SIGKILL to the process's whole group if it lingers."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                process.kill()
            process.wait(timeout)
    if process.stdout is not None:
        process.stdout.close()


def rss_kib(pid: int) -> int:
    """The process's resident set size now (``VmRSS``) in KiB, 0 if it is gone."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return 0


def cpu_seconds(pid: int) -> float | None:
    """User plus system CPU time the process has used so far (``/proc/<pid>/stat``), None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, PermissionError, IndexError):
        return None
    # After the command name: state is field 3, utime 14 and stime 15 (1-based, man 5 proc).
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def descendants(pid: int) -> list[int]:
    """Every live process below ``pid`` (children, grandchildren …), from ``/proc/<pid>/task/*/children``."""
    found, pending = [], [pid]
    while pending:
        parent = pending.pop()
        try:
            tasks = os.listdir(f"/proc/{parent}/task")
        except (FileNotFoundError, ProcessLookupError):
            continue
        for task in tasks:
            try:
                with open(f"/proc/{parent}/task/{task}/children") as children:
                    kids = [int(c) for c in children.read().split()]
            except (FileNotFoundError, ProcessLookupError):
                continue
            found.extend(kids)
            pending.extend(kids)
    return found


class MemorySampler:
    """Watches process trees in a thread. At each sample a tree's memory is the sum of the resident set sizes
    (``VmRSS``) of every process in it (a worker and its job process together); ``peaks_mib()`` gives each
    tree's highest such sum.

    With ``cpu_roles`` (a callable returning ``{role: [pid, …]}``, asked at each sample: PostgreSQL's
    backends come and go) it also keeps the CPU time of every process seen, by role: the worker trees are
    the roles ``worker`` (the parents) and ``job process`` (their children); ``cpu_by_role()`` sums each
    role's CPU seconds over the sampling (a process that exits between two samples loses its last
    interval, so short samples keep that small)."""

    def __init__(self, pids: list[int], interval: float = 0.05, cpu_roles=None) -> None:
        self.pids = list(pids)
        self.interval = interval
        self.peaks_kib = dict.fromkeys(self.pids, 0)
        self.cpu_roles = cpu_roles
        self._cpu_first: dict[tuple[str, int], float] = {}
        self._cpu_last: dict[tuple[str, int], float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> MemorySampler:
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()

    def sample(self) -> None:
        roles: dict[str, list[int]] = {"worker": [], "job process": []}
        for root in self.pids:
            children = descendants(root)
            total = sum(rss_kib(pid) for pid in (root, *children))
            self.peaks_kib[root] = max(self.peaks_kib[root], total)
            roles["worker"].append(root)
            roles["job process"].extend(children)
        if self.cpu_roles is None:
            return
        for role, pids in {**roles, **self.cpu_roles()}.items():
            for pid in pids:
                seconds = cpu_seconds(pid)
                if seconds is not None:
                    self._cpu_first.setdefault((role, pid), seconds)
                    self._cpu_last[(role, pid)] = seconds

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def peaks_mib(self) -> list[float]:
        return [round(self.peaks_kib[p] / 1024, 1) for p in self.pids]

    def cpu_by_role(self) -> dict[str, float]:
        """CPU seconds used while sampling, summed by role (a process first seen mid-run counts from then)."""
        totals: dict[str, float] = {}
        for (role, pid), last in self._cpu_last.items():
            totals[role] = totals.get(role, 0.0) + last - self._cpu_first[(role, pid)]
        return {role: round(seconds, 2) for role, seconds in totals.items()}
