"""What bounds the engine: CPU per process role and WAL during a run, and the sentence the report draws.

``PostgresWatch`` lists the PostgreSQL backends serving the benchmark's database (for the CPU sampler) and
reads ``pg_stat_wal`` before and after a run (cluster-wide: on a shared server other databases' writes
count too). ``bound_by`` turns the measurements into one sentence.
"""

from __future__ import annotations

WAL_COLUMNS = ("wal_records", "wal_fpi", "wal_bytes", "wal_buffers_full", "wal_write", "wal_sync")
BUSY_CORE = 0.9  # a process role this busy per process is CPU-bound
BUSY_MACHINE = 0.85  # share of all cores busy that makes the machine the bound
BUSY_COMMITS = 0.8  # share of the storage's commit rate that makes commits the bound


class PostgresWatch:
    """A connection of its own to the benchmark's database: its backends' pids and ``pg_stat_wal``."""

    def __init__(self, database_url: str) -> None:
        import psycopg
        from sqlalchemy.engine import make_url

        url = make_url(database_url)
        self.database = url.database
        plain = url.set(drivername="postgresql").render_as_string(hide_password=False)
        self.connection = psycopg.connect(plain, autocommit=True)
        self.own_pid = self.connection.info.backend_pid

    def backend_pids(self) -> list[int]:
        rows = self.connection.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> %s", (self.database, self.own_pid)
        ).fetchall()
        return [pid for (pid,) in rows]

    def wal(self) -> dict[str, float]:
        row = self.connection.execute(f"SELECT {', '.join(WAL_COLUMNS)} FROM pg_stat_wal").fetchone()
        return {name: float(value) for name, value in zip(WAL_COLUMNS, row, strict=True)}

    def close(self) -> None:
        self.connection.close()


def cpu_times() -> tuple[float, float]:
    """The machine's (busy, total) CPU time so far, in clock ticks over all cores (``/proc/stat``)."""
    with open("/proc/stat") as stat:
        fields = [float(v) for v in stat.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle and iowait
    return sum(fields) - idle, sum(fields)


def machine_busy(before: tuple[float, float], after: tuple[float, float], cores: int) -> float:
    """Cores busy on the whole machine between two ``cpu_times`` readings (every process, ours or not)."""
    total = after[1] - before[1]
    return (after[0] - before[0]) / total * cores if total > 0 else 0.0


def wal_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {name: after[name] - before[name] for name in before}


def bound_by(*, seconds: float, cores: int, workers: int, cpu: dict[str, float], commits_per_s: float | None,
             commit_ceiling: float | None, machine: float | None = None) -> str:  # fmt: skip
    """The sentence "bound by …" from a run's measurements: CPU seconds by role (``worker``, ``job process``,
    ``PostgreSQL``, ``SMTP server`` …) over ``seconds`` of wall time on ``cores`` cores, the engine's
    commits/s beside the storage's commit rate, and ``machine``, the cores busy on the whole machine (other
    people's processes included) meanwhile."""
    busy = {role: used / seconds for role, used in cpu.items() if seconds > 0}
    total = sum(busy.values())
    shares = ", ".join(f"{role} {value:.2f}" for role, value in sorted(busy.items(), key=lambda kv: -kv[1]))
    per_worker = (busy.get("worker", 0) + busy.get("job process", 0)) / max(workers, 1)
    if machine is not None and machine >= BUSY_MACHINE * cores and total < BUSY_MACHINE * cores:
        return (f"bound by the machine's CPU, shared: {machine:.2f} of {cores} cores busy, {total:.2f} of them the "
                f"engine's processes ({shares}; cores busy by role), the rest other programs")  # fmt: skip
    if total >= BUSY_MACHINE * cores:
        top = max(busy, key=busy.get)
        return (f"bound by the machine's CPU: {total:.2f} of {cores} cores busy ({shares}; cores busy by role), "
                f"most of it {top}")  # fmt: skip
    if per_worker >= BUSY_CORE:
        return (
            f"bound by worker CPU: each worker and its job process use {per_worker:.0%} of a core ({shares})"
        )
    if commits_per_s and commit_ceiling and commits_per_s >= BUSY_COMMITS * commit_ceiling:
        return (f"bound by WAL flushes: {commits_per_s:,.0f} commits/s against the storage's "
                f"{commit_ceiling:,.0f} ({shares})")  # fmt: skip
    return (f"bound by neither CPU ({total:.2f} of {cores} cores busy: {shares}) nor commits: the time goes to "
            "waiting (ticks, Redis, SMTP round trips)")  # fmt: skip
