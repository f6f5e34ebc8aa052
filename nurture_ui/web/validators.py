"""WTForms validators that call into the core's checks."""

from __future__ import annotations

from wtforms.validators import ValidationError

from nurture_ui.addresses import normalize_email


class EmailAddress:
    """A well-formed email address; the field's data becomes its normal form."""

    def __call__(self, form, field):
        if not field.data:
            return
        try:
            field.data = normalize_email(field.data)
        except ValueError as error:
            raise ValidationError(f"Enter a valid email address: {error}") from error
