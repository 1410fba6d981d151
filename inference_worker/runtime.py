"""Per-process serving state: the model store, the call consumers, a heartbeat for /ready, the promotion listener.

`python -m inference_worker` (inference_worker/__main__.py) makes one per process, starts it and stops it on SIGTERM.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import threading
import time

import redis

from inference_worker import metrics
from inference_worker.call_consumer import CallConsumer
from inference_worker.drift import DriftWatch
from inference_worker.model_store import ModelStore
from inference_worker.settings import InferenceSettings
from inference_worker.shadow import ShadowScorer
from shared import events, redis_keys
from shared.logging_setup import kv
from shared.redis_client import connect
from shared.schemas.api import Prediction
from shared.schemas.base import new_time_ordered_id
from shared.schemas.events import ModelPromotedEvent

log = logging.getLogger(__name__)


class NoModelLoaded(RuntimeError):
    """No champion could be loaded yet (the message says why); the gateway answers 503."""


class WorkerRuntime:
    def __init__(self, settings: InferenceSettings) -> None:
        self.settings = settings
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}"
        self.redis = connect(settings.redis_url)
        self.store = ModelStore(
            settings.mlflow_tracking_uri,
            settings.lstm_model_name,
            settings.champion_alias,
            settings.model_signing_key.get_secret_value(),
        )
        self.shadow = ShadowScorer(settings, self.redis)
        self.drift = DriftWatch(settings.drift_window_s)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.started_at = time.time()
        self.metrics_port: int | None = None

    def predict(self, texts: list[str]) -> list[Prediction]:
        """One prediction per tweet, in order, all from the model serving now (a swap mid-call cannot mix two)."""
        serving = self.store.current
        if serving is None:
            raise NoModelLoaded(self.store.last_error or "no champion model is loaded yet")
        call_started = time.perf_counter()
        probabilities: list[float] = []
        step = self.settings.max_batch_size
        for start in range(0, len(texts), step):
            chunk = texts[start : start + step]
            started = time.perf_counter()
            ids = serving.model.encoder.encode(chunk)
            chunk_probabilities = serving.model.predict_ids(ids)
            probabilities.extend(float(p) for p in chunk_probabilities)
            metrics.MODEL_COMPUTE_SECONDS.observe(time.perf_counter() - started)
            metrics.BATCH_SIZE.observe(len(chunk))
            self.drift.observe(serving, chunk, chunk_probabilities, ids)
        predictions = [
            Prediction(
                prediction_id=new_time_ordered_id(),
                label=serving.model.label_of(p),
                probability_positive=round(p, 6),
                model_name=serving.name,
                model_version=serving.version,
                embedding_type=serving.embedding_type,
                threshold=serving.threshold,
            )
            for p in probabilities
        ]
        metrics.count_predictions(serving.version, (prediction.label for prediction in predictions))
        # The champion's answer is final here; the challenger may score the same tweets later, off this path.
        self.shadow.offer(texts, predictions, (time.perf_counter() - call_started) * 1000)
        return predictions

    def _champion_version(self) -> str | None:
        serving = self.store.current
        return serving.version if serving else None

    def start(self) -> None:
        self.metrics_port = metrics.start_metrics_server(self.settings.metrics_port)
        self.store.refresh()
        self.shadow.refresh(self._champion_version())
        self.beat()
        # Three threads so that a slow registry (retries, a big download) never delays the heartbeat:
        # a stale heartbeat would make /ready report this serving worker as gone.
        loops = ((self._heartbeat_loop, "heartbeat"), (self._promotion_loop, "promotions"), (self._poll_loop, "poll"))
        for target, name in loops:
            self._threads.append(threading.Thread(target=target, name=f"inference-{name}", daemon=True))
        for index in range(self.settings.call_consumers):
            name = f"{self.worker_id}:{index}"
            consumer = CallConsumer(connect(self.settings.redis_url), name, self.predict, self.settings)
            thread = threading.Thread(target=consumer.run, args=(self._stop,), name=f"calls-{index}", daemon=True)
            self._threads.append(thread)
        self._threads.append(threading.Thread(target=self.shadow.run, args=(self._stop,), name="shadow", daemon=True))
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        """Stops reading calls, leaves /ready at once, and gives a read in progress up to `shutdown_grace_s` to be
        answered and acknowledged (what is still pending after that is claimed by a live worker)."""
        self._stop.set()
        self._remove_heartbeat()
        deadline = time.monotonic() + self.settings.shutdown_grace_s
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        busy = [thread.name for thread in self._threads if thread.is_alive()]
        if busy:
            log.warning("stopped with threads still busy %s", kv(worker=self.worker_id, threads=",".join(busy)))
        # A beat in flight when the stop began may have published the key again.
        self._remove_heartbeat()

    def _remove_heartbeat(self) -> None:
        with contextlib.suppress(redis.RedisError):
            pipe = self.redis.pipeline(transaction=False)
            pipe.delete(redis_keys.inference_worker_heartbeat(self.worker_id))
            pipe.zrem(redis_keys.INFERENCE_WORKERS_INDEX, self.worker_id)
            pipe.execute()

    def beat(self) -> None:
        """Publish this process's state; the gateway's /ready reads it. Expires if the process dies."""
        state = {
            "worker_id": self.worker_id,
            "updated_at": time.time(),
            "metrics_port": self.metrics_port,
            **self.store.describe(),
        }
        ttl = max(2, int(self.settings.heartbeat_interval_s * 3))
        pipe = self.redis.pipeline(transaction=False)
        pipe.set(redis_keys.inference_worker_heartbeat(self.worker_id), json.dumps(state), ex=ttl)
        pipe.zadd(redis_keys.INFERENCE_WORKERS_INDEX, {self.worker_id: state["updated_at"]})
        # Workers that died without saying so leave their entry; an hour later nobody needs it.
        pipe.zremrangebyscore(redis_keys.INFERENCE_WORKERS_INDEX, "-inf", state["updated_at"] - 3600)
        self.drift.publish(pipe, self.worker_id, ttl)
        pipe.execute()

    def _heartbeat_loop(self) -> None:
        while not self._stop.wait(self.settings.heartbeat_interval_s):
            try:
                self.beat()
            except redis.RedisError as exc:
                log.warning("heartbeat failed %s", kv(worker=self.worker_id, error=exc))
            except Exception:
                log.exception("heartbeat loop error %s", kv(worker=self.worker_id))

    def _poll_loop(self) -> None:
        """Fallback for a missed promotion event: re-read the alias every `alias_poll_interval_s`."""
        while not self._stop.wait(min(1.0, self.settings.alias_poll_interval_s)):
            if time.time() - self.store.last_check_at < self.settings.alias_poll_interval_s:
                continue
            try:
                if self.store.refresh():
                    self.beat()
                self.shadow.refresh(self._champion_version())
            except Exception:
                log.exception("alias poll error %s", kv(worker=self.worker_id))

    def _promotion_loop(self) -> None:
        last_id = "$"
        while not self._stop.is_set():
            try:
                replies = self.redis.xread({events.MODEL_PROMOTED_STREAM: last_id}, block=1000, count=10)
            except redis.RedisError as exc:
                log.warning("promotion listener reconnecting %s", kv(worker=self.worker_id, error=exc))
                self._stop.wait(1.0)
                continue
            for _stream, entries in replies or []:
                for entry_id, fields in entries:
                    last_id = entry_id
                    try:
                        event = events.decode(fields, ModelPromotedEvent)
                    except ValueError:
                        log.warning("undecodable promotion event %s", kv(entry=entry_id))
                        continue
                    if event.model_name == self.store.model_name:
                        log.info("promotion received %s", kv(model=event.model_name, version=event.model_version))
                        self.store.refresh()
                        self.shadow.refresh(self._champion_version())
                        self.beat()
