"""Soak: mixed traffic against a whole local stack for a set time; memory per process, errors, p99 per minute.

    python benchmarks/soak.py                 # 10 minutes of measured traffic (after warm-up)
    python benchmarks/soak.py --duration 60   # what CI runs

Starts its own Redis, MLflow, a tiny champion, gateway, inference worker, training worker and alerting service,
then sends single and batch predictions and feedback flags from concurrent clients while one training job runs.
Warm-up lasts until the training job has finished (and at least --warmup seconds), so the memory baseline is taken
with every process at its working size. Targets: 0 errors, memory growth under 10 % after warm-up, p99 flat
(last minute's p99 within 2x the first's). Exit status 1 when there was an error.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common.load import ClientThreads, Step  # noqa: E402
from local_stack.processes import (  # noqa: E402
    PYTHON,
    ManagedProcess,
    free_port,
    http_ok,
    start_mlflow,
    start_redis,
    start_service,
    wait_until,
)

ANALYST_KEY = "soak-analyst-key"
ADMIN_KEY = "soak-admin-key"
# The tests' tiny champion: it reaches the soak's target precision below, which the production one of 0.90 is not.
TINY_LSTM = {
    "dataset": "bundled",
    "max_rows": 800,
    "epochs": 3,
    "embedding_dim": 16,
    "lstm_units": 8,
    "max_len": 24,
    "word2vec_epochs": 2,
    "learning_rate": 0.005,
}
TWEETS = [
    "@united thank you, the crew was wonderful!",
    "@united lost my bag again, worst airline ever",
    "@SouthwestAir delayed three hours and no updates",
    "@JetBlue great legroom and friendly staff",
    "@AmericanAir cancelled without notice, again",
    "@VirginAmerica smooth flight, landed early",
]


@dataclass
class Recorder:
    started_at: float = field(default_factory=time.monotonic)
    latencies: dict[str, list[tuple[float, float]]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    error_samples: list[str] = field(default_factory=list)
    requests: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def ok(self, route: str, seconds: float) -> None:
        with self.lock:
            self.requests += 1
            self.latencies[route].append((time.monotonic() - self.started_at, seconds))

    def error(self, route: str, what: str) -> None:
        with self.lock:
            self.requests += 1
            self.errors[route] += 1
            if len(self.error_samples) < 10:
                self.error_samples.append(f"{route}: {what}")


@dataclass
class Stack:
    url: str
    processes: dict[str, ManagedProcess]


def start_stack(root: Path) -> Stack:
    redis_process, redis_url = start_redis(root / "redis", persistent=True, log_dir=root / "logs")
    mlflow_process, mlflow_url = start_mlflow(root / "mlflow")
    processes = {"redis": redis_process, "mlflow": mlflow_process}
    env = {
        "ENVIRONMENT": "test",
        "REDIS_URL": redis_url,
        "MLFLOW_TRACKING_URI": mlflow_url,
        "ANALYST_API_KEY": ANALYST_KEY,
        "ADMIN_API_KEY": ADMIN_KEY,
        "HF_HUB_OFFLINE": "1",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "PYTHONUNBUFFERED": "1",
        "OUTBOX_DIR": str(root / "outbox"),
        "PREDICT_RATE_LIMIT_PER_MINUTE": "0",
        "TARGET_PRECISION": "0.3",
    }
    log_dir = root / "logs"
    champion = ManagedProcess(
        "champion",
        [PYTHON, "-m", "training_worker", "train", "--family", "lstm", "--params", json.dumps(TINY_LSTM)],
        log_dir / "champion.log",
        env=env,
    ).start()
    if champion.popen.wait(600) != 0:
        raise RuntimeError("training the champion failed:\n" + champion.tail())
    processes["inference-worker"] = start_service("inference-worker", ["inference_worker"], env, log_dir)
    processes["training-worker"] = start_service("training-worker", ["training_worker", "worker"], env, log_dir)
    processes["alerting"] = start_service("alerting", ["alerting"], env, log_dir)
    port = free_port()
    processes["gateway"] = start_service(
        "gateway", ["gateway"], {**env, "HOST": "127.0.0.1", "PORT": str(port)}, log_dir
    )
    url = f"http://127.0.0.1:{port}"
    wait_until(lambda: http_ok(url + "/health"), 60, "gateway", processes["gateway"])
    wait_until(lambda: httpx.get(url + "/ready", timeout=5).status_code == 200, 180, "gateway /ready", None, 0.5)
    return Stack(url, processes)


def rss_mb(process: ManagedProcess) -> float:
    """Resident memory of a process and its children (a Celery worker's pool, MLflow's uvicorn)."""
    try:
        root = psutil.Process(process.pid)
        members = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0
    for member in members:
        try:
            total += member.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return total / 1024 / 1024


def predict_step(url: str, route: str, recorder: Recorder, batch_size: int) -> Step:
    rng = random.Random(route)

    def send(client: httpx.Client) -> float:
        texts = [rng.choice(TWEETS) for _ in range(batch_size)]
        body = {"texts": texts} if route == "/predict/batch" else {"text": texts[0]}
        started = time.perf_counter()
        try:
            response = client.post(url + route, json=body)
        except httpx.HTTPError as exc:
            recorder.error(route, repr(exc))
            return 0.0
        if response.status_code == 200:
            recorder.ok(route, time.perf_counter() - started)
        else:
            recorder.error(route, f"HTTP {response.status_code} {response.text[:120]}")
        return 0.0

    return send


def feedback_step(url: str, recorder: Recorder) -> Step:
    """An analyst's flag on a fresh prediction, twice a second."""
    rng = random.Random("feedback")
    headers = {"X-API-Key": ANALYST_KEY}

    def send(client: httpx.Client) -> float:
        try:
            prediction = client.post(url + "/predict", json={"text": rng.choice(TWEETS)}).json()
            started = time.perf_counter()
            label = rng.choice(["positive", "negative"])
            response = client.post(
                url + "/feedback",
                json={"prediction_id": prediction["prediction_id"], "correct_label": label},
                headers=headers,
            )
        except (httpx.HTTPError, KeyError, ValueError) as exc:
            recorder.error("/feedback", repr(exc))
            return 0.5
        if response.status_code in (200, 201):
            recorder.ok("/feedback", time.perf_counter() - started)
        else:
            recorder.error("/feedback", f"HTTP {response.status_code} {response.text[:120]}")
        return 0.5

    return send


