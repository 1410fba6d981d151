"""Clients that stream predictions at a gateway and sort every answer: answered, explicit failure, or lost."""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

import httpx

from benchmarks.common.load import ClientThreads, Step

TWEETS = (
    "@united thank you, the crew was wonderful!",
    "@united lost my bag again, worst airline ever",
    "@SouthwestAir flight delayed three hours, no updates",
    "@JetBlue great legroom and friendly staff",
    "@AmericanAir why was my flight cancelled without notice?",
)


@dataclass
class Outcome:
    request_id: str
    route: str
    status: int | None
    seconds: float
    kind: str  # answered | explicit | lost
    detail: str = ""


@dataclass
class TrafficLog:
    outcomes: list[Outcome] = field(default_factory=list)
    sent: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, outcome: Outcome) -> None:
        with self._lock:
            self.outcomes.append(outcome)

    def count_sent(self) -> None:
        with self._lock:
            self.sent += 1

    def counts(self) -> Counter:
        """answered / explicit / lost, where lost also counts requests sent that never came back at all."""
        counts = Counter(o.kind for o in self.outcomes)
        counts["lost"] += self.sent - len(self.outcomes)
        return counts

    def lost(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.kind == "lost"]

    def by_request_id(self) -> dict[str, Outcome]:
        return {o.request_id: o for o in self.outcomes}


def classify(route: str, response: httpx.Response, expected: int) -> tuple[str, str]:
    """200 with one prediction per tweet is an answer; 503 or 429 with Retry-After an explicit failure."""
    if response.status_code == 200:
        body = response.json()
        got = len(body["predictions"]) if route.endswith("batch") else int("label" in body)
        return ("answered", "") if got == expected else ("lost", f"{got} predictions for {expected} tweets")
    if response.status_code in (503, 429) and response.headers.get("Retry-After", "").isdigit():
        return "explicit", response.json().get("detail", "")
    return "lost", f"HTTP {response.status_code}: {response.text[:200]}"


def send_one(client: httpx.Client, url: str, route: str, texts: list[str], log: TrafficLog, prefix: str) -> str:
    request_id = f"{prefix}-{uuid.uuid4().hex[:12]}"
    body = {"texts": texts} if route.endswith("batch") else {"text": texts[0]}
    started = time.perf_counter()
    log.count_sent()
    try:
        response = client.post(url + route, json=body, headers={"X-Request-ID": request_id})
    except httpx.HTTPError as exc:  # a hang past the client timeout, or a dropped connection
        log.add(Outcome(request_id, route, None, time.perf_counter() - started, "lost", repr(exc)))
        return "lost"
    kind, detail = classify(route, response, len(texts))
    log.add(Outcome(request_id, route, response.status_code, time.perf_counter() - started, kind, detail))
    return kind


class Streamer:
    """Threads that keep sending /predict and /predict/batch until stopped."""

    def __init__(self, url: str, singles: int, batches: int, batch_size: int, timeout_s: float, prefix: str) -> None:
        self.url = url
        self.log = TrafficLog()
        self._prefix = prefix
        texts = list(itertools.islice(itertools.cycle(TWEETS), batch_size))
        plans = [("/predict", [TWEETS[i % len(TWEETS)]]) for i in range(singles)]
        plans += [("/predict/batch", texts) for _ in range(batches)]
        self._clients = ClientThreads([self._step(route, plan_texts) for route, plan_texts in plans], timeout_s)

    def _step(self, route: str, texts: list[str]) -> Step:
        def send(client: httpx.Client) -> float:
            answered = send_one(client, self.url, route, texts, self.log, self._prefix) == "answered"
            return 0.0 if answered else 0.2  # a client backs off a little after a refusal, as Retry-After asks

        return send

    def start(self) -> Streamer:
        self._clients.start()
        return self

    def stop(self) -> TrafficLog:
        self._clients.stop()
        return self.log
