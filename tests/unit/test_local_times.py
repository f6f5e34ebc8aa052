"""Times in the reader's zone and the lead's wall clock beside them (nurture_ui.local_times)."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from zoneinfo import ZoneInfo

from nurture_ui import clock
from nurture_ui.local_times import lead_clock, lead_zone, moment, moment_in_full, place_name, viewer_zone

TOKYO = ZoneInfo("Asia/Tokyo")
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def _tenant(zone: str | None):
    return SimpleNamespace(policy_value=lambda key: zone)


def test_a_9am_send_to_a_tokyo_lead_reads_as_9am_tokyo_not_midnight_utc():
    send = datetime(2026, 12, 7, 0, 0, tzinfo=UTC)
    with clock.frozen_at(datetime(2026, 12, 1, tzinfo=UTC)):
        assert moment(send, TOKYO) == "Mon Dec 7, 09:00"
        assert moment(send, BERLIN) == "Mon Dec 7, 01:00"
    assert lead_clock(send, TOKYO, BERLIN) == "09:00 Tokyo"


def test_the_lead_clock_names_the_weekday_when_the_lead_is_on_another_day():
    instant = datetime(2026, 12, 7, 0, 30, tzinfo=UTC)  # Sun 19:30 in New York, Mon 09:30 in Tokyo
    assert lead_clock(instant, TOKYO, NEW_YORK) == "Mon 09:30 Tokyo"
    assert lead_clock(instant, NEW_YORK, TOKYO) == "Sun 19:30 New York"


def test_the_lead_clock_is_left_out_when_it_shows_what_the_reader_sees():
    instant = datetime(2026, 12, 7, 12, tzinfo=UTC)
    assert lead_clock(instant, BERLIN, BERLIN) == ""
    assert lead_clock(instant, ZoneInfo("Europe/Paris"), BERLIN) == ""  # another name, the same clock


def test_across_a_dst_change_the_same_utc_hour_reads_one_hour_apart():
    # New York leaves DST on Sun Nov 1 2026 at 02:00: 13:00 UTC is 09:00 before and 08:00 after.
    before = datetime(2026, 10, 31, 13, tzinfo=UTC)
    after = datetime(2026, 11, 2, 13, tzinfo=UTC)
    with clock.frozen_at(datetime(2026, 10, 1, tzinfo=UTC)):
        assert moment(before, NEW_YORK) == "Sat Oct 31, 09:00"
        assert moment(after, NEW_YORK) == "Mon Nov 2, 08:00"
    assert moment_in_full(before, NEW_YORK) == "2026-10-31 09:00 EDT (America/New_York)"
    assert moment_in_full(after, NEW_YORK) == "2026-11-02 08:00 EST (America/New_York)"
    # Berlin changed a week earlier: in the week between, New York is 5 hours behind, not 6.
    assert lead_clock(before, NEW_YORK, BERLIN) == "09:00 New York"


def test_another_year_is_written_out():
    with clock.frozen_at(datetime(2027, 1, 5, tzinfo=UTC)):
        assert moment(datetime(2026, 12, 31, 23, tzinfo=UTC), UTC) == "Dec 31, 2026 23:00"
        # The year is the reader's: in Tokyo that instant is already 2027.
        assert moment(datetime(2026, 12, 31, 23, tzinfo=UTC), TOKYO) == "Fri Jan 1, 08:00"


def test_zone_names_read_as_places():
    assert place_name(ZoneInfo("America/Argentina/Buenos_Aires")) == "Buenos Aires"
    assert place_name(ZoneInfo("Etc/GMT+5")) == "GMT+5"
    assert place_name(ZoneInfo("UTC")) == "UTC"


def test_the_reader_zone_is_their_own_else_the_tenants_else_utc():
    tenant = SimpleNamespace(policy_value=lambda key: "Europe/Berlin")
    assert viewer_zone(SimpleNamespace(timezone="Asia/Tokyo", tenant=tenant)) == TOKYO
    assert viewer_zone(SimpleNamespace(timezone=None, tenant=tenant)) == BERLIN
    # A stored value from before the checks existed falls back rather than breaking the page.
    assert viewer_zone(SimpleNamespace(timezone="Mars/Olympus", tenant=tenant)) == BERLIN
    assert viewer_zone(SimpleNamespace(timezone=None, tenant=_tenant(None))) == ZoneInfo("UTC")
    assert viewer_zone(None) == ZoneInfo("UTC")


def test_a_lead_without_a_zone_lives_in_the_tenants():
    assert lead_zone(SimpleNamespace(timezone="Asia/Tokyo"), _tenant("Europe/Berlin")) == TOKYO
    assert lead_zone(SimpleNamespace(timezone=None), _tenant("Europe/Berlin")) == BERLIN
