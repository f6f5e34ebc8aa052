"""What a step's email says: the one seam between the engine and the template renderer.

The templating module (``nurture_ui.templating.render_email``) owns the template language. Until it exists,
a private minimal renderer (sandboxed Jinja over ``lead`` and ``owner``) stands in, so the engine works on
its own; once it exists, it is used, and nothing else in the engine changes.
"""

from __future__ import annotations

from functools import lru_cache

from jinja2.sandbox import SandboxedEnvironment

_fallback_env = SandboxedEnvironment(autoescape=False)


@lru_cache(maxsize=512)
def _compiled(source: str):
    # A batch renders the same few templates hundreds of times: compile each once.
    return _fallback_env.from_string(source)


def render_step_email(template, lead, owner) -> tuple[str, str]:
    """``(subject, body)`` of ``template`` for ``lead`` and its ``owner`` (which may be None)."""
    try:
        from nurture_ui.templating import render_email
    except ModuleNotFoundError as error:
        if error.name != "nurture_ui.templating":
            raise
        return _render_minimal(template, lead, owner)
    return render_email(template, lead, owner)


def _render_minimal(template, lead, owner) -> tuple[str, str]:
    context = {"lead": lead, "owner": owner}
    subject = _compiled(template.subject).render(context)
    body = _compiled(template.body).render(context)
    # A header cannot span lines.
    return " ".join(subject.split()), body
