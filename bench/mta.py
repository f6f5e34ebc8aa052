"""Debian's exim4 as the engine's SMTP server, spooling every message to disk and delivering none onward,
and a plain SMTP load generator measuring exim's own accept rate.

``QueueingExim`` starts exim (``-bdf``, no queue runner) on a free 127.0.0.1 port with ``queue_only``: each
message is written to the spool (``input/*-H`` and ``*-D``, which exim syncs to disk before its 250) and
stays there. ``accepted()`` counts the spooled messages. Run as root, exim runs as ``nobody`` (as in
``tests/mail_servers.py``, whose helpers this reuses).

``accept_rate`` is the load generator: ``connections`` processes, each sending its share of ``messages``
over one SMTP connection with ``smtplib`` (MAIL, RCPT, DATA per message), messages of ``size`` bytes.

    .venv/bin/python -m bench.mta [--connections 4] [--messages 2000] [--size 900]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import smtplib
import subprocess
import tempfile
import time
from pathlib import Path

from tests.mail_servers import EXIM, _chown_tree, _run_as, _server_ids, _wait_for_port, free_port

EXIM_QUEUE_CONF = """\
# exim for the benchmark: accepts every message on 127.0.0.1:{port}, spools it to disk, delivers nothing.
primary_hostname = bench.test
qualify_domain = bench.test
local_interfaces = 127.0.0.1
spool_directory = {root}/spool
log_file_path = {root}/%slog
pid_file_path = {root}/exim.pid
exim_user = {user}
exim_group = {group}
keep_environment =
never_users =
trusted_users = {user}
host_lookup =
rfc1413_hosts =
queue_only = true
smtp_accept_max = 100
smtp_accept_max_per_connection = 0
smtp_accept_queue_per_connection = 0
message_size_limit = 20M
acl_smtp_rcpt = accept
tls_advertise_hosts =

begin routers

keep_queued:
  driver = redirect
  data = :blackhole:
"""


class QueueingExim:
    def __init__(self) -> None:
        import grp
        import pwd

        if not os.path.exists(EXIM):
            raise RuntimeError("exim4 is not installed (make mail-servers)")
        self.root = Path(tempfile.mkdtemp(prefix="nurture-exim-"))
        (self.root / "spool" / "input").mkdir(parents=True)
        self.port = free_port()
        uid, gid = _server_ids()
        (self.root / "exim.conf").write_text(EXIM_QUEUE_CONF.format(
            root=self.root, port=self.port, user=pwd.getpwuid(uid).pw_name, group=grp.getgrgid(gid).gr_name))  # fmt: skip
        os.chmod(self.root, 0o755)
        _chown_tree(self.root)
        self.process = subprocess.Popen(
            [EXIM, "-C", str(self.root / "exim.conf"), "-bdf", "-oX", str(self.port)],
            stdout=open(self.root / "stdout.log", "wb"),  # noqa: SIM115 (closed with the process)
            stderr=subprocess.STDOUT,
            **_run_as(),
        )
        _wait_for_port(self.port, self.process, self.root / "mainlog")

    def accepted(self) -> int:
        """Messages in the spool (one ``-H`` file each)."""
        with os.scandir(self.root / "spool" / "input") as entries:
            return sum(1 for entry in entries if entry.name.endswith("-H"))

    def mean_message_bytes(self) -> int:
        """The spooled messages' mean size (header file plus data file)."""
        sizes = [p.stat().st_size + p.with_name(p.name[:-2] + "-D").stat().st_size
                 for p in (self.root / "spool" / "input").glob("*-H")]  # fmt: skip
        return int(sum(sizes) / len(sizes)) if sizes else 0

    def pids(self) -> list[int]:
        from bench.processes import descendants

        return [self.process.pid, *descendants(self.process.pid)]

    def clear(self) -> None:
        for path in (self.root / "spool" / "input").iterdir():
            path.unlink(missing_ok=True)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        shutil.rmtree(self.root, ignore_errors=True)


def _send_share(port: int, count: int, size: int, index: int) -> None:
    body = ("A short note about what we do. " * (size // 31 + 1))[: max(size - 300, 10)]
    with smtplib.SMTP("127.0.0.1", port, timeout=60) as smtp:
        for n in range(count):
            data = (f"From: bench@bench.test\r\nTo: lead{index}-{n}@example.test\r\nSubject: Hi {n}\r\n"
                    f"Message-ID: <{index}.{n}.{time.time_ns()}@bench.test>\r\n\r\n{body}\r\n")  # fmt: skip
            smtp.sendmail("bench@bench.test", [f"lead{index}-{n}@example.test"], data.encode())


def accept_rate(port: int, *, connections: int, messages: int, size: int) -> dict:
    """Messages/s the server at ``port`` accepts from ``connections`` parallel SMTP connections."""
    share = -(-messages // connections)
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_send_share, args=(port, share, size, i)) for i in range(connections)]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
        if worker.exitcode != 0:
            raise RuntimeError(f"an SMTP load process exited with {worker.exitcode}")
    seconds = time.perf_counter() - started
    return {"connections": connections, "messages": share * connections, "size": size,
            "seconds": round(seconds, 2), "messages_per_s": round(share * connections / seconds, 1)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--connections", default="1,2,4")
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--size", type=int, default=900)
    args = parser.parse_args()
    exim = QueueingExim()
    try:
        for connections in [int(c) for c in args.connections.split(",")]:
            print(accept_rate(exim.port, connections=connections, messages=args.messages, size=args.size))
            exim.clear()
    finally:
        exim.stop()


if __name__ == "__main__":
    main()