def job_state(url: str, job_id: str) -> str:
    answer = httpx.get(f"{url}/admin/training-jobs/{job_id}", headers={"X-API-Key": ADMIN_KEY}, timeout=10)
    return answer.json()["state"]


def p99_ms(samples: list[float]) -> float:
    if not samples:
        return float("nan")
    if len(samples) < 2:
        return samples[0] * 1000
    return statistics.quantiles(samples, n=100, method="inclusive")[98] * 1000


def run(duration_s: float, warmup_s: float, singles: int, batch_size: int, out: Path | None) -> int:
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        print(f"[soak] starting the stack in {tmp}", flush=True)
        stack = start_stack(Path(tmp))
        status = 1
        try:
            status = _soak(stack, duration_s, warmup_s, singles, batch_size, out)
            return status
        finally:
            for process in reversed(list(stack.processes.values())):
                process.stop()
            if status != 0 and out is not None:
                # The stack's folder goes with the run: a failed soak keeps every process's log for its diagnosis.
                kept = out.parent / "soak-logs"
                shutil.rmtree(kept, ignore_errors=True)
                shutil.copytree(Path(tmp) / "logs", kept)
                print(f"[soak] logs of the failed run kept in {kept}", flush=True)


def _soak(stack: Stack, duration_s: float, warmup_s: float, singles: int, batch_size: int, out: Path | None) -> int:
    warm_recorder = Recorder()
    clients = _start_clients(stack.url, warm_recorder, singles, batch_size)
    job = httpx.post(
        stack.url + "/admin/training-jobs",
        json={"family": "lstm", "params": TINY_LSTM},
        headers={"X-API-Key": ADMIN_KEY},
        timeout=30,
    )
    job.raise_for_status()
    job_id = job.json()["job_id"]
    print(f"[soak] warm-up: traffic + training job {job_id}", flush=True)
    warm_started = time.monotonic()
    while time.monotonic() - warm_started < 900:
        state = job_state(stack.url, job_id)
        if state in ("succeeded", "failed") and time.monotonic() - warm_started >= warmup_s:
            break
        time.sleep(1)
    clients.stop()
    job_final = job_state(stack.url, job_id)
    warm_errors = sum(warm_recorder.errors.values())
    memory_warm = {name: rss_mb(process) for name, process in stack.processes.items()}
    print(f"[soak] warm-up done in {time.monotonic() - warm_started:.0f} s; measuring {duration_s:.0f} s", flush=True)

    recorder = Recorder()
    clients = _start_clients(stack.url, recorder, singles, batch_size)
    time.sleep(duration_s)
    clients.stop()
    memory_end = {name: rss_mb(process) for name, process in stack.processes.items()}
    return report(recorder, warm_errors, memory_warm, memory_end, job_final, duration_s, out)


