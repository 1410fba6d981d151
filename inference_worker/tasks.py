"""The `inference.predict` Celery task: bulk scoring for Python callers, e.g. a rescoring job.

    app.send_task("inference.predict", args=[texts], kwargs={"request_ids": ids}, queue="inference").get()

The gateway does not use it (its calls go through inference_worker/call_consumer.py, faster by the cost of
Celery's messaging); both run the same model call and record every prediction the same way.
"""

from __future__ import annotations

import logging
import time

from celery import shared_task

from inference_worker.recorder import prediction_records
from inference_worker.runtime import get_runtime
from shared.celery_config import PREDICT_TASK
from shared.logging_setup import kv

log = logging.getLogger(__name__)


@shared_task(name=PREDICT_TASK, acks_late=True, reject_on_worker_lost=True)
def predict(texts: list[str], request_ids: list[str] | None = None) -> list[dict]:
    if request_ids is not None and len(request_ids) != len(texts):
        raise ValueError(f"request_ids has {len(request_ids)} entries for {len(texts)} texts")
    runtime = get_runtime()
    started = time.perf_counter()
    predictions = runtime.predict(texts)
    per_text_ids = request_ids if request_ids is not None else [None] * len(texts)
    pipe = runtime.redis.pipeline(transaction=False)
    for key, record in prediction_records(predictions, texts, per_text_ids):
        pipe.set(key, record, ex=runtime.settings.prediction_ttl_s)
    pipe.execute()
    log.info(
        "predicted task %s",
        kv(
            request_ids=",".join(dict.fromkeys(r for r in per_text_ids if r)) or None,
            n=len(texts),
            model_version=predictions[0].model_version if predictions else None,
            ms=f"{(time.perf_counter() - started) * 1000:.2f}",
        ),
    )
    return [p.model_dump() for p in predictions]
