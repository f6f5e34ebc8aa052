"""What DKIM signing costs the send loop, per message (RSA 2048, a 30-line message).

    PYTHONPATH=. .venv/bin/python -m bench.dkim_cost

Signs the way ``mailer.send_messages`` does (``DkimSigner.sign``: dkimpy, its RSA step done by OpenSSL) and,
for comparison, with dkimpy's own pure-Python RSA.
"""

from __future__ import annotations

import time

import dkim
import dkim.crypto

from nurture_ui.mail import dkim_keys
from nurture_ui.mail.dkim_keys import DkimSigner, generate_private_key

MESSAGE = (
    b"From: Acme <n@acme.example>\r\nTo: Ada <ada@example.test>\r\nSubject: Hello\r\n"
    b"Date: Thu, 03 Dec 2026 07:00:00 +0000\r\nMessage-ID: <1@acme.example>\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: text/plain; charset="utf-8"\r\n\r\n' + b"A line of the email's body, as sent.\r\n" * 30
)


def per_message_ms(signer: DkimSigner, count: int) -> float:
    signer.sign(MESSAGE)
    started = time.perf_counter()
    for _ in range(count):
        signer.sign(MESSAGE)
    return (time.perf_counter() - started) / count * 1000


def main() -> None:
    signer = DkimSigner("acme.example", "nurture1", generate_private_key().encode())
    print(f"signing as the send loop does: {per_message_ms(signer, 500):.2f} ms per message")
    dkim.RSASSA_PKCS1_v1_5_sign = dkim.crypto.RSASSA_PKCS1_v1_5_sign
    try:
        print(f"dkimpy's own RSA (pure Python): {per_message_ms(signer, 50):.2f} ms per message")
    finally:
        dkim.RSASSA_PKCS1_v1_5_sign = dkim_keys._openssl_rsassa_sign


if __name__ == "__main__":
    main()
