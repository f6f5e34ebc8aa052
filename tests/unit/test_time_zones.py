"""Zone names from outside: a real zone parses, anything else is refused with a message, never an OSError."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from nurture_ui.time_zones import UnknownZone, first_zone, parse_zone

HOSTILE_NAMES = [
    "",
    "x" * 300,  # zoneinfo: OSError "File name too long"
    "Europe/" + "B" * 250,
    "America",  # a directory of the zone database: IsADirectoryError
    "a\x00b",
    "../../etc/passwd",
    "/etc/localtime",
    "America/../Europe/Berlin",
    "Europe//Berlin",
    "Mars/Olympus",
    "\udc80",
    "Europe/Berlin ",
    None,
    42,
]


@pytest.mark.parametrize("name", ["UTC", "Europe/Berlin", "America/Argentina/Buenos_Aires", "Etc/GMT+5"])
def test_real_zones_parse(name):
    assert parse_zone(name) == ZoneInfo(name)


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_anything_else_is_refused_with_a_readable_message(name):
    with pytest.raises(UnknownZone, match="time zone"):
        parse_zone(name)


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_stored_values_fall_back_to_the_next_zone_then_utc(name):
    assert first_zone(name, "Europe/Berlin") == ZoneInfo("Europe/Berlin")
    assert first_zone(name, "America", None) == ZoneInfo("UTC")
