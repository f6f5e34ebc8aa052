"""The lead's own words: the reply without the email it quotes, the signature and the disclaimer.

Our emails end "To stop receiving these emails, unsubscribe: https://…", so a quoted "unsubscribe" must
never reach the rules. The reply is cut at the first line that starts quoted history — the headers
``mail-parser-reply`` knows (Gmail/Apple "On … wrote:", Outlook "From:/Sent:" blocks, in English, German,
French and Spanish) and ours: "-----Original Message-----", "Am … schrieb …:", "Von: … Gesendet:",
"Le … a écrit :", "El … escribió:", "De : … Envoyé :". Then "> " lines, our footer, the signature
separator "-- ", phone signatures ("Sent from my iPhone", "Envoyé de mon iPhone") and disclaimers go.

A lead who writes *below* the quote (bottom-posting) has nothing above it: then the unquoted lines below
the quote are the lead's words.
"""

from __future__ import annotations

import re

from mailparser_reply import EmailReplyParser

_PARSER = EmailReplyParser(languages=["en", "de", "fr", "es"])

_QUOTE_START = re.compile(
    r"^[ \t]*(?:"
    r"On\s[^\n]{0,200}?(?:\n[^\n]{0,100}?)?\swrote:"  # Gmail, Apple Mail (the header may wrap once)
    r"|Am\s[^\n]{0,200}?(?:\n[^\n]{0,100}?)?\sschrieb[^\n]{0,100}:"
    r"|Le\s[^\n]{0,200}?(?:\n[^\n]{0,100}?)?\sa\s[ée]crit\s?:"
    r"|El\s[^\n]{0,200}?(?:\n[^\n]{0,100}?)?\sescribi[óo]\s?:"
    r"|-{2,}\s*(?:Original Message|Urspr[üu]ngliche Nachricht|Message d'origine|Mensaje original"
    r"|Forwarded message|Weitergeleitete Nachricht)\s*-{2,}"
    r"|_{10,}"  # Outlook's line above the quoted headers
    r"|(?:From|Von|De|Da)\s?:\s[^\n]+\n[ \t]*(?:Sent|Gesendet|Envoy[ée]|Enviado|Date|Datum|Fecha|To|An|[ÀA]|Para)\s?:"
    r")",
    re.IGNORECASE | re.MULTILINE,
)
_SIGNATURE_START = re.compile(
    r"^[ \t]*(?:"
    r"--[ \t]*$"  # the standard signature separator (our own footer starts with it too)
    r"|(?:Sent|Gesendet|Envoy[ée]|Enviado)\s(?:from|von|de(?:puis)?|desde)\s(?:my|meinem|mon|mi)\s"
    r"|Get Outlook for\s"
    r"|(?:CONFIDENTIALITY|DISCLAIMER|LEGAL)\s?(?:NOTICE|NOTE)?\s?:"
    r"|This (?:e-?mail|message)(?: and any (?:attachments?|files))? (?:is|are|may be) (?:confidential|intended)"
    r"|Diese (?:E-?Mail|Nachricht) (?:enth[äa]lt|ist) vertraulich"
    r"|Ce (?:message|courriel|mail)(?: et (?:toutes )?(?:les|ses) pi[èe]ces jointes)? (?:est|sont) confidenti"
    r"|Este (?:mensaje|correo)(?: y sus (?:anexos|adjuntos))? (?:es|son|contiene) (?:confidencial|informaci[óo]n)"
    r")",
    re.IGNORECASE | re.MULTILINE,
)
# Our footer, wherever a mail client left it unquoted.
_OUR_FOOTER = re.compile(r"^.*To stop receiving these emails, unsubscribe:.*$", re.IGNORECASE | re.MULTILINE)


def own_words(text: str) -> str:
    """The lead's own words in ``text``: quoted history, ``>`` lines, our footer, signature and disclaimer removed."""
    text = (text or "").replace("\r\n", "\n").replace("\r", "\n")
    text = _OUR_FOOTER.sub("", text)
    cut = _quote_start(text)
    above = _unquoted(text[:cut])
    if not above and cut < len(text):
        # Bottom-posting: the lead wrote under the quote. Their lines are the unquoted ones after it.
        above = _below_quote(text[cut:])
    signature = _SIGNATURE_START.search(above)
    if signature:
        above = above[: signature.start()]
    return above.strip()


def _quote_start(text: str) -> int:
    """Where quoted history begins: the earliest header we or ``mail-parser-reply`` recognise."""
    starts = [len(text)]
    if match := _QUOTE_START.search(text):
        starts.append(match.start())
    replies = _PARSER.read(text).replies
    if replies[0].headers:  # the text begins with a header: the library skipped the empty part above it
        starts.append(0)
    elif len(replies) > 1 and replies[1].headers:
        # The library strips each line: find the next reply's header in our text by its first line.
        position = text.find(replies[1].headers.split("\n", 1)[0].strip())
        if position >= 0:
            starts.append(position)
    return min(starts)


_QUOTE_HEADER_LINES = re.compile(
    r"^[ \t]*(?:On\s.*wrote:|Am\s.*schrieb.*:|Le\s.*a\s[ée]crit\s?:|El\s.*escribi[óo]\s?:"
    r"|(?:From|Sent|To|Subject|Date|Cc|Von|Gesendet|An|Betreff|Datum|De|Envoy[ée]|[ÀA]|Objet|Enviado|Para|Asunto"
    r"|Fecha)\s?:.*|-{2,}.*-{2,}|_{10,})$",
    re.IGNORECASE | re.MULTILINE,
)


def _unquoted(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith(">")).strip()


def _below_quote(text: str) -> str:
    """The unquoted lines written after ``>`` quoted ones (bottom-posting, inline answers). A quote without
    ``>`` marks (Outlook's forwarded or quoted email) is ours entirely: nothing of it counts."""
    first_quoted = re.search(r"^[ \t]*>", text, re.MULTILINE)
    if not first_quoted:
        return ""
    return _unquoted(_QUOTE_HEADER_LINES.sub("", text[first_quoted.start() :]))
