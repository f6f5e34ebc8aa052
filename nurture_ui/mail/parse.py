"""Reading a raw message as other mail clients write it: headers decoded, the readable text found.

``parse_mail(raw)`` never raises on what a client (or a broken server) sends: a wrong or unknown charset
falls back to UTF-8 and then Windows-1252, an HTML-only body is reduced to text, attachments are left
alone, and a header the strict parser refuses is read as raw text instead.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import re
from dataclasses import dataclass
from email.header import decode_header, make_header
from email.message import Message
from email.utils import getaddresses, parseaddr
from html.parser import HTMLParser

_MESSAGE_ID = re.compile(r"<[^<>\s]+>")
# Addresses a reply may have reached us through (a listener adds the envelope recipients).
RECIPIENT_HEADERS = ("To", "Cc", "Delivered-To", "X-Original-To", "Envelope-To")


@dataclass
class ParsedMail:
    """What we read from one message. ``message`` is the parsed tree (for the bounce and auto-reply
    readers); ``problem`` says why the message cannot be used when it is junk."""

    message: Message
    message_id: str
    from_address: str
    from_name: str
    subject: str
    in_reply_to: list[str]
    references: list[str]
    recipients: list[str]
    text: str
    problem: str = ""

    def header(self, name: str) -> str:
        return header_text(self.message, name)


def parse_mail(raw: bytes) -> ParsedMail:
    """Parse ``raw`` (the message's bytes). A message without a Message-ID gets ``<sha256 of its
    bytes>`` as its id, so reading it again is still recognised."""
    message = email.message_from_bytes(raw or b"", policy=email.policy.default)
    ids = message_ids(header_text(message, "Message-ID"))
    from_name, from_address = parse_address(header_text(message, "From"))
    problem = ""
    if not raw or not raw.strip():
        problem = "empty message"
    elif not message.keys():
        problem = "no headers: not an email"
    elif not from_address:
        problem = "no sender address in From"
    return ParsedMail(
        message=message,
        message_id=ids[0] if ids else f"<{hashlib.sha256(raw or b'').hexdigest()}@digest.invalid>",
        from_address=from_address,
        from_name=from_name,
        subject=" ".join(header_text(message, "Subject").split()),
        in_reply_to=message_ids(header_text(message, "In-Reply-To")),
        references=message_ids(header_text(message, "References")),
        recipients=[
            address
            for name in RECIPIENT_HEADERS
            for _, address in getaddresses(header_values(message, name))
            if "@" in address
        ],
        text=body_text(message),
        problem=problem,
    )


def message_ids(value: str) -> list[str]:
    """The ``<id@host>`` tokens of a Message-ID, In-Reply-To or References header, in order; a bare id
    (some clients drop the brackets) is bracketed."""
    found = _MESSAGE_ID.findall(value or "")
    if not found and value and "@" in value and " " not in value.strip():
        found = [f"<{value.strip()}>"]
    return found


def parse_address(value: str) -> tuple[str, str]:
    """(display name, lower-cased address) of a From-like header; ("", "") when there is none."""
    name, address = parseaddr(value or "")
    address = address.strip().lower()
    return name.strip(), address if "@" in address else ""


def header_values(message: Message, name: str) -> list[str]:
    """Every value of header ``name`` as text (RFC 2047 words decoded, folding undone)."""
    try:
        values = [str(value) for value in message.get_all(name, failobj=[])]
    except Exception:  # noqa: BLE001 - the default policy refused a header: read its raw text ourselves
        values = [_decoded(raw) for key, raw in message.raw_items() if key.lower() == name.lower()]
    return [" ".join(value.split()) for value in values]


def header_text(message: Message, name: str) -> str:
    """The first value of header ``name`` as text, or ""."""
    values = header_values(message, name)
    return values[0] if values else ""


def _decoded(raw: str) -> str:
    try:
        return str(make_header(decode_header(raw)))
    except Exception:  # noqa: BLE001 - a broken encoded word stays as written
        return raw


# ---------------------------------------------------------------------------------------------------
# Bodies
# ---------------------------------------------------------------------------------------------------


def body_text(message: Message) -> str:
    """The readable text of a message: its first text/plain part that is not an attachment, else its
    first text/html part reduced to text, else ""."""
    plain, html = _first_part(message, "text/plain"), _first_part(message, "text/html")
    if plain is not None:
        return normalise_text(part_text(plain))
    if html is not None:
        return normalise_text(html_to_text(part_text(html)))
    return ""


def _first_part(message: Message, content_type: str) -> Message | None:
    for part in message.walk():
        if part.is_multipart() or part.get_content_type() != content_type:
            continue
        if _is_attachment(part):
            continue
        return part
    return None


def _is_attachment(part: Message) -> bool:
    try:
        return part.get_content_disposition() == "attachment"
    except Exception:  # noqa: BLE001
        return False


def part_text(part: Message) -> str:
    """A text part's content decoded with its declared charset, or the charset that fits when the
    declared one is wrong or unknown (UTF-8, then Windows-1252, which every byte decodes in)."""
    try:
        payload = part.get_payload(decode=True)
    except Exception:  # noqa: BLE001 - a broken transfer encoding: take the payload as it is
        payload = None
    if payload is None:
        raw = part.get_payload()
        payload = raw.encode("utf-8", "replace") if isinstance(raw, str) else b""
    declared = (part.get_content_charset() or "").lower()
    # Clients declaring Latin-1 mostly mean Windows-1252 (curly quotes, the euro sign): read it so.
    if declared in ("iso-8859-1", "latin-1", "latin1", "us-ascii", "ascii"):
        declared = "windows-1252" if declared.startswith(("iso", "latin")) else "utf-8"
    text = None
    for charset in (declared, "utf-8"):
        if not charset:
            continue
        try:
            text = payload.decode(charset)
            break
        except (LookupError, UnicodeDecodeError):
            continue
    if text is None:
        text = payload.decode("windows-1252", errors="replace")
    if (part.get_param("format") or "").lower() == "flowed":
        text = unflow(text, delete_space=(part.get_param("delsp") or "").lower() == "yes")
    return text


def unflow(text: str, *, delete_space: bool = False) -> str:
    """RFC 3676 format=flowed made plain: a line ending in a space continues on the next (quoted lines
    only with lines of the same depth; the signature separator ``-- `` stays a line of its own)."""
    lines = text.replace("\r\n", "\n").split("\n")
    result: list[tuple[int, str]] = []
    joining = False
    for line in lines:
        depth = len(line) - len(line.lstrip(">"))
        content = line[depth:]
        if content.startswith(" ") and depth:
            content = content[1:]  # space-stuffing after the quote marks
        elif content.startswith(" "):
            content = content[1:]
        if joining and result and result[-1][0] == depth:
            result[-1] = (depth, result[-1][1] + content)
        else:
            result.append((depth, content))
        joining = content.endswith(" ") and content != "-- "
        if joining and delete_space:
            result[-1] = (depth, result[-1][1][:-1])
    return "\n".join(("> " * depth if depth else "") + content for depth, content in result)


def normalise_text(text: str) -> str:
    """Line ends made ``\\n``, non-breaking spaces made spaces, runs of blank lines made one."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\xa0", " ")
    # Trailing spaces go, except in the signature separator "-- " (RFC 3676), which the cutter looks for.
    text = "\n".join(line if line == "-- " else line.rstrip() for line in text.split("\n"))
    return re.sub(r"\n{3,}", "\n\n", text).strip()


