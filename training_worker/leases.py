"""Job leases and recovery: a running job is held by a lease its worker keeps fresh; a job whose lease expired
(worker killed, out of memory, machine gone) is re-queued, or failed after MAX_ATTEMPTS, never left running."""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from types import TracebackType

import redis

from shared import redis_keys
from shared.jobs import JobStore
from shared.logging_setup import kv
from shared.schemas import JobState

log = logging.getLogger(__name__)


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class JobLease:
    """Claims a job for this process (SET NX) and refreshes the claim from a thread until released."""

    def __init__(self, client: redis.Redis, job_id: str, ttl_s: int) -> None:
        self._redis = client
        self._key = redis_keys.training_job_lease(job_id)
        self._ttl_s = ttl_s
        self._owner = worker_id()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.job_id = job_id

    def acquire(self) -> bool:
        if not self._redis.set(self._key, self._owner, nx=True, ex=self._ttl_s):
            return False
        self._thread = threading.Thread(target=self._refresh, name=f"lease-{self.job_id}", daemon=True)
        self._thread.start()
        return True

    def _refresh(self) -> None:
        while not self._stop.wait(self._ttl_s / 3):
            try:
                self._redis.set(self._key, self._owner, ex=self._ttl_s)
            except redis.RedisError as exc:  # a Redis blip must not kill the job; the next refresh retries
                log.warning("job lease refresh failed %s", kv(job_id=self.job_id, error=exc))

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        try:
            if self._redis.get(self._key) in (self._owner, self._owner.encode()):
                self._redis.delete(self._key)
        except redis.RedisError as exc:
            log.warning("job lease release failed %s", kv(job_id=self.job_id, error=exc))

    def __enter__(self) -> JobLease:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.release()


def lease_holder(client: redis.Redis, job_id: str) -> str | None:
    raw = client.get(redis_keys.training_job_lease(job_id))
    return raw.decode() if isinstance(raw, bytes) else raw


def recover_orphaned_jobs(
    client: redis.Redis, send: Callable[[str], None], max_attempts: int, lock_ttl_s: int = 30
) -> list[str]:
    """Re-queue (or fail, past `max_attempts`) every job marked running whose lease has expired."""
    if not client.set(redis_keys.TRAINING_RECOVERY_LOCK, worker_id(), nx=True, ex=lock_ttl_s):
        return []  # another training worker is sweeping right now
    store = JobStore(client)
    handled = []
    try:
        for job in store.list(limit=10_000):
            if job.state != JobState.running or lease_holder(client, job.job_id) is not None:
                continue
            if job.attempts >= max_attempts:
                store.mark_failed(
                    job.job_id,
                    f"the training worker stopped during this job {job.attempts} times "
                    "(killed, out of memory or restarted); not retried",
                )
                log.error("orphaned job failed %s", kv(job_id=job.job_id, attempts=job.attempts))
            else:
                store.update(
                    job.job_id,
                    state=JobState.queued,
                    progress_message=f"re-queued: its training worker stopped during attempt {job.attempts}",
                )
                send(job.job_id)
                log.warning("orphaned job re-queued %s", kv(job_id=job.job_id, attempts=job.attempts))
            handled.append(job.job_id)
    finally:
        client.delete(redis_keys.TRAINING_RECOVERY_LOCK)
    return handled


class RecoveryLoop:
    """Runs `recover_orphaned_jobs` now and then every `interval_s`, in a daemon thread of the worker's main process."""

    def __init__(self, sweep: Callable[[], list[str]], interval_s: float) -> None:
        self._sweep = sweep
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="training-recovery", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while True:
            try:
                self._sweep()
            except Exception:  # the loop must outlive a Redis outage
                log.exception("orphaned job sweep failed")
            if self._stop.wait(self._interval_s):
                return
