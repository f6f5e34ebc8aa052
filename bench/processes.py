"""The processes a throughput benchmark runs: the SMTP sink, RQ workers, and a memory sampler watching them.

Memory is read from ``/proc`` (Linux): ``VmHWM`` is a process's peak resident set size. A forking RQ worker
runs each job in a short-lived work horse, so the sampler walks every worker's process tree a few times a
second and keeps the highest ``VmHWM`` it sees in each tree (the worker's own is read again at the end).
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


def peak_rss_kib(pid: int) -> int:
    """The process's peak resident set size (``VmHWM``) in KiB, 0 if it is gone."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return 0


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
    """Watches process trees in a thread; ``peaks_mib()`` gives each tree's highest single-process peak RSS."""

    def __init__(self, pids: list[int], interval: float = 0.05) -> None:
        self.pids = list(pids)
        self.interval = interval
        self.peaks_kib = dict.fromkeys(self.pids, 0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.sample()
        self._stop.set()
        self._thread.join()

    def sample(self) -> None:
        for root in self.pids:
            for pid in (root, *descendants(root)):
                self.peaks_kib[root] = max(self.peaks_kib[root], peak_rss_kib(pid))

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def peaks_mib(self) -> list[float]:
        return [round(self.peaks_kib[p] / 1024, 1) for p in self.pids]