def _start_clients(url: str, recorder: Recorder, singles: int, batch_size: int) -> ClientThreads:
    steps = [predict_step(url, "/predict", recorder, 1) for _ in range(singles)]
    steps += [predict_step(url, "/predict/batch", recorder, batch_size), feedback_step(url, recorder)]
    return ClientThreads(steps, timeout_s=30).start()


def report(
    recorder: Recorder,
    warm_errors: int,
    memory_warm: dict[str, float],
    memory_end: dict[str, float],
    job_state_final: str,
    duration_s: float,
    out: Path | None,
) -> int:
    bucket_s = 60 if duration_s >= 180 else 15  # short CI runs: quarter-minute buckets, so "flat" means something
    p99_by_bucket: dict[str, dict[int, float]] = {}
    for route, samples in sorted(recorder.latencies.items()):
        buckets: dict[int, list[float]] = defaultdict(list)
        for at, seconds in samples:
            if at < duration_s:  # calls still in flight when the clock ran out would form a stub bucket
                buckets[int(at // bucket_s)].append(seconds)
        p99_by_bucket[route] = {index: round(p99_ms(values), 1) for index, values in sorted(buckets.items())}
    errors = sum(recorder.errors.values())
    growth = {
        name: round(100 * (memory_end[name] - memory_warm[name]) / memory_warm[name], 1) if memory_warm[name] else 0.0
        for name in memory_warm
    }
    # Redis grows by design: every prediction is kept (prediction_ttl_s, 7 days) so that feedback can refer to it.
    # That is data, not a leak, so the growth target applies to the processes that hold no data.
    leak_checked = {name: value for name, value in growth.items() if name != "redis"}
    flat = all(buckets[max(buckets)] <= 2 * buckets[min(buckets)] + 5 for buckets in p99_by_bucket.values() if buckets)
    summary = {
        "duration_s": duration_s,
        "requests": recorder.requests,
        "errors": errors,
        "errors_during_warmup": warm_errors,
        "error_samples": recorder.error_samples,
        "training_job": job_state_final,
        "memory_mb_warm": {k: round(v, 1) for k, v in memory_warm.items()},
        "memory_mb_end": {k: round(v, 1) for k, v in memory_end.items()},
        "memory_growth_pct": growth,
        "p99_ms_bucket_s": bucket_s,
        "p99_ms": p99_by_bucket,
        "p50_ms": {
            route: round(statistics.median(s for _, s in samples) * 1000, 1)
            for route, samples in sorted(recorder.latencies.items())
        },
        "targets_met": errors == 0 and warm_errors == 0 and max(leak_checked.values()) < 10 and flat,
    }
    print(
        f"\nsoak: {duration_s:.0f} s measured, {recorder.requests} requests, {errors} errors "
        f"({warm_errors} during warm-up), training job {job_state_final}"
    )
    print(f"{'process':<18}{'warm MB':>10}{'end MB':>10}{'growth':>9}")
    for name in memory_warm:
        print(f"{name:<18}{memory_warm[name]:>10.1f}{memory_end[name]:>10.1f}{growth[name]:>8.1f}%")
    print("redis grows with the prediction records it keeps for feedback: data, not a leak (not in the target)")
    print("p50 latency (ms):", summary["p50_ms"])
    print(f"p99 latency (ms) per {bucket_s} s:")
    for route, buckets in p99_by_bucket.items():
        print(f"  {route:<16}" + " ".join(f"{value:>7.1f}" for value in buckets.values()))
    for sample in recorder.error_samples:
        print("  error:", sample)
    print("targets met:", "yes" if summary["targets_met"] else "no", flush=True)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(summary, indent=2))
    return 1 if errors or warm_errors else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=600.0, help="seconds of measured traffic")
    parser.add_argument("--warmup", type=float, default=20.0, help="minimum warm-up seconds")
    parser.add_argument("--singles", type=int, default=4, help="concurrent /predict clients")
    parser.add_argument("--batch-size", type=int, default=32, help="tweets per /predict/batch call")
    parser.add_argument("--out", type=Path, default=None, help="write the figures as JSON here")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    return run(args.duration, args.warmup, args.singles, args.batch_size, args.out)


if __name__ == "__main__":
    sys.exit(main())
