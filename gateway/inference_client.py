"""Sends prediction tasks to the inference queue and waits for their answers, failing explicitly, never hanging.

Waiting costs no thread and no polling: the worker's Celery result backend stores each result under
`celery-task-meta-<task id>` and publishes it on a channel of the same name. This process names its tasks
`gw-<instance>-<uuid>` and holds one pattern subscription to its own prefix on an asyncio Redis connection;
one listener resolves the future of whichever task answered. After a reconnect it reads the stored results
of the tasks still waiting, so an answer published while the subscription was down is not lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from typing import Any

import anyio
import redis
import redis.asyncio as aioredis
from celery import Celery
from kombu.exceptions import OperationalError

from shared import redis_keys
from shared.celery_config import INFERENCE_QUEUE, PREDICT_TASK, make_celery
from shared.logging_setup import kv

log = logging.getLogger(__name__)

RESULT_KEY_PREFIX = "celery-task-meta-"  # Celery's Redis result backend: key and pub/sub channel per task


class InferenceUnavailable(Exception):
    """No answer can be given now; the message tells the caller why (mapped to 503 + Retry-After)."""


def live_workers(client: redis.Redis, max_age_s: float) -> list[dict]:
    """Inference worker processes whose heartbeat is fresh, with the model each one serves."""
    worker_ids = client.zrangebyscore(redis_keys.INFERENCE_WORKERS_INDEX, time.time() - max_age_s, "+inf")
    if not worker_ids:
        return []
    return _fresh(client.mget([_heartbeat_key(w) for w in worker_ids]), max_age_s)


def _heartbeat_key(worker_id: bytes | str) -> str:
    return redis_keys.inference_worker_heartbeat(worker_id.decode() if isinstance(worker_id, bytes) else worker_id)


def _fresh(raw_states: list[Any], max_age_s: float) -> list[dict]:
    now = time.time()
    workers = []
    for raw in raw_states:
        if raw:
            state = json.loads(raw)
            if now - float(state.get("updated_at", 0)) <= max_age_s:
                workers.append(state)
    return workers


class InferenceClient:
    """One per gateway process: sends batches of tweets as `inference.predict` tasks and awaits their results."""

    def __init__(self, redis_url: str, worker_max_age_s: float, liveness_cache_s: float = 0.5) -> None:
        self._redis_url = redis_url
        self._prefix = f"gw-{uuid.uuid4().hex[:12]}-"
        # Its own Celery app with no result backend: sending then skips Celery's per-task SUBSCRIBE (this class
        # waits on one pattern subscription instead). Workers still store and publish every result.
        self._celery: Celery = make_celery("gateway-predict", redis_url, result_backend="disabled")
        self._redis = aioredis.from_url(redis_url, socket_connect_timeout=2.0, socket_timeout=5.0)
        self._waiting: dict[str, asyncio.Future[dict]] = {}
        self._listener: asyncio.Task[None] | None = None
        self._cleanups: set[asyncio.Task[None]] = set()
        self._subscribed = asyncio.Event()
        self._closed = False
        self._worker_max_age_s = worker_max_age_s
        self._liveness_cache_s = liveness_cache_s
        self._liveness: tuple[float, int] = (0.0, 0)

    # --- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        if self._listener is None:
            self._listener = asyncio.create_task(self._listen(), name="inference-results")

    async def close(self) -> None:
        self._closed = True
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._listener
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(InferenceUnavailable("the gateway is shutting down"))
        with contextlib.suppress(Exception):
            await self._redis.aclose()

    # --- workers ---------------------------------------------------------------------------------

    async def live_worker_count(self) -> int:
        """Fresh inference worker heartbeats, cached briefly: this runs on every request."""
        checked_at, count = self._liveness
        if time.monotonic() - checked_at < self._liveness_cache_s:
            return count
        max_age_s = self._worker_max_age_s
        index = redis_keys.INFERENCE_WORKERS_INDEX
        worker_ids = await self._redis.zrangebyscore(index, time.time() - max_age_s, "+inf")
        keys = [_heartbeat_key(w) for w in worker_ids]
        count = len(_fresh(await self._redis.mget(keys), max_age_s)) if keys else 0
        self._liveness = (time.monotonic(), count)
        return count

    # --- one batch -------------------------------------------------------------------------------

    async def predict(self, texts: list[str], request_ids: list[str], timeout_s: float) -> list[dict]:
        """Predictions for `texts` (one task), or InferenceUnavailable saying why not."""
        await self.start()
        with anyio.move_on_after(min(2.0, timeout_s)):
            await self._subscribed.wait()
        task_id = self._prefix + uuid.uuid4().hex
        future: asyncio.Future[dict] = asyncio.get_running_loop().create_future()
        self._waiting[task_id] = future
        try:
            await anyio.to_thread.run_sync(self._send, task_id, texts, request_ids, timeout_s)
            try:
                async with asyncio.timeout(timeout_s):
                    meta = await future
            except TimeoutError:
                log.warning("no worker answer %s", kv(request_id=request_ids[0], task_id=task_id, timeout_s=timeout_s))
                raise InferenceUnavailable(f"no inference worker answered within {timeout_s:g} s") from None
        finally:
            self._waiting.pop(task_id, None)
        # The answer is here; its stored copy would only sit in Redis until result_expires. Deleted off the
        # caller's path: the caller does not wait for this round trip.
        cleanup = asyncio.create_task(self._forget(task_id))
        self._cleanups.add(cleanup)
        cleanup.add_done_callback(self._cleanups.discard)
        return _unwrap(meta, task_id, request_ids[0])

    async def _forget(self, task_id: str) -> None:
        with contextlib.suppress(redis.RedisError, OSError):
            await self._redis.delete(RESULT_KEY_PREFIX + task_id)

    def _send(self, task_id: str, texts: list[str], request_ids: list[str], timeout_s: float) -> None:
        try:
            self._celery.send_task(
                PREDICT_TASK,
                args=[texts],
                kwargs={"request_ids": request_ids, "sent_at": time.time()},
                task_id=task_id,
                queue=INFERENCE_QUEUE,
                # A task nobody started before the caller gave up is dropped rather than computed for nobody.
                expires=timeout_s,
                retry=True,
                retry_policy={"max_retries": 2, "interval_start": 0.05, "interval_step": 0.1, "interval_max": 0.2},
            )
        except (OperationalError, redis.RedisError, OSError) as exc:
            log.warning("broker unavailable %s", kv(request_id=request_ids[0], error=exc))
            raise InferenceUnavailable("the message broker (Redis) is unreachable") from exc

    # --- results listener ------------------------------------------------------------------------

    def _resolve(self, task_id: str, raw: bytes | str) -> None:
        future = self._waiting.get(task_id)
        if future is None or future.done():
            return
        try:
            meta = json.loads(raw)
        except ValueError:
            future.set_exception(InferenceUnavailable("the inference worker sent an unreadable answer"))
            return
        if meta.get("status") in ("SUCCESS", "FAILURE", "REVOKED"):
            future.set_result(meta)

    async def _recover(self) -> None:
        """Results stored while the subscription was down: read them once it is back."""
        task_ids = list(self._waiting)
        if not task_ids:
            return
        stored = await self._redis.mget([RESULT_KEY_PREFIX + t for t in task_ids])
        for task_id, raw in zip(task_ids, stored, strict=True):
            if raw is not None:
                self._resolve(task_id, raw)

    async def _listen(self) -> None:
        pattern = RESULT_KEY_PREFIX + self._prefix + "*"
        while not self._closed:
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.psubscribe(pattern)
                self._subscribed.set()
                await self._recover()
                while True:
                    message = await pubsub.get_message(timeout=1.0)
                    if message is None:
                        continue
                    channel = message["channel"]
                    channel = channel.decode() if isinstance(channel, bytes) else channel
                    self._resolve(channel.removeprefix(RESULT_KEY_PREFIX), message["data"])
            except asyncio.CancelledError:
                raise
            except (redis.RedisError, OSError) as exc:
                self._subscribed.clear()
                log.warning("result listener reconnecting %s", kv(error=exc.__class__.__name__))
                await asyncio.sleep(0.2)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()


def _unwrap(meta: dict, task_id: str, request_id: str) -> list[dict]:
    if meta.get("status") == "SUCCESS":
        return meta["result"]
    error = meta.get("result") or {}
    reason = f"{error.get('exc_type', 'Error')}: {' '.join(str(m) for m in error.get('exc_message') or [])}".strip()
    log.warning("inference task failed %s", kv(request_id=request_id, task_id=task_id, error=reason))
    raise InferenceUnavailable(f"the inference worker could not answer: {reason}")
