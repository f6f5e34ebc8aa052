"""Email address checks, shared by forms, the API and the importer."""

from __future__ import annotations

import email_validator


def normalize_email(value: str) -> str:
    """The address in its normal form (domain lower-cased), or ValueError with a readable reason.

    Syntax only: no DNS look-ups, and special-use domains such as ``.test`` are allowed, so demo and
    test data work; deliverability is learnt from bounces.
    """
    try:
        result = email_validator.validate_email(
            value.strip(), check_deliverability=False, test_environment=True, allow_smtputf8=True
        )
    except email_validator.EmailNotValidError as error:
        raise ValueError(str(error)) from error
    return result.normalized
