"""Email templates: sandboxed Jinja with lead and owner fields, checked on save, rendered for sending.

A template sees two objects, ``lead`` and ``owner``, each a fixed set of plain fields. Anything else —
an unknown field, a syntax error, an attribute the sandbox forbids — is refused on save with its line,
and refused again at render time (``TemplateProblem``), never silently rendered as blank.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from functools import lru_cache

import sqlalchemy as sa
from jinja2 import StrictUndefined, TemplateSyntaxError, nodes
from jinja2.compiler import CodeGenerator
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

# What a rendered subject or body may grow to, and what one operation inside a template may build.
MAX_RENDERED = 100_000


class _CappedConcat(CodeGenerator):
    """``a ~ b ~ …`` compiled to a join that checks the size first (Jinja's own join cannot be intercepted)."""

    def visit_Concat(self, node: nodes.Concat, frame) -> None:  # noqa: N802 (Jinja's visitor name)
        self.write("environment.capped_concat((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class _EmailSandbox(SandboxedEnvironment):
    """Jinja's sandbox (no attribute starting with ``_``, no unsafe callables) made safe for templates that
    people type: no powers; repetition, concatenation and the few filters that can grow text capped; a short
    list of filters. Beyond escapes, this keeps a template from eating the worker's memory."""

    code_generator_class = _CappedConcat
    intercepted_binops = frozenset({"*", "**", "+"})

    def call_binop(self, context, operator, left, right):
        if operator == "**":
            raise SecurityError("powers (**) are not allowed in email templates")
        if operator == "+" and isinstance(left, (str, list, tuple)) and isinstance(right, (str, list, tuple)):
            _check_size(len(left) + len(right))
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, (str, list, tuple)) and isinstance(times, int):
                    _check_size(len(seq) * max(times, 0))
        if isinstance(left, int) and isinstance(right, int):
            _check_size(left.bit_length() + right.bit_length(), what="a number")
        return super().call_binop(context, operator, left, right)

    @staticmethod
    def capped_concat(values) -> str:
        parts = [str(v) for v in values]
        _check_size(sum(map(len, parts)))
        return "".join(parts)


def _check_size(size: int, what: str = "text") -> None:
    if size > MAX_RENDERED:
        raise SecurityError(f"the template builds {what} larger than {MAX_RENDERED:,} characters")


def _replace(value, old, new, count=None):
    value, old, new = str(value), str(old), str(new)
    grows = (len(value) + 1 if old == "" else value.count(old)) * max(len(new) - len(old), 0)
    _check_size(len(value) + grows)
    return value.replace(old, new) if count is None else value.replace(old, new, int(count))


def _join(value, separator="", attribute=None):
    if attribute is not None:
        raise SecurityError("join by attribute is not allowed in email templates")
    items = [str(v) for v in value]
    _check_size(sum(map(len, items)) + max(len(items) - 1, 0) * len(str(separator)))
    return str(separator).join(items)


# Filters that shorten, convert or compare. Those that pad or repeat text (center, indent, wordwrap,
# format, urlencode, batch…) are left out: unknown filters are refused when the template is saved.
_SAFE_FILTERS = [
    "abs",
    "capitalize",
    "count",
    "d",
    "default",
    "first",
    "float",
    "int",
    "last",
    "length",
    "lower",
    "reverse",
    "round",
    "string",
    "striptags",
    "title",
    "trim",
    "truncate",
    "upper",
    "wordcount",
]

_env = _EmailSandbox(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)
_env.filters = {name: _env.filters[name] for name in _SAFE_FILTERS} | {"replace": _replace, "join": _join}
# Nothing global: no range(), lipsum(), cycler, joiner or namespace for a template to reach through.
_env.globals = {}
# Statements a template has no use for, each a door to recursion, other files or unbounded work.
_REFUSED_NODES = {
    nodes.Macro: "macros are not allowed in email templates",
    nodes.CallBlock: "call blocks are not allowed in email templates",
    nodes.Call: "calls like x.upper() are not allowed in email templates; use a filter, like x|upper",
    nodes.Include: "include is not allowed in email templates",
    nodes.Import: "import is not allowed in email templates",
    nodes.FromImport: "import is not allowed in email templates",
    nodes.Extends: "extends is not allowed in email templates",
    nodes.With: "with blocks are not allowed in email templates; use {% set %}",
}


_TOO_DEEP = "{part}: the template nests expressions too deeply (a very long a + b + … or many brackets)."


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
    """Problems with one template source (subject or body): syntax errors, unknown fields and refused
    constructs, with lines."""
    try:
        tree = _env.parse(source)
        _env.compile(source)  # unknown filters are found when compiling, not parsing
    except TemplateSyntaxError as error:
        return [f"{part}, line {error.lineno}: {error.message}"]
    except RecursionError:
        return [_TOO_DEEP.format(part=part)]
    problems = _structure_problems(tree, part)
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


def _structure_problems(tree: nodes.Template, part: str) -> list[str]:
    """Constructs refused in email templates (see ``_REFUSED_NODES``), nested loops, and ``{% set %}``
    inside a loop or built from another local: the ways a short template grows without bound."""
    problems = []
    for kind, label in _REFUSED_NODES.items():
        for node in tree.find_all(kind):
            problems.append(f"{part}, line {node.lineno}: {label}.")
            break
    for loop in tree.find_all(nodes.For):
        for inner in loop.find_all(nodes.For):
            problems.append(f"{part}, line {inner.lineno}: loops cannot be nested in email templates.")
        for assign in loop.find_all((nodes.Assign, nodes.AssignBlock)):
            problems.append(f"{part}, line {assign.lineno}: {{% set %}} cannot be used inside a loop.")
    locals_ = {n.name for n in tree.find_all(nodes.Name) if n.ctx in ("store", "param")}
    for assign in tree.find_all((nodes.Assign, nodes.AssignBlock)):
        values = [assign.node] if isinstance(assign, nodes.Assign) else list(assign.body)
        used = {
            n.name
            for value in values
            for n in [value, *value.find_all(nodes.Name)]
            if isinstance(n, nodes.Name)
        }
        if used & locals_:
            problems.append(
                f"{part}, line {assign.lineno}: {{% set %}} may only use lead.… and owner.… fields, "
                f"not {', '.join(sorted(used & locals_))}."
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


@lru_cache(maxsize=512)
def _compiled(source: str, part: str):
    """The compiled template, or the ``TemplateProblem`` that refuses it (a batch renders the same few
    templates many times: each is parsed and checked once)."""
    try:
        tree = _env.parse(source)
        problems = _structure_problems(tree, part)
        return TemplateProblem(problems[0]) if problems else _env.from_string(source)
    except TemplateSyntaxError as error:
        return TemplateProblem(f"{part}, line {error.lineno}: {error.message}")
    except RecursionError:
        return TemplateProblem(_TOO_DEEP.format(part=part))


def _render(source: str, part: str, context: dict) -> str:
    compiled = _compiled(source, part)
    if isinstance(compiled, TemplateProblem):
        raise compiled
    try:
        pieces, size = [], 0
        for piece in compiled.generate(context):
            size += len(piece)
            _check_size(size)
            pieces.append(piece)
        return "".join(pieces)
    except RecursionError as error:
        raise TemplateProblem(f"{part}: the template recurses too deeply") from error
    except (ArithmeticError, TypeError, ValueError, LookupError) as error:
        # {{ 1 / 0 }}, {{ lead.first_name + 1 }}: the template's mistake, reported like any other.
        raise TemplateProblem(f"{part}: {error}") from error
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
    """The tenant's steps that send ``key``: as their template or as an A/B variant's."""
    from nurture_ui.variants import template_keys

    steps = db.session.scalars(
        sa.select(SequenceStep).where(SequenceStep.tenant_id == tenant_id, SequenceStep.channel == "email")
    )
    return [step for step in steps if key in template_keys(step)]


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
