"""The exact bytes of an outgoing email are what a strict MTA accepts: CRLF everywhere (folds included), no
line over 998 octets, encoded words of at most 75 characters, display names quoted or encoded, and what a
reader decodes is what we meant to write."""

from __future__ import annotations

import base64
import re
import uuid
from email.header import decode_header, make_header
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from nurture_ui.mail import headers
from nurture_ui.mailer import BadSender, UnsendableMessage, header_text, wire_email
from tests.mail_checks import problems, strict_parse

FIELDS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
# Text as people type it: any script, emoji, punctuation, quotes, backslashes, the odd control character.
TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    min_size=0,
    max_size=300,
)


def outbox_row(subject="Hello", *, to="ada@example.test", first_name="Ada", last_name="Lovelace", body="Hi"):
    """What the send loop reads of an outbox row, without a database."""
    return SimpleNamespace(
        id=uuid.uuid4(),
        lead_id=uuid.uuid4(),
        to_email=to,
        subject=subject,
        body=body,
        message_id="<m1@example.test>",
        first_name=first_name,
        last_name=last_name,
    )


def rfc_2047_display_name(data: bytes, name: str) -> str:
    """The display name of a one-mailbox header decoded as RFC 2047 §6.2 says: the whitespace between two
    encoded words is dropped. (The ``email.policy`` parser keeps it in a display name, a CPython deviation
    that shows only for names longer than one encoded word.)"""
    head = data.split(b"\r\n\r\n", 1)[0].decode("utf-8")
    value = re.search(rf"^{name}: (.*?)(?=\r\n\S|\Z)", head, re.M | re.S).group(1).replace("\r\n", "")
    phrase = value.rpartition("<")[0].strip() if value.endswith(">") else ""
    if phrase.startswith('"'):
        return re.sub(r"\\(.)", r"\1", phrase[1:-1])
    return str(make_header(decode_header(phrase))) if "=?" in phrase else phrase


def sent(clock, row, **options):
    email = wire_email(row, now=clock.now(), **options)
    return email, strict_parse(email.data)


GERMAN = "Grüße aus München: Ihre Übersicht über Änderungen, Fristen und nächste Schritte für das Quartal"
JAPANESE = "来週のデモについてのご案内と、導入に向けた次のステップのご提案をお送りします"
EMOJI = "🎉 Launch week 🚀 — your 👩🏽‍💻 team’s next steps 🇩🇪🇯🇵 ✅"
LONG_ENGLISH = "A " + "very " * 60 + "long subject line that goes on past every limit a mail reader has"


@pytest.mark.parametrize(
    "subject",
    [
        LONG_ENGLISH,
        GERMAN,
        JAPANESE,
        EMOJI,
        "x" * 69,  # "Subject: " + 69 = 78 characters: the longest line that needs no fold
        "x" * 70,  # one past it: one word cannot fold, and stays on its line
        "word " * 14 + "end",  # 78 characters exactly with its header name
        "é" * 21,  # Q-encodes to exactly 63 characters: one encoded word of exactly 75
        "é" * 22,  # one character more: two words
        "y" * 995,  # a single word too long for a 998-octet line with its header name: encoded
        "Looks like =?utf-8?q?an_encoded_word?= but is text",
    ],
)
def test_long_and_non_ascii_subjects_fold_with_crlf_and_read_back_the_same(app, clock, subject):
    email, parsed = sent(clock, outbox_row(subject))
    assert not re.search(rb"\r(?!\n)|(?<!\r)\n", email.data)
    assert all(len(line) <= 998 for line in email.data.split(b"\r\n"))
    assert all(len(word) <= 75 for word in re.findall(rb"=\?[^?]+\?[bq]\?[^?]*\?=", email.data))
    assert parsed["Subject"] == subject


def test_a_long_subject_is_folded_not_written_on_one_line(app, clock):
    email, _ = sent(clock, outbox_row(GERMAN))
    head = email.data.split(b"\r\n\r\n")[0].decode("ascii")
    subject_lines = re.search(r"Subject: .*?(?=\r\n\S)", head, re.S).group().split("\r\n")
    assert len(subject_lines) > 1
    assert all(line.startswith(" ") for line in subject_lines[1:])
    assert all(len(line) <= 78 for line in subject_lines[1:])


@FIELDS
@given(subject=TEXT, first_name=TEXT, last_name=TEXT)
@example(subject="\u00e9" * 21, first_name='O"Brien, \\Jr.', last_name="(the 3rd)")
@example(subject="a\r\nBcc: victim@example.com", first_name="Ann\r\nBcc: x@example.com", last_name="")
def test_any_subject_and_lead_name_make_a_well_formed_email_that_reads_back(
    app, clock, subject, first_name, last_name
):
    email = wire_email(outbox_row(subject, first_name=first_name, last_name=last_name), now=clock.now())
    assert problems(email.data) == []
    parsed = strict_parse(email.data)
    assert parsed["Subject"] == header_text(subject)
    [to] = parsed["To"].addresses
    assert to.addr_spec == "ada@example.test"
    assert rfc_2047_display_name(email.data, "To") == header_text(f"{first_name} {last_name}")
    assert parsed["Bcc"] is None


