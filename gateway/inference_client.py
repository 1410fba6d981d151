"""Sends prediction calls to the inference workers and waits for their replies, failing explicitly, never hanging.

A call is one entry on the `inference:calls` stream (shared/redis_keys.py), XADDed from the event loop: no
thread hop. Waiting costs no thread and no polling either: this process holds one
subscription to its own reply channel, and one listener resolves the future of whichever call a worker
answered. After a reconnect it reads the stored copies of the replies to the calls still waiting, so a reply
published while the subscription was down is not lost. The worker side is inference_worker/call_consumer.py.
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
from pydantic import TypeAdapter, ValidationError

from gateway import metrics
from shared import redis_keys
from shared.events import STREAM_MAXLEN
from shared.logging_setup import kv
from shared.schemas.api import Prediction
from shared.schemas.calls import PredictCall, PredictReply
from shared.storage_budget import is_out_of_memory, is_storage_full_reason, memory_state, refused

log = logging.getLogger(__name__)

_REPLIES = TypeAdapter(list[PredictReply])
# What a caller is told when a worker answered with an error or an unusable reply; the details go to the log.
WORKER_FAILED = "the inference worker could not answer this request"


class InferenceUnavailable(Exception):
    """No answer can be given now; the message tells the caller why (mapped to 503 + Retry-After)."""


class StorageFull(InferenceUnavailable):
    """Redis is at its memory budget and refuses what a prediction must store; the message starts "storage full"."""


async def live_workers(client: aioredis.Redis, max_age_s: float) -> list[dict]:
    """Inference worker processes whose heartbeat is fresh, with the model each one serves."""
    worker_ids = await client.zrangebyscore(redis_keys.INFERENCE_WORKERS_INDEX, time.time() - max_age_s, "+inf")
    if not worker_ids:
        return []
    return _fresh(await client.mget([_heartbeat_key(w) for w in worker_ids]), max_age_s)


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
    """One per gateway process: sends batches of tweets as prediction calls and awaits their replies."""

    def __init__(
        self, redis_client: aioredis.Redis, worker_max_age_s: float, timeout_s: float, liveness_cache_s: float = 0.5
    ) -> None:
        self._reply_channel = redis_keys.predict_reply_channel(uuid.uuid4().hex[:12])
        self._redis = redis_client
        self._timeout_s = timeout_s
        self._waiting: dict[str, asyncio.Future[PredictReply]] = {}
        self._listener: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()
        self._closed = False
        self._worker_max_age_s = worker_max_age_s
        self._liveness_cache_s = liveness_cache_s
        self._liveness: tuple[float, int] = (0.0, 0)
        self._liveness_refresh: asyncio.Future[int] | None = None

    @property
    def redis(self) -> aioredis.Redis:
        return self._redis

    # --- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        if self._listener is None:
            self._listener = asyncio.create_task(self._listen(), name="inference-replies")

    async def close(self) -> None:
        self._closed = True
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._listener
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(InferenceUnavailable("the gateway is shutting down"))

    # --- workers ---------------------------------------------------------------------------------

    async def live_workers(self) -> list[dict]:
        return await live_workers(self._redis, self._worker_max_age_s)

    async def live_worker_count(self) -> int:
        """Fresh inference worker heartbeats, cached briefly: this runs on every request. Requests that find the
        cache stale share one refresh, so that a burst costs one Redis read rather than one per request. Only a
        count of live workers is cached: "none" is read again each time, so that a request refused for want of a
        worker was refused on a fresh look, never on one taken before a worker came back."""
        checked_at, count = self._liveness
        if count and time.monotonic() - checked_at < self._liveness_cache_s:
            return count
        if self._liveness_refresh is None:
            self._liveness_refresh = asyncio.ensure_future(self._refresh_liveness())
        return await asyncio.shield(self._liveness_refresh)

    async def _refresh_liveness(self) -> int:
        try:
            count = len(await self.live_workers())
            self._liveness = (time.monotonic(), count)
            return count
        finally:
            self._liveness_refresh = None

    async def storage_full_reason(self) -> str | None:
        """Why Redis refuses writes, if it is at its memory budget (a full Redis also stops worker heartbeats)."""
        try:
            state = memory_state(await self._redis.info("memory"))
        except (redis.RedisError, OSError):
            return None
        return state.reason() if state.refusing_writes else None

    # --- one batch -------------------------------------------------------------------------------

    async def predict(
        self, texts: list[str], request_ids: list[str], callers: list[str | None] | None = None
    ) -> list[Prediction]:
        """Predictions for `texts` (one call), or InferenceUnavailable saying why not; `callers` (the key name per
        text) goes into the prediction log."""
        started = time.perf_counter()
        outcome = "error"
        try:
            answers = await self._call(texts, request_ids, callers)
            outcome = "ok"
            return answers
        finally:
            metrics.INFERENCE_ROUND_TRIP.labels(outcome).observe(time.perf_counter() - started)

    async def _call(
        self, texts: list[str], request_ids: list[str], callers: list[str | None] | None
    ) -> list[Prediction]:
        timeout_s = self._timeout_s
        await self.start()
        if not self._subscribed.is_set():
            with anyio.move_on_after(min(2.0, timeout_s)):
                await self._subscribed.wait()
        now = time.time()
        call = PredictCall(
            call_id=uuid.uuid4().hex,
            reply_to=self._reply_channel,
            texts=texts,
            request_ids=request_ids,
            callers=callers if callers is not None and any(callers) else None,
            sent_at=now,
            deadline=now + timeout_s,
        )
        future: asyncio.Future[PredictReply] = asyncio.get_running_loop().create_future()
        self._waiting[call.call_id] = future
        try:
            try:
                await self._redis.xadd(
                    redis_keys.PREDICT_CALLS_STREAM,
                    {"call": call.model_dump_json()},
                    maxlen=STREAM_MAXLEN,
                    approximate=True,
                )
            except (redis.RedisError, OSError) as exc:
                log.warning("call not sent %s", kv(request_id=request_ids[0], error=exc))
                if is_out_of_memory(exc):
                    raise StorageFull(refused("the prediction call")) from exc
                raise InferenceUnavailable("Redis is unreachable, the prediction call was not sent") from exc
            try:
                async with asyncio.timeout(timeout_s):
                    reply = await future
            except TimeoutError:
                log.warning("no worker answer %s", kv(request_id=request_ids[0], call_id=call.call_id))
                raise InferenceUnavailable(f"no inference worker answered within {timeout_s:g} s") from None
        finally:
            self._waiting.pop(call.call_id, None)
        if reply.error is not None:
            log.warning("call failed %s", kv(request_id=request_ids[0], call_id=call.call_id, error=reply.error))
            if is_storage_full_reason(reply.error):
                raise StorageFull(reply.error)
            # The worker's own text stays in the log: it can name files, models or internals.
            raise InferenceUnavailable(WORKER_FAILED)
        if len(reply.predictions) != len(texts):
            log.warning(
                "reply with wrong prediction count %s",
                kv(request_id=request_ids[0], call_id=call.call_id, sent=len(texts), got=len(reply.predictions)),
            )
            raise InferenceUnavailable(WORKER_FAILED)
        return reply.predictions

    # --- replies listener ------------------------------------------------------------------------

    def _resolve(self, reply: PredictReply) -> None:
        future = self._waiting.get(reply.call_id)
        if future is not None and not future.done():
            future.set_result(reply)

    def _resolve_all(self, raw: bytes | str) -> None:
        try:
            replies = _REPLIES.validate_json(raw)
        except ValidationError as exc:
            self._fail_unreadable(raw, exc)
            return
        for reply in replies:
            self._resolve(reply)

    def _fail_unreadable(self, raw: bytes | str, exc: ValidationError) -> None:
        """A reply that does not validate still fails, at once, the calls it names, rather than letting them
        wait out the timeout."""
        named = _call_ids_in(raw)
        log.warning(
            "unreadable reply %s",
            kv(channel=self._reply_channel, calls=",".join(named) or "none", errors=exc.error_count()),
        )
        for call_id in named:
            future = self._waiting.get(call_id)
            if future is not None and not future.done():
                future.set_result(PredictReply(call_id=call_id, error="unreadable reply"))

    async def _recover(self) -> None:
        """Replies sent while the subscription was down: read their stored copies once it is back."""
        call_ids = list(self._waiting)
        if not call_ids:
            return
        stored = await self._redis.mget([redis_keys.predict_reply(c) for c in call_ids])
        for raw in stored:
            if raw is not None:
                with contextlib.suppress(ValidationError):
                    self._resolve(PredictReply.model_validate_json(raw))

    async def _listen(self) -> None:
        while not self._closed:
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self._reply_channel)
                self._subscribed.set()
                await self._recover()
                while True:
                    # Blocks until a message (no timer per read); a lost connection raises, and close() cancels.
                    message = await pubsub.get_message(timeout=None)
                    if message is not None:
                        self._resolve_all(message["data"])
            except asyncio.CancelledError:
                raise
            except (redis.RedisError, OSError) as exc:
                self._subscribed.clear()
                log.warning("reply listener reconnecting %s", kv(error=exc.__class__.__name__))
                await asyncio.sleep(0.2)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()


def _call_ids_in(raw: bytes | str) -> list[str]:
    """The call ids a reply that failed validation still names, if it is JSON at all."""
    try:
        decoded = json.loads(raw)
    except ValueError:
        return []
    items = decoded if isinstance(decoded, list) else [decoded]
    return [item["call_id"] for item in items if isinstance(item, dict) and isinstance(item.get("call_id"), str)]
