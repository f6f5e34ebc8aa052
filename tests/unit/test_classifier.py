"""The reply classifier over a labelled set of real-world-style replies, and the return dates it reads."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date
from pathlib import Path

import pytest

from nurture_ui.classifier import SENTIMENTS, classify, own_words, read_return_date

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


# ---------------------------------------------------------------------------------------------------
# Issue 15: classification that fails safe
# ---------------------------------------------------------------------------------------------------

DEV = [json.loads(line) for line in (Path(__file__).parent.parent / "data" / "replies_dev.jsonl").open()]


def test_the_issues_own_examples():
    assert classify("I would like to be unsubscribed.", WEDNESDAY).sentiment == "unsubscribe"
    for text in ("Yes!", "Sure, go ahead."):
        verdict = classify(text, WEDNESDAY)
        assert (verdict.sentiment, verdict.needs_person) == ("positive", False), text
    conflicted = classify("Interested? No.", WEDNESDAY)
    assert conflicted.sentiment != "positive"
    assert conflicted.needs_person


def test_the_development_set_covers_four_languages_and_every_label():
    assert len(DEV) >= 150
    assert {r["lang"] for r in DEV} == {"en", "de", "fr", "es"}
    for lang in ("en", "de", "fr", "es"):
        assert {r["label"] for r in DEV if r["lang"] == lang} == set(SENTIMENTS), lang


@pytest.mark.parametrize(
    "text",
    [
        "unsubcribe",
        "Please unsusbscribe me",
        "remvoe me from this list",
        "STOP EMALING ME",
        "Bitte abmelden",
        "Bitte austragen.",
        "Keine E-Mails mehr!",
        "Je veux me desabonner",
        "Merci de me désinscrire",
        "Je ne souhaite plus recevoir vos messages",
        "Darme de baja por favor",
        "Quiero dejar de recibir esto",
        "No me escriban mas",
        "Under GDPR please delete my data.",
        "Hi Sam,\n\nplease take me off your list.\n\nBest regards,\nKim\n\nSent from my iPhone",
    ],
)
def test_an_opt_out_is_read_through_typos_caps_missing_accents_and_languages(text):
    verdict = classify(text, WEDNESDAY)
    assert (verdict.sentiment, verdict.needs_person) == ("unsubscribe", False), verdict


@pytest.mark.parametrize(
    "text",
    [
        "How do I unsubscribe my colleague? She left last month.",
        "If I unsubscribe, will I still get the product newsletter?",
        "I unsubscribed by mistake, can you add me back?",
        "Is this GDPR compliant?",
        "Interesting, but your emails keep landing in spam.",
    ],
)
def test_opt_out_words_that_do_not_decide_go_to_a_person(text):
    assert classify(text, WEDNESDAY).needs_person


@pytest.mark.parametrize(
    "text",
    ["not interested", "Nicht interessiert.", "Pas intéressé, merci.", "No me interesa.", "Kein Interesse."],
)
def test_a_negated_interest_is_negative_never_positive(text):
    assert classify(text, WEDNESDAY).sentiment == "negative"


@pytest.mark.parametrize(
    "text", ["Ok let's do it", "Oui, avec plaisir", "Sí, me interesa", "Klingt gut", "Yes please", "Gerne!"]
)
def test_short_yes_answers_are_positive_without_a_person(text):
    verdict = classify(text, WEDNESDAY)
    assert (verdict.sentiment, verdict.needs_person) == ("positive", False), verdict


@pytest.mark.parametrize(
    "text", ["Who is this?", "Forwarded to Anna", "Wer sind Sie?", "Qui êtes-vous ?", "¿Quién es?"]
)
def test_replies_no_rule_recognises_are_neutral_and_go_to_a_person(text):
    # "Neutral" is what is left when no rule found anything, and finding nothing is no evidence that the
    # lead did not ask to stop in words no rule knows: a person reads it, the sequence waits meanwhile.
    verdict = classify(text, WEDNESDAY)
    assert (verdict.sentiment, verdict.needs_person) == ("neutral", True), verdict


def test_a_reply_the_rules_cannot_read_goes_to_a_person():
    for text in ("Non sono interessato, grazie mille per il messaggio", "Пожалуйста, больше не пишите мне"):
        assert classify(text, WEDNESDAY).needs_person, text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Abwesenheitsnotiz: Ich bin bis zum 9. März nicht im Büro.", date(2026, 3, 9)),
        ("Ich bin nicht im Büro, ab Montag wieder erreichbar.", date(2026, 3, 9)),
        ("Automatische Antwort: nicht im Büro bis 12.03.2026.", date(2026, 3, 12)),
        ("Je suis absente du bureau jusqu'au 16 mars.", date(2026, 3, 16)),
        ("Réponse automatique : de retour le lundi 9 mars.", date(2026, 3, 9)),
        ("Réponse automatique : absent jusqu'au 10/03.", date(2026, 3, 10)),  # day first in French
        ("Respuesta automática: fuera de la oficina hasta el 7 de abril.", date(2026, 4, 7)),
        ("Estoy de vacaciones del 2 al 6 de marzo.", date(2026, 3, 9)),  # the last day away: back Monday
    ],
)
def test_out_of_office_in_four_languages_with_the_return_date(text, expected):
    verdict = classify(text, WEDNESDAY)
    assert (verdict.sentiment, verdict.return_on) == ("out_of_office", expected), verdict


def test_the_return_dates_of_the_development_set():
    wrong = []
    for reply in (r for r in DEV if r["label"] == "out_of_office"):
        verdict = classify(reply["text"], date.fromisoformat(reply["received"]))
        read = verdict.return_on.isoformat() if verdict.return_on else None
        if read != reply["return_on"]:
            wrong.append((reply["text"][:60], reply["return_on"], read))
    assert wrong == []


@pytest.mark.parametrize(
    "quote",
    [
        "On Tue, Mar 3, 2026 at 9:00 AM Sam Reed <sam@nurture.test>\nwrote:\n> Hi",
        "Am Di., 3. März 2026 um 09:00 Uhr schrieb Sam Reed <sam@nurture.test>:\n> Hallo",
        "Le mar. 3 mars 2026 à 09:00, Sam Reed <sam@nurture.test> a écrit :\n> Bonjour",
        "El mar, 3 mar 2026 a las 9:00, Sam Reed (<sam@nurture.test>) escribió:\n> Hola",
        "-----Original Message-----\nFrom: Sam Reed\nSent: Tuesday\n\nHi",
        "From: Sam Reed <sam@nurture.test>\nSent: Tuesday, March 3, 2026 9:00 AM\nTo: Kim\nSubject: Hi\n\nHi",
        "Von: Sam Reed <sam@nurture.test>\nGesendet: Dienstag, 3. März 2026 09:00\nAn: Kim\nBetreff: Hallo\n\nHallo",
    ],
)
def test_our_quoted_unsubscribe_link_never_counts(quote):
    footer = "\n--\nTo stop receiving these emails, unsubscribe: https://nurture.test/u/k3J9"
    reply = f"Thanks, got it.\n\n{quote}{footer}"
    assert own_words(reply) == "Thanks, got it."
    verdict = classify(reply, WEDNESDAY)
    assert verdict.sentiment == "neutral"
    assert "unsub" not in verdict.reason


def test_a_lead_writing_under_the_quote_is_read():
    reply = "On Tue, 3 Mar 2026, Sam wrote:\n> Would you like a demo?\n> Unsubscribe: https://x.test/u\n\nRemove me."
    assert own_words(reply) == "Remove me."
    assert classify(reply, WEDNESDAY).sentiment == "unsubscribe"


def test_signatures_and_disclaimers_are_cut():
    reply = "Yes, let's talk.\n\nSent from my iPhone\n\nCONFIDENTIALITY NOTICE: if you are not the recipient, delete"
    assert own_words(reply) == "Yes, let's talk."
