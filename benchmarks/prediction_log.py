"""Prediction log: does the log writer keep up, and does the review queue answer fast over a million rows?

    python benchmarks/prediction_log.py                       # SQLite and PostgreSQL, 1,000,000 rows
    python benchmarks/prediction_log.py --rows 200000 --steady-s 10 --backends sqlite
    python benchmarks/prediction_log.py --skip-writer --backends sqlite   # the queue and the trend only

For each database (an SQLite file; a PostgreSQL server of its own, started with initdb on a free port, fsync on):
1. flood: `--flood` predictions wait on the log stream (entries of `--per-entry`, as an inference worker's read
   appends them), then a real log writer process (python -m log_writer) starts: its sustained inserts/s.
2. steady: entries arrive at `--rate` tweets/s for `--steady-s` seconds while the writer runs: the lag it keeps
   (entries waiting, age of the oldest), sampled every 0.25 s.
3. queue: the log is filled to `--rows` rows through the store, then a real gateway answers GET /predictions
   (order=uncertainty, with and without filters, a deep cursor, newest, the sentiment trend): latency p50 / p95.
4. trend: in process, the sentiment trend (30 days by day, 24 h by hour) read from the hourly rollup
   (`sentiment_stats`, what the gateway answers with) against the scan of every row of the range it replaced
   (`scan_sentiment_stats`): p50 / p95, and that both give the same buckets.
Prints one Markdown table per question. Target: the writer keeps up at the system's peak (lag bounded, no growth)
and /predictions?order=uncertainty under 200 ms.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from local_stack.processes import (  # noqa: E402
    free_port,
    http_ok,
    start_postgres,
    start_redis,
    start_service,
    stop_postgres,
    wait_until,
)
from shared import redis_keys  # noqa: E402
from shared.prediction_log import PredictionLog  # noqa: E402
from shared.schemas.prediction_log import FeedbackLogEntry, LoggedPredictionIn  # noqa: E402

ANALYST_KEY = "benchmark-analyst-key"
AIRLINES = ["@united", "@AmericanAir", "@Delta", "@SouthwestAir", "@JetBlue", "@AirParadis", ""]
WORDS = [
    "flight",
    "delayed",
    "crew",
    "lovely",
    "bag",
    "lost",
    "seat",
    "upgrade",
    "gate",
    "late",
    "thanks",
    "rude",
    "refund",
    "lounge",
]


def tweet(rng: random.Random) -> str:
    return f"{rng.choice(AIRLINES)} " + " ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 14)))


def entry(rng: random.Random, count: int, created_at: float) -> str:
    rows = []
    for _ in range(count):
        probability = rng.random()
        rows.append(
            {
                "prediction_id": uuid.uuid4().hex,
                "text": tweet(rng),
                "label": "positive" if probability >= 0.45 else "negative",
                "probability_positive": probability,
                "threshold": 0.45,
                "model_name": "air-paradis-lstm",
                "model_version": "7",
                "request_id": uuid.uuid4().hex[:16],
                "caller": rng.choice([None, "alice", "bob"]),
                "created_at": created_at,
            }
        )
    return json.dumps(rows)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@dataclass
class WriterFigures:
    flood_rows: int
    flood_s: float
    steady_offered: float
    steady_committed: float
    lag_entries_p95: float
    lag_entries_max: int
    lag_age_p95_s: float
    lag_age_max_s: float
    drained_s: float


def run_writer(backend: str, url: str, redis_url: str, log_dir: Path, args: argparse.Namespace) -> WriterFigures:
    client = redis.Redis.from_url(redis_url)
    stream = redis_keys.PREDICTION_LOG_STREAM
    client.delete(stream)
    rng = random.Random(7)
    store = PredictionLog(url)
    store.upgrade()
    before = store.count()
    entries = args.flood // args.per_entry
    with client.pipeline(transaction=False) as pipe:
        for index in range(entries):
            pipe.xadd(stream, {"predictions": entry(rng, args.per_entry, time.time())})
            if index % 500 == 499:
                pipe.execute()
        pipe.execute()
    env = {
        "REDIS_URL": redis_url,
        "PREDICTION_LOG_URL": url,
        "LOG_LAG_INTERVAL_S": "5",
        "PREDICTION_LOG_RETENTION_DAYS": "0",
        "ENVIRONMENT": "test",
    }
    writer = start_service(f"log-writer-{backend}", ["log_writer"], env, log_dir)
    try:
        # Timed from the first commit, so that the process's start-up does not count.
        wait_until(lambda: store.count() > before, 120, "first commit", writer, interval_s=0.02)
        started, first = time.perf_counter(), store.count()
        wait_until(lambda: client.xlen(stream) == 0, 600, "flood drained", writer, interval_s=0.05)
        flood_s = time.perf_counter() - started
        flood_rows = store.count() - first

        # Steady: an entry every `per_entry / rate` seconds, scheduled on absolute times (no drift).
        interval = args.per_entry / args.rate
        samples: list[tuple[int, float]] = []
        stop = threading.Event()

        def sample() -> None:
            sampler = redis.Redis.from_url(redis_url)
            while not stop.is_set():
                length = sampler.xlen(stream)
                oldest = sampler.xrange(stream, "-", "+", count=1)
                age = time.time() - int(oldest[0][0].split(b"-")[0]) / 1000 if oldest else 0.0
                samples.append((length, max(0.0, age)))
                stop.wait(0.25)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        steady_before = store.count()
        begin = time.perf_counter()
        sent = 0
        while (now := time.perf_counter()) - begin < args.steady_s:
            due = int((now - begin) / interval) + 1
            while sent < due:
                client.xadd(stream, {"predictions": entry(rng, args.per_entry, time.time())})
                sent += 1
            time.sleep(max(0.0, begin + sent * interval - time.perf_counter()))
        elapsed = time.perf_counter() - begin
        drain_started = time.perf_counter()
        wait_until(lambda: client.xlen(stream) == 0, 300, "steady drained", writer, interval_s=0.05)
        drained_s = time.perf_counter() - drain_started
        stop.set()
        sampler.join()
        committed = store.count() - steady_before
        lengths = [length for length, _ in samples] or [0]
        ages = [age for _, age in samples] or [0.0]
        return WriterFigures(
            flood_rows=flood_rows,
            flood_s=flood_s,
            steady_offered=sent * args.per_entry / elapsed,
            steady_committed=committed / (elapsed + drained_s),
            lag_entries_p95=percentile([float(v) for v in lengths], 0.95),
            lag_entries_max=max(lengths),
            lag_age_p95_s=percentile(ages, 0.95),
            lag_age_max_s=max(ages),
            drained_s=drained_s,
        )
    finally:
        writer.stop()
        store.close()
        client.close()


def fill(url: str, rows: int) -> float:
    """Tops the log up to `rows` rows over the last 30 days (3 versions, 2 % flagged); returns rows/s."""
    store = PredictionLog(url)
    store.upgrade()  # already done by the writer phase, unless it was skipped
    rng = random.Random(11)
    now = datetime.now(UTC)
    missing = rows - store.count()
    started = time.perf_counter()
    chunk: list[LoggedPredictionIn] = []
    flagged: list[LoggedPredictionIn] = []
    for index in range(max(0, missing)):
        probability = rng.random()
        prediction_id = uuid.uuid4().hex
        chunk.append(
            LoggedPredictionIn(
                prediction_id=prediction_id,
                text=tweet(rng),
                label="positive" if probability >= 0.45 else "negative",
                probability_positive=probability,
                threshold=0.45,
                model_name="air-paradis-lstm",
                model_version=rng.choice(["5", "6", "7"]),
                caller=rng.choice([None, "alice", "bob"]),
                created_at=now - timedelta(seconds=rng.uniform(0, 30 * 86400)),
            )
        )
        if rng.random() < 0.02:
            flagged.append(chunk[-1])
        if len(chunk) == 5000 or index == missing - 1:
            store.insert_many(chunk)
            chunk = []
    verdicts = [FeedbackLogEntry(prediction=row, correct_label="negative", analyst="alice", at=now) for row in flagged]
    store.write([], verdicts, create_missing=False)
    rate = max(0, missing) / (time.perf_counter() - started) if missing > 0 else 0.0
    store.close()
    return rate


QUERIES = [
    ("order=uncertainty, first page (50)", {"order": "uncertainty"}),
    ("order=uncertainty, page 20 (cursor)", {"order": "uncertainty", "_pages": "20"}),
    ("order=uncertainty&flagged=false", {"order": "uncertainty", "flagged": "false"}),
    (
        "order=uncertainty&label=negative&model_version=6",
        {"order": "uncertainty", "label": "negative", "model_version": "6"},
    ),
    ("order=uncertainty&airline=delta", {"order": "uncertainty", "airline": "delta"}),
    ("order=uncertainty, last 24 h", {"order": "uncertainty", "_last_day": "1"}),
    ("order=newest, first page (50)", {"order": "newest"}),
    ("order=uncertainty&q=refund lounge (text search)", {"order": "uncertainty", "q": "refund lounge"}),
    ("/stats/sentiment bucket=hour, 24 h", {"_stats": "hour"}),
    ("/stats/sentiment bucket=day, 30 days", {"_stats": "day"}),
]


def time_queries(url: str, redis_url: str, log_dir: Path, repeats: int) -> list[tuple[str, float, float]]:
    port = free_port()
    env = {
        "REDIS_URL": redis_url,
        "PREDICTION_LOG_URL": url,
        "ANALYST_API_KEY": ANALYST_KEY,
        "ENVIRONMENT": "test",
        "HOST": "127.0.0.1",
        "GATEWAY_PORT": str(port),
        "GATEWAY_PROCESSES": "1",
        "MLFLOW_TRACKING_URI": "http://127.0.0.1:9",
    }
    gateway = start_service(f"gateway-{port}", ["gateway"], env, log_dir)
    base = f"http://127.0.0.1:{port}"
    results = []
    try:
        wait_until(lambda: http_ok(base + "/health"), 90, "gateway", gateway)
        with httpx.Client(base_url=base, headers={"X-API-Key": ANALYST_KEY}, timeout=60) as client:
            for name, params in QUERIES:
                query = {k: v for k, v in params.items() if not k.startswith("_")}
                path = "/predictions"
                if "_stats" in params:
                    path = "/stats/sentiment"
                    span = timedelta(days=1) if params["_stats"] == "hour" else timedelta(days=30)
                    query = {"bucket": params["_stats"], "from": (datetime.now(UTC) - span).isoformat()}
                if "_last_day" in params:
                    query["from"] = (datetime.now(UTC) - timedelta(days=1)).isoformat()
                if "_pages" in params:
                    cursor = None
                    for _ in range(int(params["_pages"]) - 1):
                        cursor = client.get(path, params={**query, **({"cursor": cursor} if cursor else {})}).json()[
                            "next_cursor"
                        ]
                    query["cursor"] = cursor
                timings = []
                for attempt in range(repeats + 2):
                    started = time.perf_counter()
                    answer = client.get(path, params=query)
                    took = (time.perf_counter() - started) * 1000
                    if answer.status_code != 200:
                        raise RuntimeError(f"{name}: {answer.status_code} {answer.text[:300]}")
                    if attempt >= 2:  # the first two warm the caches and the connection pool
                        timings.append(took)
                results.append((name, statistics.median(timings), percentile(timings, 0.95)))
    finally:
        gateway.stop()
    return results


TRENDS = [("30 days by day", "day", timedelta(days=30)), ("24 h by hour", "hour", timedelta(days=1))]


def time_trends(url: str, repeats: int) -> list[tuple[str, str, float, float]]:
    """(trend, source, p50 ms, p95 ms) for the rollup and the scan, each over the same unaligned range."""
    store = PredictionLog(url)
    results = []
    try:
        for name, bucket, span in TRENDS:
            end = datetime.now(UTC)
            start = end - span
            answers = {}
            for source, read in (("rollup", store.sentiment_stats), ("scan of the rows", store.scan_sentiment_stats)):
                timings = []
                for attempt in range(repeats + 1):
                    started = time.perf_counter()
                    answers[source] = read(bucket, start, end)  # type: ignore[arg-type]
                    if attempt >= 1:  # the first warms the caches
                        timings.append((time.perf_counter() - started) * 1000)
                results.append((name, source, statistics.median(timings), percentile(timings, 0.95)))
            if answers["rollup"] != answers["scan of the rows"]:
                raise RuntimeError(f"{name}: the rollup and the scan disagree")
    finally:
        store.close()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--flood", type=int, default=50_000)
    parser.add_argument("--per-entry", type=int, default=16, help="predictions per stream entry (one worker read)")
    parser.add_argument("--rate", type=float, default=3000.0, help="tweets/s offered in the steady phase")
    parser.add_argument("--steady-s", type=float, default=20.0)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--trend-repeats", type=int, default=5, help="repeats of each in-process trend read")
    parser.add_argument("--skip-writer", action="store_true", help="skip the flood and steady phases")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="prediction-log-bench-"))
    log_dir = work / "logs"
    redis_process, redis_url = start_redis(work / "redis", log_dir=log_dir, maxmemory="1gb")
    writer_rows, query_rows, trend_rows = [], [], []
    try:
        for backend in args.backends.split(","):
            postgres = None
            if backend == "postgresql":
                postgres, url = start_postgres(durable=True)
            else:
                url = f"sqlite:///{work / 'sqlite' / 'predictions.db'}"
            try:
                if not args.skip_writer:
                    print(f"[{backend}] writer: flood {args.flood}, then {args.rate:.0f} tweets/s", flush=True)
                    figures = run_writer(backend, url, redis_url, log_dir, args)
                    writer_rows.append((backend, figures))
                print(f"[{backend}] filling to {args.rows} rows", flush=True)
                fill_rate = fill(url, args.rows)
                print(f"[{backend}] filled at {fill_rate:,.0f} rows/s; timing queries", flush=True)
                for name, p50, p95 in time_queries(url, redis_url, log_dir, args.repeats):
                    query_rows.append((backend, name, p50, p95))
                for name, source, p50, p95 in time_trends(url, args.trend_repeats):
                    trend_rows.append((backend, name, source, p50, p95))
            finally:
                if postgres is not None:
                    stop_postgres(postgres)
    finally:
        redis_process.stop()

    if writer_rows:
        print(
            "\n| database | flood: rows timed | inserts/s | steady: offered tweets/s | committed/s | lag p95 / max "
            "(entries) | oldest waiting p95 / max (s) | drained after (s) |"
        )
        print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for backend, f in writer_rows:
        print(
            f"| {backend} | {f.flood_rows:,} | {f.flood_rows / f.flood_s:,.0f} | {f.steady_offered:,.0f} | "
            f"{f.steady_committed:,.0f} | {f.lag_entries_p95:.0f} / {f.lag_entries_max} | "
            f"{f.lag_age_p95_s:.2f} / {f.lag_age_max_s:.2f} | {f.drained_s:.2f} |"
        )
    print(f"\n| database | GET over {args.rows:,} rows | p50 ms | p95 ms |")
    print("| --- | --- | --- | --- |")
    for backend, name, p50, p95 in query_rows:
        print(f"| {backend} | {name} | {p50:.1f} | {p95:.1f} |")
    print(f"\n| database | trend over {args.rows:,} rows, in process | read from | p50 ms | p95 ms |")
    print("| --- | --- | --- | --- | --- |")
    for backend, name, source, p50, p95 in trend_rows:
        print(f"| {backend} | {name} | {source} | {p50:.1f} | {p95:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
