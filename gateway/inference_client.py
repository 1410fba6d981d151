"""Sends prediction tasks to the inference queue and waits for their answers, failing explicitly, never hanging."""

from __future__ import annotations

import json
import logging
import time

import anyio
import redis
from celery import Celery
from celery.exceptions import TimeoutError as CeleryTimeout
from kombu.exceptions import OperationalError

from shared import redis_keys
from shared.celery_config import INFERENCE_QUEUE, PREDICT_TASK
from shared.logging_setup import kv
from shared.schemas import Prediction

log = logging.getLogger(__name__)


class InferenceUnavailable(Exception):
    """No answer can be given now; the message tells the caller why (mapped to 503 + Retry-After)."""


def live_workers(client: redis.Redis, max_age_s: float) -> list[dict]:
    """Inference worker processes whose heartbeat is fresh, with the model each one serves."""
    keys = list(client.scan_iter(match=redis_keys.INFERENCE_WORKER_HEARTBEAT_PREFIX + "*", count=200))
    if not keys:
        return []
    now = time.time()
    workers = []
    for raw in client.mget(keys):
        if raw:
            state = json.loads(raw)
            if now - float(state.get("updated_at", 0)) <= max_age_s:
                workers.append(state)
    return workers


async def predict_texts(celery: Celery, texts: list[str], request_id: str, timeout_s: float) -> list[Prediction]:
    try:
        result = celery.send_task(
            PREDICT_TASK,
            args=[texts],
            kwargs={"request_id": request_id},
            queue=INFERENCE_QUEUE,
            # A task nobody started before the caller gave up is dropped rather than computed for nobody.
            expires=timeout_s,
            retry=True,
            retry_policy={"max_retries": 2, "interval_start": 0.05, "interval_step": 0.1, "interval_max": 0.2},
        )
    except (OperationalError, redis.RedisError, OSError) as exc:
        log.warning("broker unavailable %s", kv(request_id=request_id, error=exc))
        raise InferenceUnavailable("the message broker (Redis) is unreachable") from exc

    def wait() -> list[dict]:
        return result.get(timeout=timeout_s, interval=0.005, propagate=True)

    try:
        raw = await anyio.to_thread.run_sync(wait)
    except CeleryTimeout as exc:
        log.warning("no worker answer %s", kv(request_id=request_id, task_id=result.id, timeout_s=timeout_s))
        raise InferenceUnavailable(f"no inference worker answered within {timeout_s:g} s") from exc
    except (OperationalError, redis.RedisError, OSError) as exc:
        raise InferenceUnavailable("the result backend (Redis) is unreachable") from exc
    except Exception as exc:  # the task itself failed: e.g. no model loaded yet
        log.warning("inference task failed %s", kv(request_id=request_id, task_id=result.id, error=exc))
        raise InferenceUnavailable(f"the inference worker could not answer: {exc}") from exc
    finally:
        result.forget() if result.ready() else None
    return [Prediction.model_validate(item) for item in raw]
