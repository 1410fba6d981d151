"""Anonymous load against a stack whose Redis has a memory budget (maxmemory, noeviction), over real processes.

A flood of anonymous batches of unique short tweets is refused (429 + Retry-After) once the caller's tweet allowance
is spent, and Redis grows only by the allowed tweets' records, each within the record budget. A Redis at its
maxmemory makes /predict and /predict/batch answer 503 "storage full" + Retry-After at once, calls whose records the
worker could not write included, and /ready names the storage as the cause; nothing accepted is lost, and service
resumes by itself once there is room again.
"""

from __future__ import annotations

import signal
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx
import pytest
import redis

from local_stack.processes import ManagedProcess, start_redis, wait_until
from shared import redis_keys
from tests.conftest import ANALYST_KEY, Stack, start_gateway, start_inference_worker
from tests.reliability.conftest import FaultStack, record_abuse, record_fault, wait_ready

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REDIS_BUDGET_MB = 48
TWEET_ALLOWANCE = 1000  # per caller and minute, on the limited gateway
BATCHES = 600
BATCH_SIZE = 20
# Redis memory one answered short tweet may cost (its record key, request id included).
RECORD_BUDGET_BYTES = 300
# What else the flood leaves in Redis: the call stream's emptied nodes, the caller's counters, the gateway's buffers.
GROWTH_SLACK_BYTES = 2**20
# Also how long a reply's copy stays in Redis (until its caller's deadline): the growth is measured once they expired.
PREDICT_TIMEOUT_S = 10
STORAGE_RETRY_AFTER_S = 60
WINDOW_S = 60


@dataclass
class BudgetStack:
    redis_url: str
    redis: ManagedProcess
    worker: ManagedProcess
    limited_url: str  # tweet allowance on
    open_url: str  # rate limit off: a full Redis is met at the call stream and at the worker instead
    processes: list[ManagedProcess]


@pytest.fixture(scope="module")
def budget_stack(fault_stack: FaultStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BudgetStack]:
    redis_process, redis_url = start_redis(tmp_path_factory.mktemp("budget-redis"), maxmemory=f"{REDIS_BUDGET_MB}mb")
    stack = Stack(redis_url=redis_url, mlflow_url=fault_stack.stack.mlflow_url, log_dir=fault_stack.stack.log_dir)
    processes: list[ManagedProcess] = []
    try:
        worker = start_inference_worker(stack, name="budget-worker", HEARTBEAT_INTERVAL_S="1")
        processes.append(worker)
        common = {"PREDICT_TIMEOUT_S": str(PREDICT_TIMEOUT_S), "WORKER_HEARTBEAT_MAX_AGE_S": "4"}
        limited, limited_url = start_gateway(
            stack, name="budget-limited-gateway", PREDICT_TWEET_LIMIT_PER_MINUTE=str(TWEET_ALLOWANCE), **common
        )
        processes.append(limited)
        opened, open_url = start_gateway(stack, name="budget-open-gateway", PREDICT_RATE_LIMIT_PER_MINUTE="0", **common)
        processes.append(opened)
        wait_ready(limited_url)
        wait_ready(open_url)
        yield BudgetStack(redis_url, redis_process, worker, limited_url, open_url, processes)
    finally:
        for process in reversed(processes):
            process.kill(signal.SIGCONT)  # a stopped process would not see its SIGTERM
            process.stop()
        redis_process.stop()


def used_memory(client: redis.Redis) -> int:
    return int(client.info("memory")["used_memory"])


def unique_batch(n: int) -> list[str]:
    token = uuid.uuid4().hex[:6]
    return [f"@united flight {n}-{i} {token} ok" for i in range(BATCH_SIZE)]


