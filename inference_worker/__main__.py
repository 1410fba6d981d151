"""`python -m inference_worker`: a Celery worker on the inference queue with the configured pool."""

from __future__ import annotations

import sys

from inference_worker.celery_app import app, settings


def main(argv: list[str] | None = None) -> None:
    args = argv if argv is not None else sys.argv[1:]
    app.worker_main(
        [
            "worker",
            "--loglevel",
            settings.log_level,
            "-Q",
            settings.inference_queue,
            "--pool",
            settings.worker_pool,
            "--concurrency",
            str(settings.worker_concurrency),
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            *args,
        ]
    )


if __name__ == "__main__":
    main()
