"""Settings → Mailboxes: connect the mailboxes replies are read from (and people's mail is sent from), test
them, read them now, and see the mail that arrived.

Admins manage every mailbox of the tenant; reps manage only their own (owner fixed to themselves).
Managers and marketers have no access: a mailbox is somebody's credentials and somebody's mail.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from nurture_ui.extensions import db
from nurture_ui.mail.imap_poll import poll_mailbox
from nurture_ui.mail.mailbox_settings import (
    MailboxRefused,
    check_connection,
    delete_mailbox,
    latest_inbound,
    mailbox_for,
    manages_all,
    save_mailbox,
    visible_mailboxes,
)
from nurture_ui.models import Mailbox
from nurture_ui.tenancy import parse_id
from nurture_ui.web.access import allow
from nurture_ui.web.mailbox_forms import MailboxForm

bp = Blueprint("mailboxes", __name__, url_prefix="/settings/mailboxes")

MANAGERS_OF_MAILBOXES = ("admin", "rep")


def _mailbox_or_404(mailbox_id: str) -> Mailbox:
    mailbox = mailbox_for(current_user, parse_id(mailbox_id))
    if mailbox is None:
        abort(404)
    return mailbox


def _form(mailbox: Mailbox | None = None) -> MailboxForm:
    form = MailboxForm()
    form.offer_owners(current_user, manages_all(current_user))
    if mailbox is not None and not form.is_submitted():
        form.load(mailbox)
    elif mailbox is None and not form.is_submitted() and not manages_all(current_user):
        form.address.data = current_user.email
    return form


@bp.route("/")
@allow(*MANAGERS_OF_MAILBOXES)
def index():
    mailboxes = db.session.scalars(visible_mailboxes(current_user)).all()
    return render_template(
        "settings/mailboxes.html",
        mailboxes=mailboxes,
        inbound=latest_inbound(current_user),
        manages_all=manages_all(current_user),
    )


@bp.route("/new", methods=["GET", "POST"])
@allow(*MANAGERS_OF_MAILBOXES)
def new():
    return _edit_page(None)


@bp.route("/<mailbox_id>", methods=["GET", "POST"])
@allow(*MANAGERS_OF_MAILBOXES)
def edit(mailbox_id):
    return _edit_page(_mailbox_or_404(mailbox_id))


def _edit_page(mailbox: Mailbox | None):
    form = _form(mailbox)
    if form.validate_on_submit():
        try:
            saved = save_mailbox(
                mailbox,
                form.values(),
                tenant_id=current_user.tenant_id,
                imap_password=form.imap_password.data,
                smtp_password=form.smtp_password.data,
                actor_id=current_user.id,
            )
        except MailboxRefused as refused:
            getattr(form, refused.field).errors.append(str(refused))
        else:
            flash(f"Saved the mailbox {saved.address}.", "success")
            return redirect(url_for("mailboxes.index"))
    status = 422 if form.errors else 200
    return render_template("settings/mailbox_form.html", form=form, mailbox=mailbox, checks=None), status


@bp.route("/test", methods=["POST"])
@allow(*MANAGERS_OF_MAILBOXES)
def test_new_connection():
    return _test_connection(None)


@bp.route("/<mailbox_id>/test", methods=["POST"])
@allow(*MANAGERS_OF_MAILBOXES)
def test_connection(mailbox_id):
    return _test_connection(_mailbox_or_404(mailbox_id))


def _test_connection(mailbox: Mailbox | None):
    """Signs in with what is typed in the form (a blank password: the stored one); saves nothing."""
    form = _form(mailbox)
    problems = []
    if not form.validate_on_submit():
        problems = [
            f"{getattr(form, name).label.text}: {errors[0]}"
            for name, errors in form.errors.items()
            if name != "csrf_token"
        ] or ["The form expired: reload the page."]
        checks = None
    else:
        checks = check_connection(form.values(), mailbox, form.imap_password.data, form.smtp_password.data)
    if request.headers.get("HX-Request"):
        return render_template("settings/_partials/connection_result.html", checks=checks, problems=problems)
    return render_template(
        "settings/mailbox_form.html", form=form, mailbox=mailbox, checks=checks, problems=problems
    ), 422 if problems else 200


@bp.route("/<mailbox_id>/poll", methods=["POST"])
@allow(*MANAGERS_OF_MAILBOXES)
def poll_now(mailbox_id):
    mailbox = _mailbox_or_404(mailbox_id)
    address = mailbox.address
    report = poll_mailbox(mailbox.id)
    if report.status == "read":
        read = f"{report.read} new message{'s' if report.read != 1 else ''}"
        flash(f"Read {address}: {read}.", "success")
    elif report.status == "busy":
        flash(f"{address} is being read right now by the scheduler; try again in a moment.", "info")
    elif report.status == "disabled":
        flash(f"{address} is disabled: enable it to read its mail.", "info")
    else:
        flash(f"Could not read {address}: {report.error}", "error")
    return redirect(url_for("mailboxes.index"))


@bp.route("/<mailbox_id>/delete", methods=["GET", "POST"])
@allow(*MANAGERS_OF_MAILBOXES)
def delete(mailbox_id):
    mailbox = _mailbox_or_404(mailbox_id)
    if request.method == "POST":
        address = mailbox.address
        delete_mailbox(mailbox, actor_id=current_user.id)
        flash(f"Removed the mailbox {address}; its password is gone too.", "success")
        return redirect(url_for("mailboxes.index"))
    return render_template("settings/mailbox_delete.html", mailbox=mailbox)
