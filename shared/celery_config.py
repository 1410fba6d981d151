"""The Celery wiring every service agrees on: the training task's name and queue, routing and delivery guarantees.

Only training jobs travel as Celery tasks (they last minutes, where Celery's retries and time limits matter);
predictions travel on the call stream, see inference_worker/call_consumer.py.
"""

from __future__ import annotations

from celery import Celery
from kombu import Queue

TRAIN_TASK = "training.run_job"
TRAINING_QUEUE = "training"

_BROKER_SOCKET_OPTIONS = {"socket_timeout": 5, "socket_connect_timeout": 3}


def make_celery(name: str, redis_url: str, **overrides: object) -> Celery:
    """A Celery app with the shared wiring; a consumer passes its own `broker_transport_options` (the training worker
    sets a visibility timeout longer than a job), which always keep the socket timeouts."""
    transport_options = overrides.pop("broker_transport_options", None) or {}
    app = Celery(name, broker=redis_url, backend=redis_url)
    app.conf.update(
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_queues=[Queue(TRAINING_QUEUE)],
        task_routes={TRAIN_TASK: {"queue": TRAINING_QUEUE}},
        task_default_queue=TRAINING_QUEUE,
        # At-least-once: a task is acknowledged only after it ran, and re-queued if its worker dies.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        result_expires=3600,
        result_extended=False,
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,
        broker_transport_options={**_BROKER_SOCKET_OPTIONS, **transport_options},  # type: ignore[dict-item]
        result_backend_transport_options={"retry_policy": {"timeout": 5.0}},
        redis_socket_timeout=5,
        redis_socket_connect_timeout=3,
        redis_retry_on_timeout=True,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        task_send_sent_event=False,
    )
    app.conf.update(overrides)
    return app
