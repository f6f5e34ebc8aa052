"""Nurture: lead nurture sequences. ``create_app`` builds the Flask app from the environment."""

from __future__ import annotations

import os
from pathlib import Path

from flask import Flask, render_template, request

from nurture_ui.config import load_config
from nurture_ui.extensions import csrf, db, htmx, login_manager, migrate

ROOT = Path(__file__).resolve().parent.parent
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def create_app(overrides: dict | None = None) -> Flask:
    instance_path = os.environ.get("NURTURE_INSTANCE_PATH") or str(ROOT / "instance")
    app = Flask(
        __name__,
        instance_path=instance_path,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    app.config.update(load_config(app.instance_path))
    if overrides:
        app.config.update(overrides)

    from nurture_ui import models  # noqa: F401  (registers every table)

    db.init_app(app)
    migrate.init_app(app, db, directory=str(MIGRATIONS_DIR), render_as_batch=True)
    csrf.init_app(app)
    htmx.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please sign in to continue."
    login_manager.login_message_category = "info"

    _register_blueprints(app)
    _register_hooks(app)

    from nurture_ui.cli import nurture_cli

    app.cli.add_command(nurture_cli)
    return app


def _register_blueprints(app: Flask) -> None:
    from nurture_ui import devmail
    from nurture_ui.api import events as api_events
    from nurture_ui.web import (
        auth,
        dashboard,
        email_templates,
        enrollments,
        health,
        holidays,
        inbox,
        lead_imports,
        lead_signals,
        leads,
        mail_auth,
        mailboxes,
        outbox,
        overview,
        performance,
        platform,
        profile,
        sent_mail,
        sequence_window,
        sequences,
        settings,
        steps,
        tasks,
        team,
        timelines,
        unsubscribe,
    )

    for module in (
        auth,
        dashboard,
        enrollments,
        health,
        leads,
        team,
        sequences,
        sequence_window,
        steps,
        email_templates,
        unsubscribe,
        devmail,
        lead_imports,
        lead_signals,
        api_events,
        timelines,
        performance,
        overview,
        outbox,
        sent_mail,
        inbox,
        tasks,
        settings,
        holidays,
        mail_auth,
        mailboxes,
        platform,
        profile,
    ):
        app.register_blueprint(module.bp)


def redirect_htmx_by_header(response):
    """A redirect answered to an htmx request becomes ``HX-Redirect``: the browser's XHR would follow a
    302 itself and htmx would swap the whole next page into the target (a page inside the page). A boosted
    navigation swaps the whole body anyway, so its redirect is left for the browser to follow."""
    location = response.headers.get("Location")
    if (
        location
        and 300 <= response.status_code < 400
        and request.headers.get("HX-Request") == "true"
        and request.headers.get("HX-Boosted") != "true"
    ):
        response.status_code = 200
        response.headers["HX-Redirect"] = location
        del response.headers["Location"]
        response.set_data(b"")
    return response


def _register_hooks(app: Flask) -> None:
    from nurture_ui.models import User
    from nurture_ui.tenancy import parse_id
    from nurture_ui.web import local_time
    from nurture_ui.web.access import can_open, enforce_access, navigation_for
    from nurture_ui.web.input_guard import limit_request_size, refuse_unstorable_input

    @login_manager.user_loader
    def load_user(session_id: str):
        # A deactivated person's session, or one from before their password was reset, ends here: nobody
        # is signed in, and the next page asks them to sign in (where they are refused, or use the new one).
        user_id, _, fingerprint = session_id.partition(".")
        parsed = parse_id(user_id)
        user = db.session.get(User, parsed) if parsed else None
        if user is None or not user.is_active_user or user.session_fingerprint != fingerprint:
            return None
        return user

    # Before CSRFProtect's hook, which reads the form: the size limit must apply to that first read.
    app.before_request_funcs.setdefault(None, []).insert(0, limit_request_size)
    app.before_request(refuse_unstorable_input)
    app.before_request(enforce_access)
    local_time.register(app)

    @app.context_processor
    def inject_navigation():
        from flask_login import current_user

        if current_user.is_authenticated:
            return {"navigation": navigation_for(current_user.role), "can_open": can_open}
        return {"navigation": [], "can_open": can_open}

    app.after_request(redirect_htmx_by_header)

    @app.after_request
    def security_headers(response):
        # No inline scripts anywhere: every script is a file under static/.
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            "frame-ancestors 'none'; form-action 'self'; base-uri 'self'",
        )
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        return response

    def error_page(code: int, title: str, message: str):
        def handler(error):
            if request.headers.get("HX-Request"):
                return render_template("errors/_inline.html", title=title, message=message), code
            return render_template("errors/error.html", code=code, title=title, message=message), code

        return handler

    app.register_error_handler(400, error_page(400, "Bad request", "The request could not be understood."))
    app.register_error_handler(
        403, error_page(403, "Not allowed", "Your role does not give access to this page.")
    )
    app.register_error_handler(
        404, error_page(404, "Not found", "There is nothing here. It may have been removed.")
    )
    app.register_error_handler(
        413,
        error_page(
            413,
            "Too large",
            "What you sent is too large: forms take at most 1 MB of text and uploads at most 5 MB. "
            "Shorten it, or split the file, and try again.",
        ),
    )
    app.register_error_handler(
        500, error_page(500, "Something went wrong", "The error has been logged. Please try again.")
    )

    from flask_wtf.csrf import CSRFError

    @app.errorhandler(CSRFError)
    def csrf_error(error):
        message = "Your session expired or the form was sent from elsewhere. Reload the page and try again."
        if request.headers.get("HX-Request"):
            return render_template("errors/_inline.html", title="Form expired", message=message), 400
        return render_template("errors/error.html", code=400, title="Form expired", message=message), 400
