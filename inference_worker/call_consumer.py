"""Answers the gateway's prediction calls: reads them from a Redis Stream as a consumer group, replies on pub/sub.

Why a stream and not a Celery task per call: Celery's own sending, pick-up and result storage cost more than the
whole latency budget of one tweet (docs/serving.md has the figures). A consumer group delivers at least once: an
entry stays pending until the worker that read it acknowledges it, and a live worker claims what a dead one left
pending for `CALL_CLAIM_AFTER_S`. Reading everything that arrived in one XREADGROUP is also the micro-batch: calls
that come while the model computes form the next read ("continuous batching"), and a lone call never waits.

One command answers a whole read: a server-side script (ANSWER_SCRIPT) stores the prediction records and each
reply's copy, appends the read's predictions to the prediction log stream (for the log writer), PUBLISHes one
message per gateway process, then XACKs + XDELs the entries, atomically and in that order, so a caller holding a
reply finds its records there. One command rather than a pipeline of five or more: building and parsing each
command in redis-py costs more than Redis spends running it, and that cost would sit on every call's latency. If the
command fails the entries stay pending and are answered again once claimed; a caller whose deadline passed
meanwhile has had its 503, so its call is dropped unanswered. If Redis refuses it for lack of memory (its
`maxmemory` budget), nothing was stored: the calls are answered at once with a "storage full" error instead, by the
same script with nothing to store (PUBLISH, XACK and XDEL still run on a full Redis).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import defaultdict
from collections.abc import Callable

import redis

from inference_worker import metrics
from inference_worker.recorder import log_entry, prediction_records
from inference_worker.settings import InferenceSettings
from shared import redis_keys
from shared.consumer_groups import ensure_group, forget_gone_consumers
from shared.logging_setup import kv, queue_line
from shared.schemas.api import Prediction
from shared.schemas.calls import PredictCall, PredictReply
from shared.storage_budget import is_out_of_memory, refused

log = logging.getLogger(__name__)

STREAM = redis_keys.PREDICT_CALLS_STREAM
GROUP = redis_keys.PREDICT_CALLS_GROUP

Predict = Callable[[list[str]], list[Prediction]]
Entry = tuple[bytes, dict | None]
Store = tuple[str, str, int]  # key, value, TTL in seconds

# KEYS: the call stream, the prediction log stream, then the keys to SET. ARGV: the group; the log entry ("" for
# none) and the log stream's MAXLEN; the count of SETs, then value and TTL for each; the count of PUBLISHes, then
# channel and message for each; then the entry ids to acknowledge and delete.
ANSWER_SCRIPT = """
local arg = 5
for i = 1, tonumber(ARGV[4]) do
  redis.call('SET', KEYS[i + 2], ARGV[arg], 'EX', ARGV[arg + 1])
  arg = arg + 2
end
if ARGV[2] ~= '' then
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', 'predictions', ARGV[2])
end
local published = tonumber(ARGV[arg])
arg = arg + 1
for _ = 1, published do
  redis.call('PUBLISH', ARGV[arg], ARGV[arg + 1])
  arg = arg + 2
end
if arg <= #ARGV then
  redis.call('XACK', KEYS[1], ARGV[1], unpack(ARGV, arg))
  redis.call('XDEL', KEYS[1], unpack(ARGV, arg))
