"""Header values written as RFC 5322 and RFC 2047 require, as text ready to put after ``Name: ``.

Written by hand rather than with ``email.header.Header`` or ``EmailMessage``: the send loop writes every
message's bytes directly (the header registry cost milliseconds a message), and ``Header.encode`` folds with
a bare LF unless told otherwise. Here every fold is CRLF + space, every line stays within 998 octets (and
within 78 characters where the words allow), every encoded word within 75 characters and holding whole
characters, and a display name that is not a plain run of atoms is quoted (ASCII) or encoded (otherwise).
"""

from __future__ import annotations

import base64
import functools
import re
import string

MAX_ENCODED_WORD = 75  # RFC 2047 §2
SOFT_LINE = 78  # RFC 5322 §2.1.1: SHOULD
_LONGEST_PLAIN_WORD = 900  # beyond this a word could not fit a 998-octet line with its header name
_CHARSET = "utf-8"
_PAYLOAD = MAX_ENCODED_WORD - len(f"=?{_CHARSET}?q??=")  # room for encoded text in one word
_ATEXT = frozenset(string.ascii_letters + string.digits + "!#$%&'*+-/=?^_`{|}~")
# RFC 2047 §5(3): the only characters a "Q" encoded word may hold as themselves inside a phrase.
_Q_SAFE = frozenset(string.ascii_letters + string.digits + "!*+-/")
_ADDRESS_FORBIDDEN = re.compile(r'[\s<>()\[\],;:"\\\x00-\x1f\x7f]')


class BadAddress(ValueError):
    """Text that is not one email address (or ``Name <address>``)."""


def unstructured(name: str, text: str) -> str:
    """An unstructured header's value (``Subject``) from one-line text: as is, folded at spaces, when it is
    ASCII that no reader would mistake for encoded words; else RFC 2047 encoded words."""
    words = text.split(" ")
    if _plain(text) and all(len(word) <= _LONGEST_PLAIN_WORD for word in words):
        return fold(name, words)
    return fold(name, encoded_words(text))


def mailbox(name: str, display_name: str, address: str) -> str:
    """An address header's value for one mailbox: ``address`` alone, or the display name as atoms, a quoted
    string (ASCII with specials: ``"Acme, Inc."``) or encoded words (not ASCII), then ``<address>``."""
    if not display_name:
        return fold(name, [address])
    return fold(name, [*phrase(display_name), f"<{address}>"])


def phrase(display_name: str) -> list[str]:
    """A display name's words as written in an address header (see ``mailbox``)."""
    words = display_name.split(" ")
    if not _plain(display_name) or any(len(word) > _LONGEST_PLAIN_WORD for word in words):
        return encoded_words(display_name)
    if all(word and set(word) <= _ATEXT for word in words):
        return words
    quoted = [re.sub(r'(["\\])', r"\\\1", word) for word in words]
    quoted[0] = '"' + quoted[0]
    quoted[-1] += '"'
    return quoted  # one quoted string; folding between its words keeps their spaces (RFC 5322 §3.2.4)


def encoded_words(text: str) -> list[str]:
    """``text`` as RFC 2047 encoded words of at most 75 characters, each holding whole characters: "Q" when
    that is shorter (mostly Latin text), else "B". Safe in a phrase as in unstructured text."""
    q_length = sum(len(_q_char(ch)) for ch in text)
    b_length = -(-len(text.encode()) // 3) * 4
    return _chunks(text, "q" if q_length <= b_length else "b")


def fold(name: str, words: list[str]) -> str:
    """Words joined by spaces, a space becoming CRLF + space wherever the line would pass 78 characters.
    The first word always stays on the header's own line (a word is never longer than 998 octets)."""
    lines, line = [], f"{name}: {words[0]}"
    for word in words[1:]:
        if len(line) + 1 + len(word) > SOFT_LINE:
            lines.append(line)
            line = " " + word
        else:
            line += " " + word
    lines.append(line)
    return "\r\n".join(lines)[len(name) + 2 :]


def parse_mailbox(text: str) -> tuple[str, str]:
    """(display name, address) from ``Name <address>``, ``"Quoted, Name" <address>`` or a bare address;
    the name may hold commas, quotes and any character. Raises ``BadAddress`` for anything else."""
    text = " ".join((text or "").split())
    name, address = "", text
    if text.endswith(">") and "<" in text:
        name, _, address = text[:-1].rpartition("<")
        name = name.strip()
        if len(name) >= 2 and name[0] == name[-1] == '"':
            name = re.sub(r"\\(.)", r"\1", name[1:-1])
    address = address.strip()
    local, at, domain = address.rpartition("@")
    if not (at and local and domain) or "@" in local or _ADDRESS_FORBIDDEN.search(address):
        raise BadAddress(f"{text!r} is not an email address or 'Name <address>'")
    return name, address


def _plain(text: str) -> bool:
    """ASCII that needs no encoding: printable, and nothing a reader would decode as an encoded word."""
    return text.isascii() and text.isprintable() and "=?" not in text


def _q_encode(chunk: str) -> str:
    return "".join(_q_char(ch) for ch in chunk)


@functools.lru_cache(maxsize=4096)
def _q_char(ch: str) -> str:
    return ch if ch in _Q_SAFE else "_" if ch == " " else "".join(f"={b:02X}" for b in ch.encode())


def _chunks(text: str, letter: str) -> list[str]:
    """``text`` cut into the longest runs of whole characters whose encoding fits one encoded word."""
    words, run, q_length, byte_length = [], [], 0, 0
    for ch in text:
        q_next, bytes_next = q_length + len(_q_char(ch)), byte_length + len(ch.encode())
        encoded_length = q_next if letter == "q" else -(-bytes_next // 3) * 4
        if run and encoded_length > _PAYLOAD:
            words.append(_word("".join(run), letter))
            run, q_next, bytes_next = [], len(_q_char(ch)), len(ch.encode())
        run.append(ch)
        q_length, byte_length = q_next, bytes_next
    if run:
        words.append(_word("".join(run), letter))
    return words


def _word(chunk: str, letter: str) -> str:
    encoded = _q_encode(chunk) if letter == "q" else base64.b64encode(chunk.encode()).decode("ascii")
    return f"=?{_CHARSET}?{letter}?{encoded}?="
