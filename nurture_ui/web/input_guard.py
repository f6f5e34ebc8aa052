"""Input no field may hold, refused at the door for every form and query string; and request sizes.

A NUL character cannot be stored in a PostgreSQL text column (and nobody types one): rather than letting
it reach the database as a 500, every request carrying one in a form field, a query argument or a file
name is refused with a readable 400. Each form still checks its own fields and lengths.
"""

from __future__ import annotations

from flask import current_app, render_template, request

# Views that may read up to MAX_CONTENT_LENGTH: the CSV upload, and the events API, which checks its own
# smaller limit and answers in JSON. Every other request is held to MAX_FORM_BYTES.
LARGE_BODY_ENDPOINTS = frozenset({"lead_imports.upload", "api.receive_event"})

MESSAGE = (
    "The form contained a character that cannot be saved (a NUL control character). "
    "Remove it, for example by retyping the text instead of pasting it, and try again."
)


def limit_request_size():
    """``before_request`` hook, first of all: forms are small, only uploads may be large (413 above)."""
    if request.endpoint not in LARGE_BODY_ENDPOINTS:
        request.max_content_length = current_app.config["MAX_FORM_BYTES"]


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
