"""Time zone names from outside (a form, the API, a CSV file, a stored policy) turned into ``ZoneInfo``.

``zoneinfo`` reads a name as a path under its data directory, so a hostile name fails in ways its own
errors don't cover: a 300-character name raises ``OSError`` (file name too long), a directory such as
"America" raises ``IsADirectoryError``. Every place that reads a zone name goes through ``parse_zone``
(refuses with ``UnknownZone``) or ``first_zone`` (falls back), so none of them can raise anything else.
"""

from __future__ import annotations

import re
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

# As long as the leads.timezone column; the longest IANA name is 32 characters.
MAX_ZONE_NAME = 64
# IANA names: letters, digits, "_", "-", "+", joined by single slashes ("America/Argentina/Buenos_Aires",
# "Etc/GMT+5"). No dots, so no "..", no leading slash, no NUL.
_ZONE_NAME = re.compile(r"[A-Za-z0-9_+\-]+(?:/[A-Za-z0-9_+\-]+)*")
UTC_ZONE = ZoneInfo("UTC")


class UnknownZone(ValueError):
    """The name is not a time zone; the message says so in words a person can act on."""


def parse_zone(name: object) -> ZoneInfo:
    """The zone called ``name``. Raises ``UnknownZone`` (a ``ValueError``) for anything else: empty, too
    long, not shaped like a zone name, or not in the zone database. Never raises another error."""
    if not isinstance(name, str) or not name:
        raise UnknownZone("Choose a time zone, e.g. Europe/Berlin.")
    if len(name) > MAX_ZONE_NAME or not _ZONE_NAME.fullmatch(name):
        raise UnknownZone("That is not a time zone name (e.g. Europe/Berlin).")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise UnknownZone(f"There is no time zone called {name}.") from None


def first_zone(*names: str | None) -> ZoneInfo:
    """The first of ``names`` that is a real zone, else UTC: for reading stored values, which must never
    stop the engine or a page (a bad value saved before the checks existed falls back quietly)."""
    for name in names:
        if name:
            try:
                return parse_zone(name)
            except UnknownZone:
                continue
    return UTC_ZONE


@cache
def zone_names() -> tuple[str, ...]:
    """The zone names a person chooses from: the IANA regions ("Asia/Tokyo") and "UTC", sorted; the
    legacy aliases ("Japan", "EST5EDT") stay readable but are not offered."""
    return tuple(sorted(z for z in available_timezones() if "/" in z or z == "UTC"))
