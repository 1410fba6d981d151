"""The `inference.predict` task: raw tweets in, one prediction per tweet out, each recorded for feedback."""

from __future__ import annotations

import logging
import time

from celery import shared_task

from inference_worker.recorder import record_predictions
from inference_worker.runtime import get_runtime
from shared.celery_config import PREDICT_TASK
from shared.logging_setup import kv
from shared.schemas import Prediction, new_id

log = logging.getLogger(__name__)


class NoModelLoaded(RuntimeError):
    pass


@shared_task(name=PREDICT_TASK, acks_late=True, reject_on_worker_lost=True)
def predict(texts: list[str], request_id: str | None = None) -> list[dict]:
    runtime = get_runtime()
    serving = runtime.store.current  # one model for the whole batch, named in every answer
    if serving is None:
        raise NoModelLoaded(runtime.store.last_error or "no champion model is loaded yet")
    started = time.perf_counter()
    probabilities = serving.model.predict_proba(texts)
    predictions = [
        Prediction(
            prediction_id=new_id(),
            label=serving.model.label_of(float(p)),
            probability_positive=round(float(p), 6),
            model_name=serving.name,
            model_version=serving.version,
            embedding_type=serving.embedding_type,
        )
        for p in probabilities
    ]
    record_predictions(runtime.redis, predictions, texts, request_id, runtime.settings.prediction_ttl_s)
    log.info(
        "predicted %s",
        kv(
            request_id=request_id,
            n=len(texts),
            model_version=serving.version,
            ms=f"{(time.perf_counter() - started) * 1000:.2f}",
        ),
    )
    return [p.model_dump() for p in predictions]
