"""The `inference.predict` task: raw tweets in, one prediction per tweet out, each recorded for feedback.

A task may carry the tweets of several HTTP requests (the gateway coalesces them); `request_ids` then names
the request of each tweet so that its record and log line point back to the right caller.
"""

from __future__ import annotations

import logging
import time

from celery import shared_task

from inference_worker import metrics
from inference_worker.recorder import record_predictions
from inference_worker.runtime import NoModelLoaded, get_runtime
from shared.celery_config import PREDICT_TASK
from shared.logging_setup import kv
from shared.schemas import Prediction, new_id

log = logging.getLogger(__name__)

__all__ = ["NoModelLoaded", "predict"]


@shared_task(name=PREDICT_TASK, acks_late=True, reject_on_worker_lost=True)
def predict(
    texts: list[str],
    request_id: str | None = None,
    request_ids: list[str] | None = None,
    sent_at: float | None = None,
) -> list[dict]:
    if request_ids is not None and len(request_ids) != len(texts):
        raise ValueError(f"request_ids has {len(request_ids)} entries for {len(texts)} texts")
    runtime = get_runtime()
    runtime.batcher.announce()  # a model call forming now may wait (up to the window) for these tweets
    if sent_at is not None:
        metrics.QUEUE_WAIT_SECONDS.observe(max(0.0, time.time() - sent_at))
    answer = runtime.batcher.predict(texts, timeout_s=runtime.settings.task_timeout_s, announced=True)
    serving = answer.model
    metrics.BATCHER_WAIT_SECONDS.observe(answer.wait_s)
    predictions = [
        Prediction(
            prediction_id=new_id(),
            label=serving.model.label_of(p),
            probability_positive=round(p, 6),
            model_name=serving.name,
            model_version=serving.version,
            embedding_type=serving.embedding_type,
        )
        for p in answer.probabilities
    ]
    per_text_ids = request_ids if request_ids is not None else [request_id] * len(texts)
    record_predictions(runtime.redis, predictions, texts, per_text_ids, runtime.settings.prediction_ttl_s)
    metrics.PREDICTIONS.labels(model_version=serving.version).inc(len(predictions))
    log.info(
        "predicted %s",
        kv(
            request_id=request_id or (request_ids[0] if request_ids else None),
            requests=len(set(per_text_ids)),
            n=len(texts),
            batch=answer.batch_size,
            model_version=serving.version,
            compute_ms=f"{answer.compute_s * 1000:.2f}",
        ),
    )
    return [p.model_dump() for p in predictions]