end
return published
"""


class CallConsumer:
    """One reading thread of one worker process; several may read the same group."""

    def __init__(self, client: redis.Redis, name: str, predict: Predict, settings: InferenceSettings) -> None:
        self._client = client
        self.name = name
        self._predict = predict
        self._settings = settings
        self._claim_idle_ms = int(settings.call_claim_after_s * 1000)
        self._answer_script = client.register_script(ANSWER_SCRIPT)
        self._next_claim = 0.0
        self._next_prune = 0.0

    def run(self, stop: threading.Event) -> None:
        self.ensure_group()
        while not stop.is_set():
            try:
                self._serve(self._claim_orphans())
                read = self._client.xreadgroup(
                    GROUP, self.name, {STREAM: ">"}, count=self._settings.max_calls_per_read, block=1000
                )
                for _stream, entries in read or []:
                    self._serve(entries)
            except redis.ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    log.exception("call stream error %s", kv(consumer=self.name))
                    stop.wait(0.5)
                else:  # Redis restarted empty: the stream and its group are gone
                    self.ensure_group()
            except (redis.RedisError, OSError) as exc:
                log.warning("call stream unreachable %s", kv(consumer=self.name, error=exc.__class__.__name__))
                stop.wait(0.5)
            except Exception:
                log.exception("call consumer error %s", kv(consumer=self.name))
                stop.wait(0.5)

    def ensure_group(self) -> None:
        # From the stream's start: calls sent before any worker ever ran are still answered if in time.
        ensure_group(self._client, STREAM, GROUP, start_id="0")

    # --- a dead worker's calls -------------------------------------------------------------------

    def _claim_orphans(self) -> list[Entry]:
        now = time.monotonic()
        if now < self._next_claim:
            return []
        self._next_claim = now + min(1.0, self._settings.call_claim_after_s)
        reply = self._client.xautoclaim(
            STREAM, GROUP, self.name, self._claim_idle_ms, start_id="0-0", count=self._settings.max_calls_per_read
        )
        claimed = reply[1]
        if claimed:
            log.warning("claimed calls left by a dead worker %s", kv(consumer=self.name, calls=len(claimed)))
        if now >= self._next_prune:
            self._next_prune = now + 60
            forget_gone_consumers(self._client, STREAM, GROUP, keep=self.name)
        return claimed

    # --- one read --------------------------------------------------------------------------------

    def _serve(self, entries: list[Entry]) -> None:
        if not entries:
            return
        now = time.time()
        calls: list[PredictCall] = []
        for entry_id, fields in entries:
            call = self._decode(entry_id, fields)
            if call is None:
                continue
            if call.deadline < now:
                metrics.CALLS_EXPIRED.inc()
                log.warning("call expired unanswered %s", kv(call_id=call.call_id, request_id=call.request_ids[0]))
                continue
            metrics.QUEUE_WAIT_SECONDS.observe(max(0.0, now - call.sent_at))
            calls.append(call)
        stores, publishes, logged = self._answer(calls) if calls else ([], [], "")
        entry_ids = [entry_id for entry_id, _ in entries]
        try:
            self._commit(stores, publishes, entry_ids, logged)
        except redis.ResponseError as exc:
            if not calls or not is_out_of_memory(exc):
                raise
            # The script's first write was refused, so it wrote nothing: tell every caller now, not at its deadline.
            reason = refused("the prediction records")
            log.warning("records refused, storage full %s", kv(calls=len(calls), request_id=calls[0].request_ids[0]))
            failed = [PredictReply(call_id=call.call_id, error=reason).model_dump_json() for call in calls]
            self._commit([], self._publishes(calls, failed), entry_ids)

    def _commit(
        self, stores: list[Store], publishes: list[tuple[str, str]], entry_ids: list[bytes], logged: str = ""
    ) -> None:
        """One ANSWER_SCRIPT run: stores and logs, then publishes, then acknowledges, atomically."""
        maxlen = self._settings.prediction_log_stream_maxlen
        args: list[str | bytes | int] = [GROUP, logged if maxlen else "", maxlen, len(stores)]
        for _, value, ttl_s in stores:
            args += (value, ttl_s)
        args.append(len(publishes))
        for channel, message in publishes:
            args += (channel, message)
        args += entry_ids
        keys = [STREAM, redis_keys.PREDICTION_LOG_STREAM, *(key for key, _, _ in stores)]
        self._answer_script(keys=keys, args=args)

    def _decode(self, entry_id: bytes, fields: dict | None) -> PredictCall | None:
        if not fields:  # deleted while pending (answered by a worker that then died before its XACK landed)
            return None
        try:
            return PredictCall.model_validate_json(fields[b"call"])
        except (KeyError, ValueError) as exc:
            log.warning("unreadable call dropped %s", kv(entry=entry_id, error=exc.__class__.__name__))
            return None

    def _answer(self, calls: list[PredictCall]) -> tuple[list[Store], list[tuple[str, str]], str]:
        """Runs the model on every call's tweets: (key, value, TTL) to store, (channel, message) to publish, and
        the prediction log entry ("" when nothing was answered)."""
        texts = [text for call in calls for text in call.texts]
        request_ids = [request_id for call in calls for request_id in call.request_ids]
        callers = [caller for call in calls for caller in (call.callers or [None] * len(call.texts))]
        logged = ""
        started = time.perf_counter()
        try:
            predictions = self._predict(texts)
            compute_ms = (time.perf_counter() - started) * 1000
        except Exception as exc:  # every caller learns why (mapped to 503); the next read serves again
            reason = f"{exc.__class__.__name__}: {exc}"
            log.warning("calls failed %s", kv(calls=len(calls), tweets=len(texts), error=reason))
            replies = [PredictReply(call_id=call.call_id, error=reason) for call in calls]
            stores = []
        else:
            ttl_s = self._settings.prediction_ttl_s
            stores = [(key, record, ttl_s) for key, record in prediction_records(predictions, texts, request_ids)]
            logged = log_entry(predictions, texts, request_ids, callers, time.time())
            replies, offset = [], 0
            for call in calls:
                answered = predictions[offset : offset + len(call.texts)]
                replies.append(PredictReply(call_id=call.call_id, predictions=answered))
                offset += len(call.texts)
            if log.isEnabledFor(logging.INFO):
                version = predictions[0].model_version if predictions else None
                for call in calls:
                    request_ids_of_call = ",".join(dict.fromkeys(call.request_ids))
                    context = kv(
                        request_ids=request_ids_of_call,
                        n=len(call.texts),
                        batch=len(texts),
                        model_version=version,
                        compute_ms=round(compute_ms, 2),
                    )
                    queue_line(log, "predicted", context)
        bodies = [reply.model_dump_json() for reply in replies]
        now = time.time()
        for call, body in zip(calls, bodies, strict=True):
            # Kept while its caller may still wait: read back if the gateway's subscription was down.
            stores.append((redis_keys.predict_reply(call.call_id), body, max(1, math.ceil(call.deadline - now))))
        return stores, self._publishes(calls, bodies), logged

    @staticmethod
    def _publishes(calls: list[PredictCall], bodies: list[str]) -> list[tuple[str, str]]:
        """One message per gateway process: the replies (JSON) to all of its calls in this read."""
        by_channel: dict[str, list[str]] = defaultdict(list)
        for call, body in zip(calls, bodies, strict=True):
            by_channel[call.reply_to].append(body)
        return [(channel, "[" + ",".join(bodies) + "]") for channel, bodies in by_channel.items()]
