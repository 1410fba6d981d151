"""The Celery wiring every service agrees on: task names, queues, routing and delivery guarantees."""

from __future__ import annotations

from celery import Celery
from kombu import Queue

PREDICT_TASK = "inference.predict"
TRAIN_TASK = "training.run_job"
INFERENCE_QUEUE = "inference"
TRAINING_QUEUE = "training"

# Delivery of `inference.predict` tasks (bulk scoring by Python callers; the gateway's calls use the call stream,
# see inference_worker/call_consumer.py) on the Redis transport. A message a worker took but never acked (the worker
# was SIGKILLed, OOM-killed, its host died) sits in Redis' "unacked" set; some consumer puts it back on the queue only
# once it is older than `visibility_timeout`. kombu's default is 1 h: a scoring task would come back an hour late.
# Inference tasks last milliseconds to seconds and are idempotent (a re-run records fresh prediction ids), so a short
# timeout costs at most a duplicate run of a message that stayed unacked on a live, overloaded worker. Inference keeps
# its own unacked keys so that its 5 s sweep never re-queues a training job that a live training worker is still
# running (training consumers keep kombu's default keys and a visibility timeout longer than a job).
INFERENCE_VISIBILITY_TIMEOUT_S = 5
_BROKER_SOCKET_OPTIONS = {"socket_timeout": 5, "socket_connect_timeout": 3}
INFERENCE_DELIVERY_OPTIONS = {
    "visibility_timeout": INFERENCE_VISIBILITY_TIMEOUT_S,
    "unacked_key": "unacked:inference",
    "unacked_index_key": "unacked_index:inference",
    "unacked_mutex_key": "unacked_mutex:inference",
    "unacked_restore_interval": 1,
    "unacked_restore_throttle": 1,
}


def make_celery(name: str, redis_url: str, **overrides: object) -> Celery:
    """A Celery app with the shared wiring; the broker delivery options are the inference queue's unless the caller
    passes its own `broker_transport_options` (the training worker does), always keeping the socket timeouts."""
    transport_options = overrides.pop("broker_transport_options", None) or INFERENCE_DELIVERY_OPTIONS
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
