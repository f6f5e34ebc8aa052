"""Sequence performance: every chart's numbers against a cohort built with known counts.

The cohort (sequence "Known": step 1 email needing approval, step 2 email, step 3 task), enrolled in Feb 2026:

    e1 e2 e3  completed: every step ran (e2's lead replied, neutral, after step 2; e3's lead converted later)
    e4        step 1 ran, positive reply → exited positive_reply
    e5        steps 1-2 ran → lead converted, exited converted
    e6        step 1 draft rejected (step skipped) → exited unsubscribed
    e7        step 1 ran, step 2 skipped (conditions) → active at step 3
    e8        paused: step 1 draft waits for approval
    e9        positive reply before any step → exited positive_reply
    e10       active at step 1, nothing ran yet (an out-of-office reply, which is not a conversation reply)

plus one enrollment from November (outside the default range) and one in another sequence.
Step-1 drafts waited 2, 4, 6, 1, 3, 10 (rejected), 8 hours: approval rate 6/7, median 4 h.
"""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from nurture_ui.extensions import db
from nurture_ui.models import Activity, Enrollment, LeadReply, OutboundMessage
from nurture_ui.reports import DateRange, csv_rows, sequence_performance
from tests import factories

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
FEB = DateRange.parse("2026-02-15", "2026-03-02", now=NOW)


def day(d: int, hour: int = 10) -> datetime:
    """February ``d`` (or March for d > 28) at ``hour`` UTC."""
    return datetime(2026, 2, 1, hour, tzinfo=UTC) + timedelta(days=d - 1)


class Cohort:
    def __init__(self, tenant):
        self.tenant = tenant
        self.sequence = factories.make_sequence(
            tenant,
            name="Known",
            status="active",
            steps=[
                {"channel": "email", "template_id": "intro", "requires_human_approval": True},
                {"channel": "email", "template_id": "intro", "delay_hours": 48},
                {"channel": "task", "delay_hours": 48, "instructions": "Call them"},
            ],
        )

    def enroll(
        self, enrolled_on, status="active", step=1, exit_reason=None, lead_status="new", sequence=None
    ):
        lead = factories.make_lead(self.tenant, status=lead_status)
        e = factories.make_enrollment(
            lead,
            sequence or self.sequence,
            enrolled_on=enrolled_on,
            status=status,
            current_step_order=step,
            exit_reason=exit_reason,
            ended_on=enrolled_on + timedelta(days=6) if status in ("completed", "exited") else None,
        )
        return e

    def ran(self, e, step, at, skipped=False):
        data = {"step": step, **({"outcome": "skipped"} if skipped else {})}
        db.session.add(
            Activity(
                tenant_id=e.tenant_id,
                type="nurture_step_executed",
                lead_id=e.lead_id,
                enrollment_id=e.id,
                sequence_id=e.sequence_id,
                occurred_at=at,
                data=data,
            )
        )
        db.session.commit()

    def message(self, e, step, status, created, waited_hours=None):
        db.session.add(
            OutboundMessage(
                tenant_id=e.tenant_id,
                enrollment_id=e.id,
                step_order=step,
                lead_id=e.lead_id,
                sequence_id=e.sequence_id,
                to_email="x@example.test",
                subject="Hello",
                body="Hi",
                status=status,
                review_reason="the step requires human approval"
                if waited_hours is not None or status == "pending_approval"
                else None,
                reviewed_at=created + timedelta(hours=waited_hours) if waited_hours is not None else None,
                message_id=f"<{uuid.uuid4()}@test>",
                created_at=created,
                updated_at=created,
                sent_at=created + timedelta(hours=(waited_hours or 0) + 0.1) if status == "sent" else None,
            )
        )
        db.session.commit()

    def reply(self, e, at, sentiment):
        db.session.add(
            LeadReply(tenant_id=e.tenant_id, lead_id=e.lead_id, received_at=at, sentiment=sentiment)
        )
        db.session.commit()


