"""The gateway's HTTP edge against abuse, on a real gateway process and its own real Redis, over loopback.

A slowloris (2,000 sockets dripping a header byte a second) is cut off at the read timeout while /health stays
fast; oversized headers get 431; X-Forwarded-For counts only from a trusted proxy; an inference reply that is
malformed, has the wrong number of predictions or carries the worker's error text is a prompt 503 with a stable
message.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from gateway.ratelimit import SYNC_S
from local_stack.processes import ManagedProcess, start_redis
from shared import redis_keys
from tests.conftest import Stack, start_gateway
from tests.reliability.conftest import record_abuse

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SLOW_SOCKETS = 2000
READ_TIMEOUT_S = 2
DRIP_S = READ_TIMEOUT_S + 4
HEALTH_BUDGET_S = 0.1
SECRET_WORKER_TEXT = "Traceback: /srv/models/secret-path.onnx token=hunter2"


@pytest.fixture(scope="module")
def edge_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    base = tmp_path_factory.mktemp("http-edge")
    process, url = start_redis(base / "redis")
    # Nothing here reaches MLflow: an address where nothing listens.
    yield Stack(redis_url=url, mlflow_url="http://127.0.0.1:9", log_dir=base / "logs")
    process.stop()


@pytest.fixture
def started() -> Iterator[list[ManagedProcess]]:
    processes: list[ManagedProcess] = []
    yield processes
    for process in processes:
        process.stop()


def _gateway(stack: Stack, started: list[ManagedProcess], name: str, **env: str) -> str:
    process, url = start_gateway(stack, name=name, **env)
    started.append(process)
    return url


async def _slowloris(port: int) -> tuple[int, float, int]:
    """Opens the sockets, drips a byte a second on each for DRIP_S, probes /health meanwhile. Returns how many
    sockets the gateway closed, the slowest /health, and the probes."""
    streams = []
    for _ in range(SLOW_SOCKETS):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        streams.append((reader, writer))
    closed: set[int] = set()
    slowest = 0.0
    probes = 0
    async with httpx.AsyncClient(limits=httpx.Limits(max_keepalive_connections=0)) as client:
        deadline = time.monotonic() + DRIP_S
        while time.monotonic() < deadline:
            for index, (reader, writer) in enumerate(streams):
                if index in closed:
                    continue
                if reader.at_eof() or writer.is_closing():
                    closed.add(index)
                    continue
                try:
                    writer.write(b"a")
                except (ConnectionError, RuntimeError):
                    closed.add(index)
            started = time.perf_counter()
            response = await client.get(f"http://127.0.0.1:{port}/health", timeout=5)
            slowest = max(slowest, time.perf_counter() - started)
            probes += 1
            assert response.status_code == 200
            await asyncio.sleep(1)
        # Reading shows a close the drip did not yet notice.
        for index, (reader, _) in enumerate(streams):
            if index not in closed:
                try:
                    if await asyncio.wait_for(reader.read(1), 0.01) == b"":
                        closed.add(index)
                except (TimeoutError, ConnectionError):
                    pass
    for _, writer in streams:
        writer.close()
    return len(closed), slowest, probes


def test_slowloris_is_cut_off_while_health_stays_fast(edge_stack: Stack, started, abuse_table: Path) -> None:
    url = _gateway(edge_stack, started, "gateway-slowloris", HTTP_REQUEST_READ_TIMEOUT_S=str(READ_TIMEOUT_S))
    port = int(url.rsplit(":", 1)[1])
    closed, slowest, probes = asyncio.run(_slowloris(port))
    record_abuse(
        abuse_table,
        f"slowloris: {SLOW_SOCKETS} sockets dripping a header byte a second for {DRIP_S} s",
        SLOW_SOCKETS,
        closed,
        f"closed at the {READ_TIMEOUT_S} s read timeout; slowest of {probes} /health probes {slowest * 1000:.0f} ms",
    )
    assert closed >= SLOW_SOCKETS * 0.95, f"the gateway closed only {closed} of {SLOW_SOCKETS} slow sockets"
    assert slowest < HEALTH_BUDGET_S, f"/health took {slowest * 1000:.0f} ms during the slowloris"

    headers = {f"x-filler-{i}": "a" * 1000 for i in range(40)}
    response = httpx.get(url + "/health", headers=headers, timeout=5)
    record_abuse(abuse_table, "40 KB of request headers", 1, int(response.status_code == 431), "431, connection closed")
    assert response.status_code == 431, response.text
    with httpx.Client(base_url=url, timeout=5) as kept_alive:  # the second request on one connection is capped too
        assert kept_alive.get("/health").status_code == 200
        assert kept_alive.get("/health", headers=headers).status_code == 431


def _statuses(url: str, forwarded_for: list[str], redis_url: str) -> list[int]:
    """Statuses of /predict calls, one per X-Forwarded-For value, from fresh allowances (the gateways share Redis)."""
    time.sleep(SYNC_S * 4)  # the counts an earlier gateway still held reach Redis before they are cleared
    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter("ratelimit:*"):
        client.delete(key)
    return [
        httpx.post(url + "/predict", json={"text": "hello"}, headers={"X-Forwarded-For": ip}, timeout=10).status_code
        for ip in forwarded_for
    ]


def test_forwarded_for_counts_only_from_a_trusted_proxy(edge_stack: Stack, started, abuse_table: Path) -> None:
    limit = {"PREDICT_RATE_LIMIT_PER_MINUTE": "3"}
    untrusted = _gateway(edge_stack, started, "gateway-untrusting", **limit)
    elsewhere = _gateway(edge_stack, started, "gateway-trusts-other", FORWARDED_ALLOW_IPS="10.9.9.9", **limit)
    trusting = _gateway(edge_stack, started, "gateway-behind-proxy", FORWARDED_ALLOW_IPS="127.0.0.1", **limit)

    # No worker runs: each allowed request is a quick 503, each one over the limit a 429.
    for url in (untrusted, elsewhere):
        spoofed = _statuses(url, [f"203.0.113.{i}" for i in range(1, 6)], edge_stack.redis_url)
        assert spoofed.count(429) == 2, f"a spoofed X-Forwarded-For bought fresh allowances: {spoofed}"
    record_abuse(
        abuse_table,
        "spoofed X-Forwarded-For from an untrusted peer, 5 addresses, limit 3",
        10,
        4,
        "header ignored: one allowance for the peer",
    )

    distinct = _statuses(trusting, [f"198.51.100.{i}" for i in range(1, 6)], edge_stack.redis_url)
    assert 429 not in distinct, f"clients behind the trusted proxy shared one allowance: {distinct}"
    same = _statuses(trusting, ["198.51.100.200"] * 5, edge_stack.redis_url)
    assert same.count(429) == 2, same


class BadWorker:
    """Looks like a live inference worker (a fresh heartbeat) and answers each call with the next bad reply."""

    def __init__(self, redis_url: str, replies: list[str]) -> None:
        self.client = redis.Redis.from_url(redis_url)
        self.replies = list(replies)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _beat(self) -> None:
        now = time.time()
        self.client.zadd(redis_keys.INFERENCE_WORKERS_INDEX, {"bad-worker": now})
        state = {"worker_id": "bad-worker", "updated_at": now, "model_version": "1"}
        self.client.set(redis_keys.inference_worker_heartbeat("bad-worker"), json.dumps(state))

    def _run(self) -> None:
        last_id = "$"
        while not self.stop.is_set():
            self._beat()
            entries = self.client.xread({redis_keys.PREDICT_CALLS_STREAM: last_id}, block=200, count=10)
            for _, messages in entries or []:
                for entry_id, fields in messages:
                    last_id = entry_id
                    call = json.loads(fields[b"call"])
                    template = self.replies.pop(0) if self.replies else "[]"
                    self.client.publish(call["reply_to"], template.replace("CALL_ID", call["call_id"]))

    def __enter__(self) -> BadWorker:
        self._beat()
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(5)


BAD_REPLIES = {
    "no predictions for one tweet": '[{"call_id": "CALL_ID", "predictions": []}]',
    "malformed predictions": '[{"call_id": "CALL_ID", "predictions": "not a list"}]',
    "worker error text": json.dumps([{"call_id": "CALL_ID", "error": SECRET_WORKER_TEXT}]),
}


def test_bad_inference_replies_are_a_prompt_503(edge_stack: Stack, started, abuse_table: Path) -> None:
    url = _gateway(edge_stack, started, "gateway-bad-replies", PREDICT_TIMEOUT_S="10")
    with BadWorker(edge_stack.redis_url, list(BAD_REPLIES.values())):
        for name in BAD_REPLIES:
            began = time.perf_counter()
            response = httpx.post(url + "/predict", json={"text": "my flight was late"}, timeout=15)
            took = time.perf_counter() - began
            record_abuse(
                abuse_table,
                f"inference reply: {name}",
                1,
                int(response.status_code == 503),
                f"{response.status_code} in {took * 1000:.0f} ms, worker text kept out of the answer",
            )
            assert response.status_code == 503, f"{name}: {response.status_code} {response.text}"
            assert took < 2, f"{name}: the caller waited {took:.1f} s"
            assert "secret-path" not in response.text and "hunter2" not in response.text, response.text
            assert "Retry-After" in response.headers
