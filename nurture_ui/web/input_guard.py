"""Input no field may hold, refused at the door for every form and query string.

A NUL character cannot be stored in a PostgreSQL text column (and nobody types one): rather than letting
it reach the database as a 500, every request carrying one in a form field, a query argument or a file
name is refused with a readable 400. Each form still checks its own fields and lengths.
"""

from __future__ import annotations

from flask import render_template, request

MESSAGE = (
    "The form contained a character that cannot be saved (a NUL control character). "
    "Remove it, for example by retyping the text instead of pasting it, and try again."
)


def _has_nul(values) -> bool:
    return any("\x00" in key or any("\x00" in v for v in vs) for key, vs in values.lists())


def refuse_unstorable_input():
    """``before_request`` hook: a 400 page (or htmx fragment) when the request carries a NUL character."""
    if request.endpoint == "static":
        return None
    bad = _has_nul(request.args)
    if not bad and request.method in ("POST", "PUT", "PATCH") and request.mimetype != "application/json":
        bad = _has_nul(request.form) or any("\x00" in (f.filename or "") for f in request.files.values())
    if not bad:
        return None
    if request.headers.get("HX-Request"):
        return render_template("errors/_inline.html", title="Cannot save that text", message=MESSAGE), 400
    return (
        render_template("errors/error.html", code=400, title="Cannot save that text", message=MESSAGE),
        400,
    )