@pytest.fixture
def cohort(tenant, clock):
    clock.set(NOW)
    c = Cohort(tenant)
    e = {}
    for i, (d, status, step, reason) in enumerate(
        [
            (20, "completed", 3, None),
            (20, "completed", 3, None),
            (20, "completed", 3, None),
            (20, "exited", 1, "positive_reply"),
            (22, "exited", 2, "converted"),
            (22, "exited", 1, "unsubscribed"),
            (22, "active", 3, None),
            (25, "paused", 1, None),
            (25, "exited", 1, "positive_reply"),
            (25, "active", 1, None),
        ],
        start=1,
    ):
        e[i] = c.enroll(day(d), status, step, reason, lead_status="converted" if i in (3, 5) else "new")
    waits = {1: 2, 2: 4, 3: 6, 4: 1, 5: 3, 6: 10, 7: 8}
    for i, hours in waits.items():
        start = e[i].enrolled_on
        c.message(e[i], 1, "rejected" if i == 6 else "sent", start, waited_hours=hours)
        c.ran(e[i], 1, start + timedelta(hours=hours), skipped=(i == 6))
    c.message(e[8], 1, "pending_approval", e[8].enrolled_on)
    for i in (1, 2, 3, 5):
        at = e[i].enrolled_on + timedelta(days=2)
        c.message(e[i], 2, "failed" if i == 3 else "sent", at)
        c.ran(e[i], 2, at)
    c.ran(e[7], 2, e[7].enrolled_on + timedelta(days=2), skipped=True)
    for i in (1, 2, 3):
        c.ran(e[i], 3, e[i].enrolled_on + timedelta(days=4))
    c.reply(e[4], e[4].enrolled_on + timedelta(days=1), "positive")
    c.reply(e[2], e[2].enrolled_on + timedelta(days=3), "neutral")
    c.reply(e[9], e[9].enrolled_on + timedelta(hours=1), "positive")
    c.reply(e[10], e[10].enrolled_on + timedelta(hours=1), "out_of_office")
    c.reply(e[1], e[1].enrolled_on + timedelta(days=20), "positive")  # after e1 ended: not counted
    # Outside the range, and another sequence: neither may leak into the figures.
    old = c.enroll(datetime(2025, 11, 3, 10, tzinfo=UTC), "completed", 3)
    c.ran(old, 1, old.enrolled_on + timedelta(hours=1))
    other = factories.make_sequence(tenant, status="active", steps=[{"channel": "email"}])
    stranger = c.enroll(day(21), "exited", 1, "converted", sequence=other)
    c.ran(stranger, 1, stranger.enrolled_on)
    c.e = e
    return c


def test_funnel_counts_each_stage(cohort):
    p = sequence_performance(cohort.sequence, FEB, NOW)
    assert p.funnel == [
        ("Enrolled", 10),
        ("Reached step 1", 7),
        ("Reached step 2", 5),
        ("Reached step 3", 3),
        ("Replied", 3),
        ("Converted", 2),
    ]
    h = p.headline
    assert (h.enrolled, h.running, h.completed, h.exited) == (10, 3, 3, 4)


def test_exits_are_counted_by_reason(cohort):
    p = sequence_performance(cohort.sequence, FEB, NOW)
    assert p.exits == [("positive_reply", 2), ("converted", 1), ("unsubscribed", 1)]


def test_step_figures(cohort):
    p = sequence_performance(cohort.sequence, FEB, NOW)
    first, second, third = p.steps
    assert (first.reached, first.executed, first.skipped, first.sent) == (7, 6, 1, 6)
    assert (first.reviewed, first.approved, first.rejected, first.pending) == (7, 6, 1, 1)
    assert first.approval_rate == 85.7
    assert first.median_wait_seconds == pytest.approx(4 * 3600, abs=1)
    assert first.replies_after == 1
    assert (second.reached, second.executed, second.skipped, second.sent) == (5, 4, 1, 3)
    assert second.approval_rate is None and second.median_wait_seconds is None
    assert second.replies_after == 1
    assert (third.reached, third.executed, third.skipped, third.replies_after) == (3, 3, 0, 0)
    assert p.replies_before_first_step == 1


@pytest.mark.parametrize(
    "span", [FEB, DateRange.parse("all", "2026-03-02", now=NOW)], ids=["range", "all time"]
)
def test_each_reply_is_credited_to_the_last_step_that_ran_before_it(cohort, span):
    e7 = cohort.e[7]  # step 1 ran 8 h after enrolling, step 2 was skipped on day 2
    cohort.reply(e7, e7.enrolled_on + timedelta(days=1), "neutral")
    cohort.reply(e7, e7.enrolled_on + timedelta(days=3), "negative")  # after the skip: still step 1's
    p = sequence_performance(cohort.sequence, span, NOW)
    assert [f.replies_after for f in p.steps] == [3, 1, 0]
    assert p.replies_before_first_step == 1
    assert p.headline.replied == 4  # e7 once, however often its lead replied


def test_median_of_an_even_number_of_waits_is_the_mean_of_the_middle_two(cohort):
    cohort.message(cohort.e[10], 1, "sent", cohort.e[10].enrolled_on, waited_hours=12)
    p = sequence_performance(cohort.sequence, FEB, NOW)
    assert p.steps[0].median_wait_seconds == pytest.approx(5 * 3600, abs=1)  # waits 1 2 3 4 6 8 10 12