@FIELDS
@given(name=TEXT)
@example(name="Acme, Inc.")
@example(name='Say "hi" \\ (or not); <b@evil.test>, c@evil.test')
def test_any_sender_name_is_one_mailbox(app, clock, name):
    email = wire_email(outbox_row(), now=clock.now(), sender=(name, "rita@sales.example.test"))
    parsed = strict_parse(email.data)
    [author] = parsed["From"].addresses
    assert author.addr_spec == "rita@sales.example.test"
    assert rfc_2047_display_name(email.data, "From") == header_text(name)
    assert email.sender == "rita@sales.example.test"


@pytest.mark.parametrize(
    ("mail_from", "name", "written"),
    [
        ("Acme, Inc. <n@acme.test>", "Acme, Inc.", b'From: "Acme, Inc." <n@acme.test>\r\n'),
        ('"Acme, Inc." <n@acme.test>', "Acme, Inc.", b'From: "Acme, Inc." <n@acme.test>\r\n'),
        (
            '"Say \\"hi\\" \\\\o/" <n@acme.test>',
            'Say "hi" \\o/',
            b'From: "Say \\"hi\\" \\\\o/" <n@acme.test>',
        ),
        ("Team (Sales) <n@acme.test>", "Team (Sales)", b'From: "Team (Sales)" <n@acme.test>\r\n'),
        ("Zoë Støre <n@acme.test>", "Zoë Støre", b"From: =?utf-8?b?Wm/DqyBTdMO4cmU=?= <n@acme.test>"),
        ("Nurture <n@acme.test>", "Nurture", b"From: Nurture <n@acme.test>\r\n"),
        ("n@acme.test", "", b"From: n@acme.test\r\n"),
    ],
)
def test_mail_from_names_are_quoted_or_encoded_as_rfc_5322_requires(app, clock, mail_from, name, written):
    app.config["MAIL_FROM"], saved = mail_from, app.config["MAIL_FROM"]
    try:
        email, parsed = sent(clock, outbox_row())
    finally:
        app.config["MAIL_FROM"] = saved
    assert written in email.data
    [author] = parsed["From"].addresses
    assert (author.display_name, author.addr_spec) == (name, "n@acme.test")
    assert email.sender == "n@acme.test"


def test_the_leads_name_is_in_to_and_encoded_when_not_ascii(app, clock):
    email, parsed = sent(clock, outbox_row(first_name="Jordan", last_name="Müller"))
    assert b"To: =?utf-8?q?Jordan_M=C3=BCller?= <ada@example.test>\r\n" in email.data
    assert str(parsed["To"]) == "Jordan Müller <ada@example.test>"
    email, parsed = sent(clock, outbox_row(first_name="", last_name=""))
    assert b"To: ada@example.test\r\n" in email.data


def test_a_recipient_address_is_still_validated_whatever_the_name(app, clock):
    with pytest.raises(UnsendableMessage):
        wire_email(outbox_row(to="Ann <ann@x.test>, bob@y.test"), now=clock.now())
    with pytest.raises(UnsendableMessage):
        wire_email(outbox_row(to="ann@x.test\r\nBcc: bob@y.test"), now=clock.now())


def test_a_non_ascii_address_is_sent_with_smtputf8_and_still_well_formed(app, clock):
    email, parsed = sent(clock, outbox_row(to="jörg@bücher.example", first_name="Jörg", last_name=""))
    assert email.needs_smtputf8
    assert parsed["To"].addresses[0].addr_spec == "jörg@bücher.example"


def test_a_sender_that_is_not_one_address_is_refused_clearly(app, clock):
    with pytest.raises(BadSender, match="is not an email address"):
        wire_email(outbox_row(), now=clock.now(), sender=("Rita", "rita@a.test, bob@b.test"))


@given(text=TEXT)
@settings(max_examples=300, deadline=None)
def test_encoded_words_hold_whole_characters_and_at_most_75_characters(text):
    words = headers.encoded_words(text) if text else []
    assert all(len(word) <= 75 for word in words)
    for word in words:
        charset, letter, payload = word[2:-2].split("?")
        raw = (
            base64.b64decode(payload)
            if letter == "b"
            else re.sub(rb"=([0-9A-F]{2})", lambda m: bytes([int(m.group(1), 16)]), payload.encode())
        )
        raw.decode("utf-8")  # raises if a character was cut in two
