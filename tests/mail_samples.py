"""The mail corpus under tests/data/mail: real clients' messages with our addresses put in at load time.

Placeholders: ``${MESSAGE_ID}`` (our email being answered), ``${LEAD}`` (the lead's address),
``${LEAD_UPPER}`` (the same, upper-cased, as some clients write it), ``${REPLY_TO}`` (our Reply-To, with
or without a reply token) and ``${OUR}`` (our sender address).
"""

from __future__ import annotations

from pathlib import Path
from string import Template

SAMPLES = Path(__file__).parent / "data" / "mail"
OUR_ADDRESS = "nurture@localhost"  # the address in the test app's MAIL_FROM
LEAD_ADDRESS = "lee.lead@example.test"
OUR_MESSAGE_ID = "<20260302110000.a1b2c3@localhost>"


def sample_names() -> list[str]:
    return sorted(path.stem for path in SAMPLES.glob("*.eml"))


def load_sample(
    name: str,
    *,
    message_id: str = OUR_MESSAGE_ID,
    lead: str = LEAD_ADDRESS,
    reply_to: str = OUR_ADDRESS,
    our: str = OUR_ADDRESS,
) -> bytes:
    """The sample's bytes with the placeholders filled in and CRLF line ends, as they come off the wire."""
    text = (SAMPLES / f"{name}.eml").read_bytes().decode("latin-1")  # every byte kept as it is
    text = Template(text).safe_substitute(
        MESSAGE_ID=message_id, LEAD=lead, LEAD_UPPER=lead.upper(), REPLY_TO=reply_to, OUR=our
    )
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode("latin-1")
