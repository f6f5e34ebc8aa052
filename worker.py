"""The RQ worker entry point: `python worker.py` runs a worker on the app's queue."""

from __future__ import annotations

import sys

from rq import Worker

from nurture_ui import create_app
from nurture_ui.extensions import get_queue, get_redis


def main(argv: list[str]) -> int:
    app = create_app()
    with app.app_context():
        queue = get_queue()
        worker = Worker([queue], connection=get_redis())
        worker.work(with_scheduler=False)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
