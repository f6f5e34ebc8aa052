"""Reading real clients' mail: who sent it, what it answers, what the person wrote, and whether a
machine wrote it (a bounce, an auto-reply, a list) — each sample as its client writes it."""

from __future__ import annotations

from datetime import date

import pytest

from nurture_ui.classifier import read_return_date
from nurture_ui.mail.auto_replies import read_auto_reply
from nurture_ui.mail.bounces import read_bounce
from nurture_ui.mail.parse import html_to_text, parse_mail, part_text
from nurture_ui.mail.receive import reply_text
from tests.mail_samples import LEAD_ADDRESS, OUR_MESSAGE_ID, load_sample, sample_names

MONDAY = date(2026, 3, 2)


def parsed(name, **values):
    return parse_mail(load_sample(name, **values))


def test_every_sample_parses_without_raising():
    for name in sample_names():
        mail = parse_mail(load_sample(name))
        assert mail.message_id.startswith("<") and mail.message_id.endswith(">"), name


@pytest.mark.parametrize(
    "name, words, cut_away",
    [
        (
            "gmail_reply",
            "Yes, we are interested — could you send over your pricing for a team of 40?",
            "unsubscribe",
        ),
        ("outlook_reply", "Please remove me from your mailing list.", "Interested in a demo"),
        ("apple_mail_reply", "Who else of our size uses it today?", "a note for Example Co"),
        (
            "thunderbird_flowed",
            "our budget for this year is already spent on another tool.",
            "CTO, Example Co",
        ),
        ("token_only_reply", "Sounds great, let's set up a call next week.", "Sent from my iPhone"),
        ("folded_headers", "Adding my colleagues. Let's talk on Thursday.", ""),
    ],
)
def test_a_reply_keeps_the_writers_words_and_drops_the_quoted_email_and_signature(name, words, cut_away):
    mail = parsed(name)
    assert not mail.problem and read_bounce(mail) is None and read_auto_reply(mail) is None
    text = reply_text(mail.text)
    assert words in text
    if cut_away:
        assert cut_away not in text


def test_gmail_reply_decodes_the_non_ascii_name_and_prefers_the_plain_part():
    mail = parsed("gmail_reply")
    assert (mail.from_name, mail.from_address) == ("Renée Müller", LEAD_ADDRESS)
    assert mail.in_reply_to == [OUR_MESSAGE_ID] and mail.references == [OUR_MESSAGE_ID]
    assert mail.text.startswith("Hi,\n\nYes, we are interested")
    assert "<div" not in mail.text


def test_outlook_html_only_reply_is_reduced_to_text_without_its_styles():
    mail = parsed("outlook_reply")
    assert mail.text.startswith("Hello,\nPlease remove me from your mailing list.")
    assert "MsoNormal" not in mail.text and "&nbsp;" not in mail.text
    assert mail.subject == "RE: A note for Example Co"
    assert mail.message_id.endswith("eurprd02.prod.outlook.com>")  # the folded Message-ID unfolded


def test_thunderbird_format_flowed_lines_are_joined_back_into_paragraphs():
    mail = parsed("thunderbird_flowed")
    assert "at the moment, our budget for this year is already spent on another tool." in mail.text
    assert "\n-- \nLee Lead" in mail.text


def test_iso_8859_1_quoted_printable_reads_accents_and_windows_1252_quotes():
    mail = parsed("latin1_qp_reply")
    assert mail.from_name == "José Peña"
    assert "¿Podemos hablar el jueves? Mañana estoy en una reunión todo el día." in mail.text
    assert "“depende”" in mail.text  # declared Latin-1, written Windows-1252, as clients do


def test_german_outlook_and_french_gmail_replies_read_in_their_charsets():
    german = parsed("outlook_de_reply")
    assert german.subject == "AW: A note for Example Co"
    assert german.text.startswith("Hallo,\n\ndanke für die Nachricht. Können wir nächste Woche telefonieren?")
    french = parsed("gmail_fr_reply")
    assert french.from_name == "Céline Duré"
    assert reply_text(french.text).startswith(
        "Bonjour,\n\nMerci, ça m'intéresse. Pouvez-vous m'envoyer vos tarifs ?"
    )


def test_folded_headers_are_unfolded_and_every_recipient_is_read():
    mail = parsed("folded_headers")
    assert mail.subject == (
        "Re: A note for Example Co — and a rather long subject line that the client had to fold over several lines"
    )
    assert mail.references == [
        "<older-thread-1@mail.example.test>",
        OUR_MESSAGE_ID,
        "<a-colleague-reply@mail.example.test>",
    ]
    assert {"another.person@example.test", "yet.another@example.test"} <= set(mail.recipients)
    assert mail.from_name.startswith("Lee Lead (Example Co, Head of Revenue")


def test_a_message_without_message_id_gets_a_stable_digest_of_its_bytes():
    raw = load_sample("no_message_id")
    assert parse_mail(raw).message_id == parse_mail(raw).message_id
    assert parse_mail(raw).message_id.endswith("@digest.invalid>")
    assert parse_mail(raw + b"x").message_id != parse_mail(raw).message_id


