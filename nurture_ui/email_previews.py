"""An email before it goes to a lead: rendered for a chosen lead (the template editor), per step of a
sequence (the builder), and sent as a test to the person writing it.

None of this writes an ``OutboundMessage``: a preview or a test is never a send to the lead, so it never
counts in the frequency cap, the outbox or a sequence's performance.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace

import sqlalchemy as sa

from nurture_ui import activity, clock, mailer, templating
from nurture_ui.engine.follow_ups import reply_subject
from nurture_ui.extensions import db
from nurture_ui.leads import LeadFilters, lead_query
from nurture_ui.models import EmailTemplate, Lead, SequenceStep, User

LEAD_SEARCH_LIMIT = 20

# What a lead field looks like for a tenant that has no lead yet: the builder still shows its emails.
_SAMPLE_LEAD = {
    "first_name": "Sam",
    "last_name": "Sample",
    "email": "sam@example.com",
    "company": "Example Co",
    "title": "Head of Operations",
    "segment": "",
    "status": "new",
    "score": 50,
    "score_band": "warm",
    "timezone": "UTC",
}


@dataclass(frozen=True)
class RenderedEmail:
    """A subject and body as the lead would read them, or the problem that keeps the template from
    rendering (its part and line)."""

    subject: str = ""
    body: str = ""
    problem: str = ""


def render_draft(subject: str, body: str, lead: Lead) -> RenderedEmail:
    """The subject and body as typed (not yet saved), rendered for ``lead`` signed by its owner; a syntax
    error, an unknown field or a sandbox refusal comes back as ``problem`` with its line."""
    problems = templating.check_source(subject, "Subject") + templating.check_source(body, "Body")
    if problems:
        return RenderedEmail(problem=" ".join(problems))
    owner = db.session.get(User, lead.owner_id) if lead.owner_id else None
    try:
        rendered_subject, rendered_body = templating.render_email(
            EmailTemplate(subject=subject, body=body), lead, owner
        )
    except templating.TemplateProblem as problem:
        return RenderedEmail(problem=str(problem))
    return RenderedEmail(subject=rendered_subject, body=rendered_body)


def search_leads(tenant_id: uuid.UUID, text: str, limit: int = LEAD_SEARCH_LIMIT) -> list[Lead]:
    """The tenant's leads whose name, email or company contains ``text`` (all of them, not a first page),
    newest first, at most ``limit``; the newest leads when ``text`` is blank. The same match as the leads
    list's search box."""
    return list(db.session.scalars(lead_query(tenant_id, LeadFilters(q=text.strip())).limit(limit)))


def sample_lead(tenant_id: uuid.UUID) -> tuple[Lead, bool]:
    """``(lead, real)``: the tenant's newest lead to preview emails with, or (``real`` False) a made-up
    lead that is never saved, for a tenant with no leads yet."""
    newest = db.session.scalar(
        sa.select(Lead).where(Lead.tenant_id == tenant_id).order_by(Lead.created_at.desc(), Lead.id).limit(1)
    )
    if newest is not None:
        return newest, True
    return Lead(tenant_id=tenant_id, owner_id=None, **_SAMPLE_LEAD), False


def preview_steps(steps: list[SequenceStep], lead: Lead) -> dict[uuid.UUID, RenderedEmail]:
    """Each email step's template rendered for ``lead``, by step id. A step with no template, or whose
    template is missing, is left out (the builder flags those steps). A follow-up in the same thread reads
    ``Re:`` the email before it, as the lead would get it when that one was sent."""
    keys = {s.template_id for s in steps if s.channel == "email" and s.template_id}
    if not keys:
        return {}
    templates = {
        t.key: t
        for t in db.session.scalars(
            sa.select(EmailTemplate).where(
                EmailTemplate.tenant_id == lead.tenant_id, EmailTemplate.key.in_(keys)
            )
        )
    }
    previews = {}
    earlier = None  # the preview of the last email step before this one
    for step in steps:
        template = templates.get(step.template_id) if step.channel == "email" else None
        if template is not None:
            preview = render_draft(template.subject, template.body, lead)
            if step.same_thread and earlier is not None and not (preview.problem or earlier.problem):
                preview = replace(preview, subject=reply_subject(earlier.subject))
            previews[step.id] = preview
        if step.channel == "email":
            earlier = previews.get(step.id)
    return previews


@dataclass(frozen=True)
class TestEmail:
    """What ``mailer.wire_email`` reads of an outbox row, for a test that has no row."""

    to_email: str
    subject: str
    body: str
    lead_id: uuid.UUID | None
    first_name: str
    last_name: str = ""
    message_id: str = ""
    id: None = None


def send_test_email(subject: str, body: str, lead: Lead, person: User) -> tuple[RenderedEmail, str | None]:
    """Render the typed subject and body for ``lead`` and send it to ``person``'s own address, marked as a
    test (``[Test]`` subject, ``X-Nurture-Test`` header, no unsubscribe link), through the app's SMTP server
    with the same composing code as real mail. Returns the rendering and None when the server took it, else
    why it was not sent (a template problem, the server's refusal).

    Records a ``test_email_sent`` activity for the person (committed), never an ``OutboundMessage``: it
    is not a send to the lead.
    """
    rendered = render_draft(subject, body, lead)
    if rendered.problem:
        return rendered, rendered.problem
    first, _, last = (person.name or "").partition(" ")
    message = TestEmail(
        to_email=person.email,
        subject=rendered.subject,
        body=rendered.body,
        lead_id=lead.id,
        first_name=first,
        last_name=last,
        message_id=mailer.new_message_id(),
    )
    try:
        wire = mailer.wire_email(message, now=clock.now(), test=True)
    except (mailer.UnsendableMessage, mailer.BadSender) as error:
        return rendered, f"The test could not be written: {error}"
    failure = mailer.deliver_now(wire)
    if failure:
        return rendered, f"The mail server did not take the test: {failure}"
    activity.record(
        "test_email_sent",
        tenant_id=person.tenant_id,
        actor_id=person.id,
        data={"to": person.email, "rendered_for": str(lead.id), "subject": rendered.subject},
    )
    db.session.commit()
    return rendered, None
