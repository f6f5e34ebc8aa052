"""The reply classifier over a labelled set of real-world-style replies, and the return dates it reads."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date
from pathlib import Path

import pytest

from nurture_ui.classifier import classify, own_words, read_return_date

REPLIES = [json.loads(line) for line in (Path(__file__).parent.parent / "data" / "replies.jsonl").open()]
WEDNESDAY = date(2026, 3, 4)


def test_the_labelled_set_is_big_enough_and_covers_every_sentiment():
    counts = Counter(r["label"] for r in REPLIES)
    assert len(REPLIES) >= 60
    assert set(counts) == {"positive", "negative", "neutral", "unsubscribe", "out_of_office"}
    assert min(counts.values()) >= 10


def test_classifier_accuracy_on_the_labelled_set(capsys):
    misses = []
    by_batch: dict[str, list[int]] = {}
    for reply in REPLIES:
        verdict = classify(reply["text"], date.fromisoformat(reply["received"]))
        right = verdict.sentiment == reply["label"]
        tally = by_batch.setdefault(reply.get("set", "first"), [0, 0])
        tally[0] += right
        tally[1] += 1
        if not right:
            misses.append(f"  {reply['label']} read as {verdict.sentiment}: {reply['text'][:70]!r}")
    correct = sum(t[0] for t in by_batch.values())
    accuracy = correct / len(REPLIES)
    with capsys.disabled():
        print(f"\nclassifier accuracy: {correct}/{len(REPLIES)} = {accuracy:.1%}")
        for batch, (right, total) in by_batch.items():
            print(f"  batch {batch}: {right}/{total}")
        print("\n".join(misses))
    assert accuracy >= 0.90


def test_return_dates_are_read_from_the_out_of_office_replies():
    ooo = [r for r in REPLIES if r["label"] == "out_of_office"]
    wrong = []
    for reply in ooo:
        verdict = classify(reply["text"], date.fromisoformat(reply["received"]))
        read = verdict.return_on.isoformat() if verdict.return_on else None
        if verdict.sentiment == "out_of_office" and read != reply["return_on"]:
            wrong.append((reply["text"][:60], reply["return_on"], read))
    assert len(ooo) >= 15
    assert wrong == []


@pytest.mark.parametrize(
    ("text", "expected", "estimated"),
    [
        ("Out of office, back on Monday 12 March.", date(2026, 3, 12), False),
        ("I am away, returning 03/12.", date(2026, 3, 12), False),
        ("On leave until 2026-03-12.", date(2026, 3, 12), False),
        ("Away until 20.03.", date(2026, 3, 20), False),
        ("Back on the 16th.", date(2026, 3, 16), False),
        ("Out until Friday.", date(2026, 3, 6), False),
        ("Off through Friday, March 6.", date(2026, 3, 9), False),  # the last day away: back Monday
        ("Back tomorrow.", date(2026, 3, 5), False),
        ("Back next week.", date(2026, 3, 9), True),
        ("Returning in August.", date(2026, 8, 3), True),  # 1 August 2026 is a Saturday
        ("Back on 3 March.", None, False),  # in the past: not a return date
        ("Back when things calm down.", None, False),
    ],
)
def test_return_date_forms(text, expected, estimated):
    assert read_return_date(text, WEDNESDAY) == (expected, estimated)


def test_a_date_without_a_year_rolls_into_next_year_around_new_year():
    assert read_return_date("Back on 5 January.", date(2026, 12, 28)) == (date(2027, 1, 5), False)
    assert read_return_date("Back 01/05.", date(2026, 12, 28)) == (date(2027, 1, 5), False)


def test_our_quoted_email_does_not_count():
    reply = (
        "Sounds good, talk Monday.\n\nOn Tue, 3 Mar 2026, Sam wrote:\n> Unsubscribe here: https://x.test/u"
    )
    assert own_words(reply) == "Sounds good, talk Monday."
    assert classify(reply, WEDNESDAY).sentiment == "positive"


def test_a_refusal_wins_over_interested_words_and_a_stop_request_wins_over_all():
    assert classify("Not interested in a demo, thanks.", WEDNESDAY).sentiment == "negative"
    assert classify("Interesting, but please stop emailing me.", WEDNESDAY).sentiment == "unsubscribe"
    assert classify("", WEDNESDAY).sentiment == "neutral"
    assert classify("We'll pass, thanks.", WEDNESDAY).sentiment == "negative"
    assert classify("I'll pass this on to our CTO.", WEDNESDAY).sentiment == "neutral"
