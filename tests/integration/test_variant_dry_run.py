"""The dry run splits an A/B step's emails by variant, and gives every lead the winner once one is declared."""

from __future__ import annotations

from nurture_ui import simulation
from nurture_ui.extensions import db
from tests import factories

AB_STEP = {
    "channel": "email",
    "template_id": "intro",
    "variants": [
        {"template_id": "intro", "subject": "", "weight": 50},
        {"template_id": "intro-b", "subject": "Quick question", "weight": 50},
    ],
}


def test_the_dry_run_splits_an_ab_steps_emails_and_lists_the_first_leads_variants(tenant, clock, login_as):
    sequence = factories.make_sequence(tenant, status="draft", steps=[AB_STEP])
    for _ in range(200):
        factories.make_lead(tenant)
    result = simulation.simulate(sequence, now=clock.now())
    split = result.variant_split[1]
    assert split["A"] + split["B"] == result.emails == 200
    assert 60 < split["A"] < 140  # 50/50 within five standard errors (±35)
    assert len(result.variant_sample) == simulation.SAMPLE_LEADS
    assert all(letters[1] in "AB" for _, letters in result.variant_sample)
    page = login_as("marketer").get(f"/sequences/{sequence.id}/simulate").get_data(as_text=True)
    assert "data-variant-split" in page and "Split A 50% / B 50%" in page
    assert f"<strong>{split['B']}</strong> emails of B" in page


def test_once_a_winner_is_declared_the_dry_run_sends_only_the_winner(tenant, clock):
    sequence = factories.make_sequence(tenant, status="draft", steps=[AB_STEP])
    sequence.steps[0].winner_variant = "B"
    db.session.commit()
    for _ in range(20):
        factories.make_lead(tenant)
    result = simulation.simulate(sequence, now=clock.now())
    assert dict(result.variant_split[1]) == {"B": 20}