def test_junk_is_not_a_message_and_says_why():
    mail = parsed("junk_truncated")
    assert mail.problem == "no sender address in From"
    assert parse_mail(b"").problem == "empty message"
    assert parse_mail(b"\x00\xff\xfe garbage without headers").problem


def test_an_unknown_declared_charset_falls_back_instead_of_failing():
    unknown = b"From: a@example.test\r\nContent-Type: text/plain; charset=x-no-such-charset\r\n\r\n"
    assert parse_mail(unknown + b"Caf\xc3\xa9\r\n").text == "Café"  # UTF-8 when it decodes
    assert parse_mail(unknown + b"Caf\xe9 \x93ok\x94\r\n").text == "Café “ok”"  # else Windows-1252
    wrong = b"From: a@example.test\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nCaf\xe9\r\n"
    assert part_text(parse_mail(wrong).message) == "Café\r\n"


def test_html_to_text_survives_broken_markup_and_marks_quotes():
    assert html_to_text("<p>Yes<br>please<blockquote>our email</blockquote><div>unclosed") == (
        "Yes\nplease\n> our email\nunclosed"
    )


@pytest.mark.parametrize(
    "name, kind, status, diagnostic",
    [
        ("exim_hard", "hard", "5.1.1", "550 5.1.1"),
        ("exim_text_hard", "hard", "", "Unrouteable address"),
        ("postfix_soft", "soft", "4.2.2", "Mailbox full"),
        ("gmail_dsn", "hard", "5.1.1", "The email account that you tried to reach does not exist"),
        ("exchange_ndr", "hard", "5.1.10", "RESOLVER.ADR.RecipientNotFound"),
    ],
)
def test_delivery_reports_give_their_kind_status_recipient_and_original_email(name, kind, status, diagnostic):
    bounce = read_bounce(parsed(name))
    assert (bounce.kind, bounce.status) == (kind, status)
    assert diagnostic in bounce.diagnostic
    assert bounce.failed_recipients[0] == LEAD_ADDRESS
    assert bounce.original_message_ids == [OUR_MESSAGE_ID]


def test_a_delayed_delivery_notice_is_not_a_bounce():
    bounce = read_bounce(parsed("postfix_delayed"))
    assert (bounce.kind, bounce.action, bounce.status) == (None, "delayed", "4.4.1")


def test_an_ordinary_reply_is_not_read_as_a_bounce_even_when_it_talks_about_delivery():
    raw = (
        b"From: Lee <lee@example.test>\r\nSubject: Re: delivery failed?\r\nMessage-ID: <q@example.test>\r\n\r\n"
        b"Our delivery failed last week, 550 units short. Can we talk?\r\n"
    )
    assert read_bounce(parse_mail(raw)) is None


@pytest.mark.parametrize(
    "name, because, return_on",
    [
        ("ooo_auto_submitted", "Auto-Submitted: auto-replied (vacation)", date(2026, 3, 9)),
        (
            "exchange_auto_reply",
            "X-Auto-Response-Suppress with an automatic reply's subject",
            date(2026, 3, 16),
        ),
        ("abwesenheitsnotiz", "Auto-Submitted: auto-generated", None),
    ],
)
def test_out_of_office_notices_are_auto_replies_with_their_return_date(name, because, return_on):
    mail = parsed(name)
    auto = read_auto_reply(mail)
    assert (auto.because, auto.out_of_office, auto.bulk) == (because, True, False)
    if return_on is not None:
        assert read_return_date(mail.text, MONDAY) == (return_on, False)


def test_out_of_office_subjects_in_other_languages_are_auto_replies_without_any_header():
    for subject in (
        "Out of Office: hello",
        "Abwesenheitsnotiz: Hallo",
        "Réponse automatique : Bonjour",
        "Respuesta automática: Hola",
        "Automatic reply: hello",
    ):
        raw = f"From: lee@example.test\r\nSubject: {subject}\r\n\r\nAway.\r\n".encode()
        auto = read_auto_reply(parse_mail(raw))
        assert auto is not None and auto.out_of_office, subject


def test_a_person_writing_about_an_out_of_office_is_not_an_auto_reply():
    raw = b"From: lee@example.test\r\nSubject: Re: our offsite\r\n\r\nLet's talk before I go on vacation.\r\n"
    assert read_auto_reply(parse_mail(raw)) is None


def test_auto_submitted_no_is_a_person():
    raw = b"From: lee@example.test\r\nAuto-Submitted: no\r\nSubject: Re: hi\r\n\r\nSure.\r\n"
    assert read_auto_reply(parse_mail(raw)) is None


def test_list_mail_is_bulk_not_an_answer():
    auto = read_auto_reply(parsed("mailing_list"))
    assert (auto.bulk, auto.out_of_office) == (True, False)
