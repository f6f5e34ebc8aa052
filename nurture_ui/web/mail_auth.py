"""Email authentication (admins only): the tenant's DKIM domain, selector and key, and the DNS record to
publish. The private key is made here or pasted, stored sealed, and never shown again."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import StringField, TextAreaField
from wtforms.validators import Length

from nurture_ui.extensions import db
from nurture_ui.mail.dkim_keys import (
    DkimKeyError,
    check_domain,
    check_selector,
    clear_key,
    dns_record,
    generate_private_key,
    normalized_private_key,
    store_key,
)
from nurture_ui.mail.headers import BadAddress, parse_mailbox
from nurture_ui.secret_box import SecretUnreadable, open_sealed
from nurture_ui.web.access import allow

bp = Blueprint("mail_auth", __name__, url_prefix="/settings/email-authentication")


class DkimForm(FlaskForm):
    domain = StringField("Signing domain", validators=[Length(max=253)])
    selector = StringField("Selector", validators=[Length(max=63)])
    private_key = TextAreaField("Private key (PEM)", validators=[Length(max=20000)])


class StopForm(FlaskForm):
    """Only its CSRF token: the button that stops signing."""


@bp.route("/", methods=["GET", "POST"])
@allow("admin")
def index():
    tenant = current_user.tenant
    form = DkimForm()
    if form.validate_on_submit():
        generate = request.form.get("action") == "generate"
        pasted = (form.private_key.data or "").strip()
        if _save(tenant, form, generate=generate, pasted=pasted):
            db.session.commit()
            if generate:
                flash("A new key was made. Publish the DNS record below.", "success")
            else:
                flash("Saved.", "success")
            return redirect(url_for("mail_auth.index"))
    elif not form.is_submitted():
        form.domain.data = tenant.dkim_domain or _default_domain()
        form.selector.data = tenant.dkim_selector or "nurture1"
    form.private_key.data = ""  # a key is never sent back to the browser
    record, unreadable = None, False
    if tenant.dkim_private_key:
        try:
            record = dns_record(
                tenant.dkim_selector, tenant.dkim_domain, open_sealed(tenant.dkim_private_key)
            )
        except SecretUnreadable:
            unreadable = True
    status = 422 if form.errors else 200
    return render_template(
        "settings/mail_auth.html", form=form, stop=StopForm(), record=record, unreadable=unreadable
    ), status


@bp.route("/stop", methods=["POST"])
@allow("admin")
def stop():
    if StopForm().validate_on_submit():
        clear_key(current_user.tenant, actor_id=current_user.id)
        db.session.commit()
        flash(
            "Emails are no longer DKIM-signed. Remove the DNS record when no email in flight needs it.",
            "info",
        )
    return redirect(url_for("mail_auth.index"))


def _save(tenant, form: DkimForm, *, generate: bool, pasted: str) -> bool:
    """Check the form and store what it sets; False with the fields' errors filled in when it cannot."""
    values = {}
    for field, check in ((form.domain, check_domain), (form.selector, check_selector)):
        try:
            values[field.name] = check(field.data)
        except DkimKeyError as error:
            field.errors = [str(error)]
    if generate:
        key = generate_private_key()
    elif pasted:
        try:
            key = normalized_private_key(pasted)
        except DkimKeyError as error:
            form.private_key.errors = [str(error)]
            return False
    elif tenant.dkim_private_key:
        key = None  # the domain or selector changes, the key stays
    else:
        form.private_key.errors = ["Generate a key, or paste the private key you already publish."]
        return False
    if len(values) < 2:
        return False
    how = "kept" if key is None else "generated" if generate else "pasted"
    store_key(
        tenant,
        domain=values["domain"],
        selector=values["selector"],
        private_pem=key,
        actor_id=current_user.id,
        how=how,
    )
    return True


def _default_domain() -> str:
    """The sending address's domain: what the signature should name so DMARC sees them aligned."""
    try:
        return parse_mailbox(current_app.config["MAIL_FROM"])[1].rpartition("@")[2]
    except BadAddress:
        return ""
