"""The WSGI entry point for `flask` and gunicorn (`gunicorn app:app`)."""

from nurture_ui import create_app

app = create_app()
