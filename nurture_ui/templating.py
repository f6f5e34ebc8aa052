"""Email templates: sandboxed Jinja with lead and owner fields, checked on save, rendered for sending.

A template sees two objects, ``lead`` and ``owner``, each a fixed set of plain fields. Anything else —
an unknown field, a syntax error, an attribute the sandbox forbids — is refused on save with its line,
and refused again at render time (``TemplateProblem``), never silently rendered as blank.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from jinja2 import StrictUndefined, TemplateSyntaxError, nodes
from jinja2.exceptions import SecurityError, TemplateError, UndefinedError
from jinja2.sandbox import SandboxedEnvironment

from nurture_ui import activity
from nurture_ui.extensions import db
from nurture_ui.models import EmailTemplate, Lead, SequenceStep, Tenant, User

LEAD_FIELDS = (
    "first_name",
    "last_name",
    "name",
    "email",
    "company",
    "title",
    "phone",
    "segment",
    "status",
    "score",
    "score_band",
    "timezone",
)
OWNER_FIELDS = ("name", "first_name", "email")
KEY_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
MAX_SUBJECT = 255
MAX_BODY = 20_000
# Who may mark a template pre-approved (it lets steps skip review under the tenant policy).
APPROVER_ROLES = frozenset({"admin", "marketer"})

_env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)


class TemplateProblem(Exception):
    """A template that cannot be rendered: the message names the part and the line."""


def lead_context(lead: Lead) -> dict:
    return {f: ("" if getattr(lead, f) is None else getattr(lead, f)) for f in LEAD_FIELDS}


def owner_context(owner: User | None, tenant_name: str = "") -> dict:
    if owner is None:
        # An unowned lead still gets a signature: the team, never an empty line.
        name = f"The {tenant_name} team".replace("The  team", "The team")
        return {"name": name, "first_name": name, "email": ""}
    return {"name": owner.name, "first_name": owner.name.split(" ")[0], "email": owner.email}


def check_source(source: str, part: str) -> list[str]:
    """Problems with one template source (subject or body): syntax errors and unknown fields, with lines."""
    try:
        tree = _env.parse(source)
    except TemplateSyntaxError as error:
        return [f"{part}, line {error.lineno}: {error.message}"]
    problems = []
    allowed = {"lead": LEAD_FIELDS, "owner": OWNER_FIELDS}
    for node in tree.find_all(nodes.Name):
        if node.ctx == "load" and node.name not in allowed and not _is_local(tree, node.name):
            problems.append(f"{part}, line {node.lineno}: unknown name '{node.name}'; use lead.… or owner.…")
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        if isinstance(node.node, nodes.Name) and node.node.name in allowed:
            attr = node.attr if isinstance(node, nodes.Getattr) else getattr(node.arg, "value", None)
            if attr not in allowed[node.node.name]:
                fields = ", ".join(allowed[node.node.name])
                problems.append(
                    f"{part}, line {node.lineno}: unknown field '{node.node.name}.{attr}'; use one of {fields}."
                )
    return problems


def _is_local(tree: nodes.Template, name: str) -> bool:
    """Names the template binds itself ({% set %}, {% for %}) are fine."""
    for node in tree.find_all((nodes.Assign, nodes.For)):
        for target in (
            node.target.find_all(nodes.Name) if not isinstance(node.target, nodes.Name) else [node.target]
        ):
            if target.name == name:
                return True
    return False


def _render(source: str, part: str, context: dict) -> str:
    try:
        return _env.from_string(source).render(context)
    except TemplateSyntaxError as error:
        raise TemplateProblem(f"{part}, line {error.lineno}: {error.message}") from error
    except (UndefinedError, SecurityError) as error:
        raise TemplateProblem(f"{part}: {error}") from error
    except TemplateError as error:
        raise TemplateProblem(f"{part}: {error}") from error


def render_email(template: EmailTemplate, lead: Lead, owner: User | None) -> tuple[str, str]:
    """``(subject, body)`` of ``template`` for ``lead`` signed by ``owner`` (None: the tenant's team).

    The subject comes back on one line (no header injection). Raises ``TemplateProblem`` when the template
    cannot render.
    """
    tenant = db.session.get(Tenant, lead.tenant_id)
    context = {"lead": lead_context(lead), "owner": owner_context(owner, tenant.name if tenant else "")}
    subject = _render(template.subject, "Subject", context)
    body = _render(template.body, "Body", context)
    return " ".join(subject.split())[:998], body


# ---------------------------------------------------------------------------------------------------
# Saving


@dataclass
class TemplateInput:
    key: str
    name: str
    subject: str
    body: str
    pre_approved: bool = False


def template_errors(
    tenant_id: uuid.UUID, data: TemplateInput, *, existing: EmailTemplate | None = None
) -> dict[str, list[str]]:
    """Field-level problems: ``{"subject": ["Subject, line 1: …"], …}``; empty when it may be saved."""
    errors: dict[str, list[str]] = {}
    if not KEY_PATTERN.match(data.key or ""):
        errors["key"] = ["Use lowercase letters, digits and dashes, like intro-email (at most 63)."]
    else:
        clash = db.session.scalar(
            sa.select(EmailTemplate.id).where(
                EmailTemplate.tenant_id == tenant_id, EmailTemplate.key == data.key
            )
        )
        if clash and (existing is None or clash != existing.id):
            errors["key"] = [f"Another template already uses the key '{data.key}'."]
        elif existing is not None and data.key != existing.key and _steps_using(tenant_id, existing.key):
            errors["key"] = ["Steps use this template by its key, so the key cannot change."]
    if not data.name.strip():
        errors["name"] = ["Enter a name."]
    elif len(data.name) > 255:
        errors["name"] = ["Use at most 255 characters."]
    for part, source, limit in (("subject", data.subject, MAX_SUBJECT), ("body", data.body, MAX_BODY)):
        if not source.strip():
            errors[part] = [f"Enter a {part}."]
        elif len(source) > limit:
            errors[part] = [f"Use at most {limit} characters."]
        else:
            problems = check_source(source, part.title())
            if not problems:
                problems = _trial_render(source, part.title())
            if problems:
                errors[part] = problems
    return errors


def _trial_render(source: str, part: str) -> list[str]:
    """Render once against sample data: catches what parsing cannot (a bad filter argument, a sandbox refusal)."""
    sample = {"lead": dict.fromkeys(LEAD_FIELDS, "Sample"), "owner": dict.fromkeys(OWNER_FIELDS, "Sample")}
    sample["lead"]["score"] = 50
    try:
        _render(source, part, sample)
    except TemplateProblem as problem:
        return [str(problem)]
    return []


def save_template(
    tenant_id: uuid.UUID, data: TemplateInput, *, actor: User, existing: EmailTemplate | None = None
) -> tuple[EmailTemplate | None, dict[str, list[str]]]:
    """Create or update a template (committed), or return its field errors and change nothing.

    Only admins and marketers may mark a template pre-approved; for anyone else the flag keeps its value.
    """
    data.key, data.name = (data.key or "").strip(), (data.name or "").strip()
    errors = template_errors(tenant_id, data, existing=existing)
    if errors:
        return None, errors
    template = existing or EmailTemplate(tenant_id=tenant_id, created_by=actor.id)
    pre_approved = (
        data.pre_approved if actor.role in APPROVER_ROLES else (existing.pre_approved if existing else False)
    )
    template.key, template.name, template.subject, template.body = (
        data.key,
        data.name,
        data.subject,
        data.body,
    )
    template.pre_approved = pre_approved
    if existing is None:
        db.session.add(template)
    db.session.flush()
    activity.record(
        "template_updated" if existing else "template_created",
        tenant_id=tenant_id,
        actor_id=actor.id,
        data={"template": template.key, "pre_approved": template.pre_approved},
    )
    db.session.commit()
    return template, {}


def _steps_using(tenant_id: uuid.UUID, key: str) -> list[SequenceStep]:
    return list(
        db.session.scalars(
            sa.select(SequenceStep).where(
                SequenceStep.tenant_id == tenant_id, SequenceStep.template_id == key
            )
        )
    )


def delete_template(template: EmailTemplate, *, actor: User) -> list[str]:
    """Delete the template (committed), or return why not: steps still use it."""
    users = _steps_using(template.tenant_id, template.key)
    if users:
        names = sorted({f"{s.sequence.name} (step {s.step_order})" for s in users})
        return [f"Used by {', '.join(names)}: change those steps first."]
    activity.record(
        "template_deleted", tenant_id=template.tenant_id, actor_id=actor.id, data={"template": template.key}
    )
    db.session.delete(template)
    db.session.commit()
    return []
