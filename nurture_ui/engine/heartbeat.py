"""When the dispatcher last ran: a small Redis key each scheduler tick writes and the overview reads.

A heartbeat is a hint for people, never state the engine relies on: losing it (or Redis) loses nothing,
and failing to write it never fails a tick.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime

from redis.exceptions import RedisError

from nurture_ui import clock
from nurture_ui.extensions import get_redis

log = logging.getLogger(__name__)

DISPATCH_KEY = "nurture:heartbeat:dispatch"
# Kept a day: an engine silent for longer shows as "not seen in the last day".
TTL_SECONDS = 86_400


@dataclass(frozen=True)
class Heartbeat:
    at: datetime
    claimed: int


def record_dispatch(claimed: int, at: datetime | None = None) -> None:
    """Note that a dispatcher tick ran now and claimed ``claimed`` enrollments."""
    at = at or clock.now()
    try:
        get_redis().set(DISPATCH_KEY, json.dumps({"at": at.isoformat(), "claimed": claimed}), ex=TTL_SECONDS)
    except RedisError:
        log.warning("could not record the dispatch heartbeat", exc_info=True)


def last_dispatch() -> Heartbeat | None:
    """The last tick noted, or None when none was in the last day (or Redis cannot be read)."""
    try:
        raw = get_redis().get(DISPATCH_KEY)
    except RedisError:
        return None
    if not raw:
        return None
    value = json.loads(raw)
    return Heartbeat(at=datetime.fromisoformat(value["at"]), claimed=int(value.get("claimed", 0)))