def test_enrollments_over_time_by_day_with_empty_days(cohort):
    p = sequence_performance(cohort.sequence, FEB, NOW)
    assert p.bucket == "day"
    counts = {d.isoformat(): n for d, n in p.over_time}
    assert len(p.over_time) == 16  # Feb 15 … Mar 2
    assert counts["2026-02-20"] == 4 and counts["2026-02-22"] == 3 and counts["2026-02-25"] == 3
    assert sum(counts.values()) == 10


def test_all_time_includes_older_enrollments_and_groups_by_week(cohort):
    p = sequence_performance(cohort.sequence, DateRange.parse("all", "2026-03-02", now=NOW), NOW)
    assert p.headline.enrolled == 11
    assert p.funnel[1] == ("Reached step 1", 8)
    assert p.bucket == "week"
    weeks = {d.isoformat(): n for d, n in p.over_time}
    assert weeks["2025-11-03"] == 1 and weeks["2026-02-16"] == 7 and weeks["2026-02-23"] == 3
    assert all(d.weekday() == 0 for d, _ in p.over_time)


def test_a_range_without_enrollments_has_zeros(cohort):
    p = sequence_performance(cohort.sequence, DateRange.parse("2025-06-01", "2025-06-30", now=NOW), NOW)
    assert p.headline.enrolled == 0
    assert [n for _, n in p.funnel] == [0] * 6
    assert p.exits == [] and sum(n for _, n in p.over_time) == 0


def test_date_range_parsing_defaults_and_bad_input():
    default = DateRange.parse(None, None, now=NOW)
    assert default.first_day.isoformat() == "2025-12-03" and default.last_day.isoformat() == "2026-03-02"
    assert DateRange.parse("nonsense", "2026-02-30", now=NOW) == default
    swapped = DateRange.parse("2026-02-10", "2026-02-01", now=NOW)
    assert swapped.first_day.isoformat() == "2026-02-01" and swapped.last_day.isoformat() == "2026-02-10"


def test_performance_page_shows_the_figures_and_charts(cohort, login_as):
    client = login_as("manager", cohort.tenant)
    html = client.get(f"/sequences/{cohort.sequence.id}/performance?from=2026-02-15&to=2026-03-02").get_data(
        as_text=True
    )
    assert 'data-figure="enrolled">10<' in html and 'data-figure="converted">2<' in html
    assert html.count('<svg class="chart') == 4
    assert "Reached step 2: 5" in html  # the funnel bar's tooltip
    assert "The lead replied positively: 2" in html
    assert "85.7%" in html and "4.0 h" in html
    # charts come before the tables
    assert html.index("<svg") < html.index('id="step-figures"')


@pytest.mark.parametrize("chart", ["funnel", "exits", "steps", "over_time"])
def test_csv_export_carries_the_numbers_of_each_chart(cohort, login_as, chart):
    client = login_as("marketer", cohort.tenant)
    response = client.get(
        f"/sequences/{cohort.sequence.id}/performance.csv?chart={chart}&from=2026-02-15&to=2026-03-02"
    )
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    expected = csv_rows(sequence_performance(cohort.sequence, FEB, NOW), chart)
    assert rows == [[str(v) for v in row] for row in expected]
    if chart == "funnel":
        assert rows[1:] == [
            ["Enrolled", "10"],
            ["Reached step 1", "7"],
            ["Reached step 2", "5"],
            ["Reached step 3", "3"],
            ["Replied", "3"],
            ["Converted", "2"],
        ]
    if chart == "steps":
        assert rows[1][:6] == ["1", "email", "7", "6", "1", "6"] and rows[1][10:] == ["85.7", "4.0", "1"]


def test_csv_of_an_unknown_chart_is_404(cohort, login_as):
    client = login_as("admin", cohort.tenant)
    assert client.get(f"/sequences/{cohort.sequence.id}/performance.csv?chart=nope").status_code == 404


def test_reps_do_not_open_performance_pages(cohort, login_as):
    assert (
        login_as("rep", cohort.tenant).get(f"/sequences/{cohort.sequence.id}/performance").status_code == 403
    )


def test_sequences_list_and_builder_link_to_performance(cohort, login_as):
    client = login_as("manager", cohort.tenant)
    link = f"/sequences/{cohort.sequence.id}/performance"
    assert link in client.get("/sequences/").get_data(as_text=True)
    assert link in client.get(f"/sequences/{cohort.sequence.id}").get_data(as_text=True)
    assert link not in login_as("rep", cohort.tenant).get("/sequences/").get_data(as_text=True)


def test_enrollments_count_in_the_cohort_regardless_of_status(cohort):
    assert db.session.query(Enrollment).count() == 12