class _TextFromHtml(HTMLParser):
    """HTML to plain text: blocks become line breaks, scripts and styles are dropped, quoted blocks
    (``<blockquote>``) get ``>`` prefixes so the quote cutter can see them."""

    _BLOCKS = {"p", "div", "br", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "table", "hr", "blockquote"}
    _HIDDEN = {"script", "style", "head", "title"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = [""]
        self.hidden = 0
        self.quote_depth = 0

    def handle_starttag(self, tag, attrs):
        if tag in self._HIDDEN:
            self.hidden += 1
        elif tag in self._BLOCKS:
            self._break()
        if tag == "blockquote":
            self.quote_depth += 1

    def handle_startendtag(self, tag, attrs):
        if tag in self._BLOCKS:
            self._break()

    def handle_endtag(self, tag):
        if tag in self._HIDDEN:
            self.hidden = max(0, self.hidden - 1)
        elif tag in self._BLOCKS:
            if tag == "blockquote":
                self.quote_depth = max(0, self.quote_depth - 1)
            self._break()

    def handle_data(self, data):
        if self.hidden:
            return
        text = " ".join(data.split())
        if not text:
            return
        if not self.lines[-1]:
            self.lines[-1] = "> " * self.quote_depth
            text = text.lstrip()
        elif not self.lines[-1].endswith(" "):
            text = " " + text
        self.lines[-1] += text

    def _break(self):
        if self.lines[-1].strip():
            self.lines.append("")
        else:
            self.lines[-1] = ""


def html_to_text(html: str) -> str:
    """Readable text of an HTML body (stdlib ``html.parser``; never raises on broken markup)."""
    parser = _TextFromHtml()
    try:
        parser.feed(html)
        parser.close()
    except Exception:  # noqa: BLE001 - whatever was read before the breakage is kept
        pass
    return "\n".join(line.rstrip() for line in parser.lines).strip()
