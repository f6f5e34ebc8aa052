"""The performance page's A/B tables: each variant's figures, rates with intervals, the verdict, the winner."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from nurture_ui.extensions import db
from nurture_ui.models import Activity, LeadReply, OutboundMessage
from nurture_ui.reports import DateRange, sequence_performance
from tests import factories

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
SENT = NOW - timedelta(days=5)


@pytest.fixture
def ab(tenant, clock):
    clock.set(NOW)
    factories.make_template(tenant, "intro")
    factories.make_template(tenant, "intro-b")
    return factories.make_sequence(
        tenant,
        name="Known A/B",
        status="active",
        steps=[
            {
                "template_id": "intro",
                "variants": [
                    {"template_id": "intro", "subject": "", "weight": 50},
                    {"template_id": "intro-b", "subject": "Quick question", "weight": 50},
                ],
            },
            {"template_id": "intro", "delay_hours": 72},
        ],
    )


def _sent(
    tenant,
    sequence,
    variant,
    *,
    status="sent",
    reply=None,
    reply_after=timedelta(hours=3),
    converted=False,
    next_step_at=None,
):
    """One enrollment whose step-1 email (``variant``) went at SENT, with an optional reply ``reply_after`` it."""
    lead = factories.make_lead(tenant, status="converted" if converted else "new")
    e = factories.make_enrollment(lead, sequence, enrolled_on=SENT - timedelta(hours=1), current_step_order=2)
    db.session.add(
        OutboundMessage(
            tenant_id=tenant.id, enrollment_id=e.id, step_order=1, lead_id=lead.id, sequence_id=sequence.id,
            to_email=lead.email, subject="s", body="b", status=status, variant=variant,
            message_id=f"<{uuid.uuid4()}@test>", created_at=SENT, queued_at=SENT,
            sent_at=SENT if status == "sent" else None,
        )
    )  # fmt: skip
    if next_step_at is not None:
        db.session.add(
            Activity(
                tenant_id=tenant.id, type="nurture_step_executed", lead_id=lead.id, enrollment_id=e.id,
                sequence_id=sequence.id, occurred_at=next_step_at, data={"step": 2},
            )
        )  # fmt: skip
    if reply:
        db.session.add(
            LeadReply(tenant_id=tenant.id, lead_id=lead.id, received_at=SENT + reply_after, sentiment=reply)
        )
    db.session.commit()


def _figures(sequence):
    p = sequence_performance(sequence, DateRange.parse("all", None, now=NOW), NOW)
    [test] = p.ab_tests
    return {v.letter: v for v in test.variants}, test


def test_each_variant_counts_its_sent_emails_replies_positive_replies_and_conversions(tenant, ab):
    _sent(tenant, ab, "A", reply="positive", converted=True)
    _sent(tenant, ab, "A", reply="out_of_office")  # not a conversation reply
    _sent(tenant, ab, "A", reply="neutral", reply_after=-timedelta(hours=1))  # before the email went
    _sent(tenant, ab, "A", status="queued")  # not sent yet
    _sent(tenant, ab, "B", reply="negative")
    _sent(tenant, ab, "B", reply="positive")
    _sent(tenant, ab, "B", reply="neutral", next_step_at=SENT + timedelta(hours=1))  # credited to step 2
    _sent(tenant, ab, "B", converted=True)
    figures, test = _figures(ab)
    a, b = figures["A"], figures["B"]
    assert (a.sent, a.replied, a.positive, a.converted) == (3, 1, 1, 1)
    assert (b.sent, b.replied, b.positive, b.converted) == (4, 2, 1, 1)
    assert round(a.reply_rate, 4) == 0.3333 and b.reply_rate == 0.5
    low, high = b.reply_interval
    assert (round(low, 4), round(high, 4)) == (0.1500, 0.8500)  # Wilson 2/4: 0.150-0.850
    assert test.comparison.sentence.startswith("Not enough evidence yet: B's reply rate is higher so far")


def test_the_page_shows_the_variant_table_the_verdict_and_the_winner_note(tenant, ab, login_as):
    for i in range(100):
        _sent(tenant, ab, "A", reply="neutral" if i < 6 else None)
        _sent(tenant, ab, "B", reply="neutral" if i < 20 else None)
    step = ab.steps[0]
    step.winner_variant, step.winner_declared_at = "B", NOW - timedelta(days=1)
    step.winner_evidence = {"rates": {"A": 0.063, "B": 0.121}, "p_value": 0.004, "min_sends": 100}
    db.session.commit()
    page = login_as("manager").get(f"/sequences/{ab.id}/performance?from=all").get_data(as_text=True)
    assert "data-variant-table" in page and 'data-variant="A"' in page and 'data-variant="B"' in page
    assert "B&#39;s reply rate is higher, significant at 95% (p = 0.003)." in page  # 20/100 vs 6/100
    assert "Winner: B since" in page and "— reply rate 12.1% vs 6.3%, p = 0.004" in page
    assert "Sun Mar 1, 10:00" in page  # the declaration in the reader's time (UTC here)
