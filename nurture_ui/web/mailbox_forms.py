"""The form of Settings → Mailboxes: a mailbox's address, owner, IMAP and SMTP servers, and sending limits."""

from __future__ import annotations

import re
import uuid

import sqlalchemy as sa
from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, ValidationError

from nurture_ui.extensions import db
from nurture_ui.mail.mailbox_settings import EDITABLE
from nurture_ui.models import Mailbox, User
from nurture_ui.web.validators import EmailAddress

SECURITY_CHOICES = [
    ("ssl", "TLS"),
    ("starttls", "STARTTLS"),
    ("none", "None (unencrypted)"),
]
TEAM = ""  # the owner choice for the team's shared mailbox
_HOST = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.\-]*[A-Za-z0-9])?$|^\[?[0-9A-Fa-f:.]+\]?$")


def _host(form, field):
    if field.data and not _HOST.match(field.data):
        raise ValidationError("Enter a host name such as imap.example.com, or an IP address.")


def _port(label: str, default: int):
    return IntegerField(
        label,
        default=default,
        validators=[
            InputRequired("Enter a port number."),
            NumberRange(1, 65535, "A port is a number from 1 to 65535."),
        ],
    )


class MailboxForm(FlaskForm):
    address = StringField(
        "Email address",
        validators=[DataRequired("Enter the mailbox's email address."), EmailAddress(), Length(max=320)],
    )
    display_name = StringField("Display name", validators=[Optional(), Length(max=255)])
    owner_id = SelectField("Whose mailbox", choices=[], validate_choice=True)
    enabled = BooleanField(
        "Enabled: read replies from it (and send from it when it is a person's)", default=True
    )

    imap_host = StringField(
        "IMAP server", validators=[DataRequired("Enter the IMAP server's host name."), Length(max=255), _host]
    )
    imap_port = _port("IMAP port", 993)
    imap_security = SelectField("IMAP security", choices=SECURITY_CHOICES, default="ssl")
    imap_username = StringField("IMAP user name", validators=[Optional(), Length(max=320)])
    imap_password = PasswordField("IMAP password", validators=[Optional(), Length(max=1024)])
    imap_folder = StringField("Folder", default="INBOX", validators=[Optional(), Length(max=255)])

    smtp_host = StringField("SMTP server", validators=[Optional(), Length(max=255), _host])
    smtp_port = _port("SMTP port", 587)
    smtp_security = SelectField("SMTP security", choices=SECURITY_CHOICES, default="starttls")
    smtp_username = StringField("SMTP user name", validators=[Optional(), Length(max=320)])
    smtp_password = PasswordField("SMTP password", validators=[Optional(), Length(max=1024)])

    daily_send_limit = IntegerField(
        "Daily send limit",
        default=200,
        validators=[
            InputRequired("Enter how many emails a day may go out from it."),
            NumberRange(1, 100_000, "Between 1 and 100000 emails a day."),
        ],
    )
    min_spacing_seconds = IntegerField(
        "Minimum spacing (seconds)",
        default=60,
        validators=[
            InputRequired("Enter the seconds to wait between two sends (0 for none)."),
            NumberRange(0, 86_400, "Between 0 and 86400 seconds (a day)."),
        ],
    )

    def offer_owners(self, user: User, manages_all: bool) -> None:
        """Admins choose the team or any person of the tenant; a rep's mailbox is always their own."""
        if manages_all:
            people = db.session.scalars(
                sa.select(User).where(User.tenant_id == user.tenant_id).order_by(User.name)
            ).all()
            self.owner_id.choices = [(TEAM, "The team (shared reply mailbox)")] + [
                (str(person.id), f"{person.name} ({person.email})") for person in people
            ]
        else:
            self.owner_id.choices = [(str(user.id), f"{user.name} (you)")]
            self.owner_id.data = str(user.id)

    def load(self, mailbox: Mailbox) -> None:
        # Every stored setting but the owner, which the form holds as ``owner_id`` (a choice).
        for name in EDITABLE:
            if name != "user_id":
                getattr(self, name).data = getattr(mailbox, name)
        self.owner_id.data = str(mailbox.user_id) if mailbox.user_id else TEAM

    def values(self) -> dict:
        """The validated form as Mailbox columns; the IMAP user name defaults to the (lower-cased) address."""
        # Mailbox addresses are matched without regard to case (the unique constraint is not): one form.
        address = self.address.data.lower()
        owner = self.owner_id.data
        return {
            "address": address,
            "display_name": (self.display_name.data or "").strip(),
            "user_id": uuid.UUID(owner) if owner else None,
            "enabled": bool(self.enabled.data),
            "imap_host": self.imap_host.data.strip(),
            "imap_port": self.imap_port.data,
            "imap_security": self.imap_security.data,
            "imap_username": (self.imap_username.data or "").strip() or address,
            "imap_folder": (self.imap_folder.data or "").strip() or "INBOX",
            "smtp_host": (self.smtp_host.data or "").strip(),
            "smtp_port": self.smtp_port.data,
            "smtp_security": self.smtp_security.data,
            "smtp_username": (self.smtp_username.data or "").strip(),
            "daily_send_limit": self.daily_send_limit.data,
            "min_spacing_seconds": self.min_spacing_seconds.data,
        }