class PeakSampler:
    """Samples Redis's used_memory every 20 ms in a thread, keeping the highest value."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self.peak = used_memory(client)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, used_memory(self.client))

    def __enter__(self) -> PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


def test_anonymous_batches_are_refused_in_tweets_and_redis_stays_in_budget(budget_stack, abuse_table) -> None:
    client = redis.Redis.from_url(budget_stack.redis_url)
    budget_bytes = int(client.config_get("maxmemory")["maxmemory"])
    assert budget_bytes == REDIS_BUDGET_MB * 2**20
    if WINDOW_S - time.time() % WINDOW_S < 30:  # most of the flood within one window of the allowance
        time.sleep(WINDOW_S - time.time() % WINDOW_S + 0.1)
    before = used_memory(client)
    started = time.time()

    def send(n: int) -> tuple[int, str, int, list[str]]:
        texts = unique_batch(n)
        response = http.post(budget_stack.limited_url + "/predict/batch", json={"texts": texts})
        ids = [p["prediction_id"] for p in response.json()["predictions"]] if response.status_code == 200 else []
        detail = "" if response.status_code == 200 else str(response.json().get("detail", ""))
        retry_after = response.headers.get("Retry-After", "")
        return response.status_code, detail, int(retry_after) if retry_after.isdigit() else -1, ids

    timeout = PREDICT_TIMEOUT_S + 10
    with httpx.Client(timeout=timeout) as http, PeakSampler(client) as sampler, ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(send, range(BATCHES)))
    windows = int(time.time() // WINDOW_S) - int(started // WINDOW_S) + 1
    time.sleep(PREDICT_TIMEOUT_S + 1)  # the replies' copies expire: what stays is the records
    after = used_memory(client)

    statuses = Counter(status for status, _, _, _ in outcomes)
    answered_ids = [prediction_id for *_, ids in outcomes for prediction_id in ids]
    answered_tweets = len(answered_ids)
    sample = answered_ids[:: max(1, answered_tweets // 200)]
    record_bytes = [client.memory_usage(redis_keys.prediction(i)) or 0 for i in sample]
    bytes_per_record = sum(record_bytes) / len(record_bytes) if record_bytes else 0.0
    growth = after - before
    record_abuse(
        abuse_table,
        f"{BATCHES} anonymous batches of {BATCH_SIZE} unique short tweets from one address "
        f"(tweet allowance {TWEET_ALLOWANCE}/min, Redis budget {REDIS_BUDGET_MB} MB)",
        BATCHES,
        statuses[429],
        f"{answered_tweets} tweets answered in {windows} window(s), {statuses[429]} batches 429 + Retry-After; "
        f"statuses {dict(statuses)}; "
        f"Redis +{growth / 2**20:.2f} MB ({growth / max(1, answered_tweets):.0f} B per answered tweet, record key "
        f"{bytes_per_record:.0f} B by MEMORY USAGE), peak {sampler.peak / 2**20:.1f} of {REDIS_BUDGET_MB} MB",
    )

    assert set(statuses) <= {200, 429}, statuses  # no 5xx, no storage full: the allowance kept Redis in budget
    assert statuses[429] > 0, f"no request refused: {answered_tweets} tweets answered"
    refusals = [(detail, retry) for status, detail, retry, _ in outcomes if status == 429]
    assert all("tweet allowance" in detail and 1 <= retry <= WINDOW_S + 1 for detail, retry in refusals), refusals[:3]
    assert TWEET_ALLOWANCE <= answered_tweets <= TWEET_ALLOWANCE * windows, (answered_tweets, windows)
    assert 0 < bytes_per_record <= RECORD_BUDGET_BYTES, bytes_per_record
    assert growth <= answered_tweets * RECORD_BUDGET_BYTES + GROWTH_SLACK_BYTES, (growth, answered_tweets)
    assert sampler.peak < budget_bytes


def fill_until_refused(client: redis.Redis) -> int:
    """Writes filler keys until Redis refuses one for lack of memory, then pins the budget just below what is used,
    so that transient frees (a client's buffers) cannot let a write slip in. Returns the budget to restore."""
    budget = int(client.config_get("maxmemory")["maxmemory"])
    filler = b"x" * (256 * 1024)
    for index in range(10_000):
        try:
            client.set(f"test:filler:{index}", filler)
        except redis.exceptions.OutOfMemoryError:
            break
    else:
        raise AssertionError("Redis never refused a write: no maxmemory?")
    client.config_set("maxmemory", used_memory(client) - 2**20)
    return budget


def storage_full(response: httpx.Response) -> bool:
    return (
        response.status_code == 503
        and response.headers.get("Retry-After") == str(STORAGE_RETRY_AFTER_S)
        and str(response.json().get("detail", "")).startswith("storage full")
    )


def test_a_redis_at_maxmemory_answers_503_storage_full_and_loses_nothing(
    budget_stack, fault_table, abuse_table
) -> None:
    client = redis.Redis.from_url(budget_stack.redis_url)
    wait_ready(budget_stack.open_url, timeout_s=60)
    sent: list[tuple[str, httpx.Response | Exception, float]] = []
    lock = threading.Lock()

    def call(url: str, route: str, body: dict, headers: dict[str, str] | None = None) -> None:
        started = time.monotonic()
        try:
            response: httpx.Response | Exception = httpx.post(
                url + route, json=body, headers=headers, timeout=PREDICT_TIMEOUT_S + 10
            )
        except httpx.HTTPError as exc:
            response = exc
        with lock:
            sent.append((route, response, time.monotonic() - started))

    # 1. Calls accepted while there was room, whose records the worker then cannot write: the worker is paused
    #    (SIGSTOP) while they are sent and Redis fills up, then resumed.
    budget_stack.worker.kill(signal.SIGSTOP)
    try:
        in_flight = [
            threading.Thread(target=call, args=(budget_stack.open_url, "/predict/batch", {"texts": unique_batch(n)}))
            for n in range(4)
        ] + [threading.Thread(target=call, args=(budget_stack.open_url, "/predict", {"text": "@united hi"}))]
        for thread in in_flight:
            thread.start()
        wait_until(lambda: client.xlen(redis_keys.PREDICT_CALLS_STREAM) >= 4, 10, "calls on the stream", None, 0.02)
        budget = fill_until_refused(client)
    finally:
        budget_stack.worker.kill(signal.SIGCONT)
    resumed = time.monotonic()
    for thread in in_flight:
        thread.join(PREDICT_TIMEOUT_S + 15)
    accepted_answered_in_s = time.monotonic() - resumed
    accepted = list(sent)

    # 2. Redis stays full: the worker's heartbeat is refused too, and /ready must name the storage, not the worker.
    def no_worker_seen() -> bool:
        return httpx.get(budget_stack.open_url + "/ready", timeout=5).json()["workers"] == 0

    wait_until(no_worker_seen, 30, "the worker's heartbeat to go stale", None, 0.2)
    ready = httpx.get(budget_stack.open_url + "/ready", timeout=5)
    later = []
    # A caller with allowance left (the flood above spent the address's), so that what it meets is the full storage:
    # a caller past its allowance is told so first, with a 429, whatever Redis holds.
    caller = {"X-API-Key": ANALYST_KEY}
    for url in (budget_stack.open_url, budget_stack.limited_url):
        for route, body in (("/predict", {"text": "@united full?"}), ("/predict/batch", {"texts": unique_batch(9)})):
            call(url, route, body, caller)
            later.append(sent[-1])

    # 3. Room again (the filler gone, the budget back): everyone recovers without a restart.
    for key in client.scan_iter(match="test:filler:*", count=1000):
        client.delete(key)
    client.config_set("maxmemory", budget)
    room_at = time.monotonic()
    wait_ready(budget_stack.open_url, timeout_s=60)
    recovered = httpx.post(budget_stack.open_url + "/predict", json={"text": "@united back?"}, timeout=30)
    recovered_s = time.monotonic() - room_at

    everything = [*sent, ("/predict", recovered, recovered_s)]
    answered = sum(1 for _, r, _ in everything if isinstance(r, httpx.Response) and r.status_code == 200)
    explicit = sum(1 for _, r, _ in everything if isinstance(r, httpx.Response) and storage_full(r))
    lost = len(everything) - answered - explicit
    problems = ready.json()["problems"]
    record_fault(
        fault_table,
        "Redis at its maxmemory (noeviction) under /predict + /predict/batch",
        len(everything),
        answered,
        explicit,
        lost,
        f"503 storage full + Retry-After; accepted calls whose records were refused answered "
        f"{accepted_answered_in_s:.2f} s after the worker resumed (timeout {PREDICT_TIMEOUT_S} s); "
        f"/ready: {problems}; answered again {recovered_s:.1f} s after room came back",
    )
    record_abuse(
        abuse_table,
        f"Redis filled to its maxmemory ({REDIS_BUDGET_MB} MB, noeviction) while calls were in flight",
        len(sent),
        explicit,
        f"{explicit} of {len(sent)} predictions 503 'storage full' + Retry-After {STORAGE_RETRY_AFTER_S} s, "
        f"the in-flight ones within {accepted_answered_in_s:.2f} s of the worker resuming; /ready: "
        f"{'names the storage' if any(p.startswith('storage full') for p in problems) else problems}; lost {lost}",
    )

    assert all(isinstance(r, httpx.Response) and storage_full(r) for _, r, _ in accepted), [
        (route, getattr(r, "status_code", r), getattr(r, "text", "")[:200]) for route, r, _ in accepted
    ]
    assert accepted_answered_in_s < PREDICT_TIMEOUT_S / 2, f"callers waited {accepted_answered_in_s:.1f} s"
    assert ready.status_code == 503 and ready.json()["redis"] is True, ready.text
    assert any(p.startswith("storage full") for p in problems), problems
    assert not any("no inference worker" in p for p in problems), problems
    assert all(isinstance(r, httpx.Response) and storage_full(r) and s < 5 for _, r, s in later), [
        (route, getattr(r, "status_code", r), getattr(r, "text", "")[:200], s) for route, r, s in later
    ]
    assert recovered.status_code == 200, recovered.text
    assert lost == 0
