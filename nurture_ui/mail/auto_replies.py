"""Telling a machine's answer from a person's: auto-replies (RFC 3834 and the common private headers),
out-of-office notices in the languages our leads write in, and bulk or list mail."""

from __future__ import annotations

import re
from dataclasses import dataclass

from nurture_ui.classifier import OUT_OF_OFFICE
from nurture_ui.mail.parse import ParsedMail

# Subjects auto-responders write (at the start: "Re: out of office plans" is a person's reply).
_AUTO_SUBJECT = re.compile(
    r"^\s*(?:"
    r"out\s+of\s+(?:the\s+)?office|ooo\b|automatic\s+reply|auto(?:matic)?[-\s]?(?:reply|response)|autoreply"
    r"|abwesenheitsnotiz|abwesenheit|automatische\s+antwort|r[ée]ponse\s+automatique|absence\b|absent\b"
    r"|respuesta\s+autom[áa]tica|fuera\s+de\s+(?:la\s+)?oficina|on\s+vacation|vacation\s+reply|away\s+from"
    r")",
    re.IGNORECASE,
)
# Out of office, beyond the classifier's English phrases: German, French and Spanish notices.
_AWAY = re.compile(
    r"abwesen|nicht\s+im\s+b[üu]ro|au[ßs]er\s+haus|urlaub|bin\s+(?:ab\s+dem\s+|am\s+)?.{0,40}wieder"
    r"|absent(?:e)?\b|en\s+cong[ée]s?|hors\s+du\s+bureau|de\s+retour"
    r"|fuera\s+de\s+(?:la\s+)?oficina|de\s+vacaciones|ausente|estar[ée]\s+de\s+vuelta",
    re.IGNORECASE,
)
_BULK_PRECEDENCE = ("bulk", "list", "junk")


@dataclass(frozen=True)
class AutoReply:
    """A message no person wrote. ``out_of_office``: it says its writer is away (the sequence pauses);
    ``bulk``: list or bulk mail, not an answer at all; ``because``: the header or subject that told."""

    because: str
    out_of_office: bool = False
    bulk: bool = False


def read_auto_reply(parsed: ParsedMail) -> AutoReply | None:
    """The auto-reply (or bulk mail) ``parsed`` is, or None for a message a person wrote."""
    because = _auto_header(parsed)
    subject_says = bool(_AUTO_SUBJECT.search(parsed.subject))
    away = subject_says or bool(OUT_OF_OFFICE.search(parsed.text) or _AWAY.search(parsed.text))
    if because:
        return AutoReply(because, out_of_office=away)
    if subject_says:
        return AutoReply(f"Subject: {parsed.subject[:80]}", out_of_office=True)
    precedence = parsed.header("Precedence").strip().lower()
    if precedence in _BULK_PRECEDENCE:
        return AutoReply(f"Precedence: {precedence}", bulk=True)
    if parsed.header("List-Id") or parsed.header("List-Unsubscribe"):
        return AutoReply("a mailing list's headers (List-Id, List-Unsubscribe)", bulk=True)
    return None


def _auto_header(parsed: ParsedMail) -> str:
    """The header that marks the message automatic, or ""."""
    auto_submitted = parsed.header("Auto-Submitted").strip().lower()
    if auto_submitted and not auto_submitted.startswith("no"):
        return f"Auto-Submitted: {auto_submitted}"
    for name in ("X-Autoreply", "X-Autorespond", "X-Autoresponder"):
        if parsed.header(name):
            return f"{name}: {parsed.header(name)[:40]}"
    if parsed.header("Precedence").strip().lower() == "auto_reply":
        return "Precedence: auto_reply"
    # Exchange marks its automatic replies with this header (and the localised "Automatic reply:" subject).
    if parsed.header("X-Auto-Response-Suppress") and _AUTO_SUBJECT.search(parsed.subject):
        return "X-Auto-Response-Suppress with an automatic reply's subject"
    return ""
