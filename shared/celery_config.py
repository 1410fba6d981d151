"""The Celery wiring every service agrees on: task names, queues, routing and delivery guarantees."""

from __future__ import annotations

from celery import Celery
from kombu import Queue

PREDICT_TASK = "inference.predict"
TRAIN_TASK = "training.run_job"
INFERENCE_QUEUE = "inference"
TRAINING_QUEUE = "training"


def make_celery(name: str, redis_url: str, **overrides: object) -> Celery:
    app = Celery(name, broker=redis_url, backend=redis_url)
    app.conf.update(
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_queues=[Queue(INFERENCE_QUEUE), Queue(TRAINING_QUEUE)],
        task_routes={PREDICT_TASK: {"queue": INFERENCE_QUEUE}, TRAIN_TASK: {"queue": TRAINING_QUEUE}},
        task_default_queue=INFERENCE_QUEUE,
        # At-least-once: a task is acknowledged only after it ran, and re-queued if its worker dies.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        result_expires=3600,
        result_extended=False,
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,
        broker_transport_options={"visibility_timeout": 3600, "socket_timeout": 5, "socket_connect_timeout": 3},
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
