"""The one clock of the core. Tests and the replay CLI move it; nothing else reads the system time."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

_frozen: datetime | None = None


def now() -> datetime:
    """The current instant, timezone-aware UTC."""
    return _frozen if _frozen is not None else datetime.now(UTC)


def set_now(instant: datetime | None) -> None:
    """Freeze the clock at ``instant`` (aware), or release it with ``None``."""
    global _frozen
    if instant is not None and instant.tzinfo is None:
        raise ValueError("the clock takes timezone-aware instants only")
    _frozen = instant.astimezone(UTC) if instant is not None else None


@contextmanager
def frozen_at(instant: datetime) -> Iterator[None]:
    previous = _frozen
    set_now(instant)
    try:
        yield
    finally:
        set_now(previous)
