"""Serving benchmark: this system's /predict (1 and 2 workers) vs `mlflow models serve` vs the in-process floor.

One command, one run, one table of ratios (issue 4):

    .venv/bin/python benchmarks/serving.py                 # trains a default-ish LSTM on the bundled data first
    .venv/bin/python benchmarks/serving.py --quick         # shorter runs, smaller model: a smoke check
    .venv/bin/python benchmarks/serving.py --state-dir /tmp/bench   # keeps (and next time reuses) Redis/MLflow state

Everything runs on loopback on this machine: a private redis-server and MLflow server, the model registered
there, then (a) the worker's ONNX scorer in-process (batch 1 and 64), (b) gateway + 1 then 2 inference workers,
(c) `mlflow models serve --env-manager local` of the same version (the same pyfunc class, so the same
compiled path). Only the system under test runs while it is measured. Closed loop with 1, 16 and 64 clients
(wrk when installed: `apt-get install wrk`; else an aiohttp client, whose own CPU cost on a 2-core box adds to
every latency), and an open loop at a fixed rate (aiohttp, latency counted from each request's scheduled send
time, so a stall is not hidden by the client slowing down).

The 1-client run, the one compared with the floor (target: p50 ≤ floor + 3 ms), is cut into 2 s segments with
the floor measured again before the first and after each, by a probe process that stays loaded (idle while the
system runs): each segment's p50 is compared with the floor of the same few seconds, and the median of those
differences is the figure. A floor taken once, minutes away from the run, varies by as much as the budget.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from local_stack.__main__ import model_signing_key  # noqa: E402
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

MODEL_NAME = "air-paradis-lstm"
# Default-ish: the LSTM family's defaults (Word2Vec 100d, 64 units, max_len 40), fewer epochs to keep it short.
TRAIN_PARAMS = {"dataset": "bundled-airline", "epochs": 2}
QUICK_TRAIN_PARAMS = {**TRAIN_PARAMS, "max_rows": 2000, "epochs": 1, "word2vec_epochs": 2}


@dataclass
class LoadResult:
    system: str
    scenario: str
    requests: int
    errors: int
    throughput: float
    p50_ms: float
    p99_ms: float
    # 1 client only: (floor p50 just before, system p50, floor p50 just after) for each segment of the run
    pairs: list[tuple[float, float, float]] = field(default_factory=list)
    # 1 client only, per segment: the workers' own mean model call (their inference_model_compute_seconds)
    in_worker_ms: list[float] = field(default_factory=list)

    @property
    def segments_over_floor_ms(self) -> list[float]:
        """Each segment's p50 minus the mean of the floors measured just before and just after it."""
        return [p50 - (before + after) / 2 for before, p50, after in self.pairs]

    @property
    def over_floor_ms(self) -> float | None:
        """Median over the segments of the system's p50 minus the floor measured around that segment."""
        return statistics.median(self.segments_over_floor_ms) if self.pairs else None


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def base_env(redis_url: str, mlflow_url: str, signing_key: str) -> dict[str, str]:
    return {
        "ENVIRONMENT": "local",
        "REDIS_URL": redis_url,
        "MLFLOW_TRACKING_URI": mlflow_url,
        "MODEL_SIGNING_KEY": signing_key,
        # The benchmark measures speed: its short-trained LSTM is registered as champion at a target it can reach.
        "TARGET_PRECISION": "0.3",
        "HF_HUB_OFFLINE": "1",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "PYTHONUNBUFFERED": "1",
        # Warnings only, for every system measured: access-log lines are not what is being compared.
        "LOG_LEVEL": "WARNING",
    }


def sample_tweets(count: int) -> list[str]:
    from training_worker.datasets import load_dataset

    dataset = load_dataset("bundled-airline")
    texts = [t for t in dataset.texts if "]==]" not in t][:count]
    return texts


# --- setup ---------------------------------------------------------------------------------------


def ensure_champion(env: dict[str, str], quick: bool) -> str:
    """The champion's version in this benchmark's registry, training one first when there is none."""
    from mlflow import MlflowClient

    client = MlflowClient(env["MLFLOW_TRACKING_URI"])
    with contextlib.suppress(Exception):
        return str(client.get_model_version_by_alias(MODEL_NAME, "champion").version)
    params = QUICK_TRAIN_PARAMS if quick else TRAIN_PARAMS
    log(f"training the benchmark LSTM {json.dumps(params)} ...")
    started = time.perf_counter()
    completed = subprocess.run(
        [PYTHON, "-m", "training_worker", "train", "--family", "lstm", "--params", json.dumps(params)],
        env={**os.environ, **env, "LOG_LEVEL": "INFO"},
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if completed.returncode != 0:
        raise SystemExit(f"training failed:\n{completed.stdout[-2000:]}\n{completed.stderr[-4000:]}")
    summary = json.loads(completed.stdout.strip().splitlines()[-1])
    log(f"trained version {summary['model_version']} in {time.perf_counter() - started:.0f} s")
    return str(summary["model_version"])


# The worker's own loader: the signed manifest and the ONNX serving files, no pyfunc.
PROBE_CODE = """
import json, os, sys, tempfile, time
from pathlib import Path
from inference_worker.model_store import download_serving_files
from sentiment_model.lstm import load_verified_lstm
key = os.environ["MODEL_SIGNING_KEY"]
name, version = sys.argv[2].removeprefix("models:/").rsplit("/", 1)
with tempfile.TemporaryDirectory() as tmp:
    download_serving_files(sys.argv[1], name, version, Path(tmp), key)
    model, _manifest = load_verified_lstm(Path(tmp), key)
texts = json.loads(sys.stdin.readline())
offset = 0
def timed(batch, rounds):
    global offset
    out = []
    for _ in range(rounds):
        chunk = [texts[(offset + j) % len(texts)] for j in range(batch)]
        offset += batch
        start = time.perf_counter(); model.predict_proba(chunk); out.append(time.perf_counter() - start)
    return out
timed(1, 50); timed(64, 5)
print(json.dumps({"path": "onnxruntime"}), flush=True)
for line in sys.stdin:
    batch, rounds = map(int, line.split())
    print(json.dumps([x * 1000 for x in timed(batch, rounds)]), flush=True)
"""


class FloorProbe:
    """The worker's scorer alone, in its own process (out of the load generator's way), kept alive so that
    the floor can be measured again right beside each 1-client run: on this VM the CPU's speed drifts by up to 2x
    over seconds (ONNX Runtime's batch-1 call: 0.9 to 1.8 ms within one process), so a floor measured minutes
    earlier says little about the floor during the run it is compared with."""

    def __init__(self, env: dict[str, str], model_uri: str, texts: list[str]) -> None:
        self._process = subprocess.Popen(
            [PYTHON, "-c", PROBE_CODE, env["MLFLOW_TRACKING_URI"], model_uri],
            env={**os.environ, **env},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.info = self._request(json.dumps(texts))

    def _request(self, line: str) -> Any:  # the info dict, or one timing per call
        assert self._process.stdin is not None and self._process.stdout is not None
        self._process.stdin.write(line + "\n")
        self._process.stdin.flush()
        answer = self._process.stdout.readline()
        if not answer:
            raise SystemExit(f"the floor probe exited with {self._process.wait()}")
        return json.loads(answer)

    def measure(self, batch: int, rounds: int) -> dict[str, float]:
        """p50_ms and p99_ms of `rounds` model calls of `batch` tweets."""
        ms = self._request(f"{batch} {rounds}")
        return {"p50_ms": statistics.median(ms), "p99_ms": _percentile(ms, 0.99)}

    def close(self) -> None:
        if self._process.stdin is not None:
            self._process.stdin.close()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()


def floor(probe: FloorProbe) -> dict[str, float | str | dict]:
    one, many = probe.measure(1, 400), probe.measure(64, 60)
    return {
        "path": probe.info["path"],
        "b1_p50_ms": one["p50_ms"],
        "b1_p99_ms": one["p99_ms"],
        "b64_p50_ms": many["p50_ms"],
        "b64_p99_ms": many["p99_ms"],
    }


# --- load generation ------------------------------------------------------------------------------


def _lua_script(path: Path, bodies: list[str]) -> Path:
    entries = ",\n".join(f"[==[{body}]==]" for body in bodies)
    path.write_text(
        "local bodies = {\n" + entries + "\n}\n"
        "local counter = 0\n"
        "request = function()\n"
        "  counter = counter + 1\n"
        "  return wrk.format('POST', nil, {['Content-Type'] = 'application/json'}, bodies[(counter % #bodies) + 1])\n"
        "end\n",
        encoding="utf-8",
    )
    return path


_WRK_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _wrk_ms(text: str) -> float:
    match = re.match(r"([\d.]+)(us|ms|s|m)", text)
    if not match:
        raise ValueError(f"unreadable wrk latency {text!r}")
    return float(match.group(1)) * _WRK_UNITS[match.group(2)]


def closed_loop_wrk(url: str, lua: Path, clients: int, seconds: float) -> tuple[int, int, float, float, float]:
    out = subprocess.run(
        ["wrk", "-t1", f"-c{clients}", f"-d{seconds:.0f}s", "--timeout", "10s", "--latency", "-s", str(lua), url],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=True,
    ).stdout
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = (int(non_2xx.group(1)) if non_2xx else 0) + (
        sum(int(g) for g in socket_errors.groups()) if socket_errors else 0
    )
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = _wrk_ms(re.search(r"\s50%\s+(\S+)", out).group(1))
    p99 = _wrk_ms(re.search(r"\s99%\s+(\S+)", out).group(1))
    return requests, errors, rps, p50, p99


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _closed_loop_aiohttp(url: str, bodies: list[bytes], clients: int, seconds: float) -> tuple:
    import aiohttp

    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    counter = 0

    async def client(session: aiohttp.ClientSession) -> None:
        nonlocal errors, counter
        while time.perf_counter() < deadline:
            counter += 1
            body = bodies[counter % len(bodies)]
            start = time.perf_counter()
            try:
                async with session.post(url, data=body, headers={"Content-Type": "application/json"}) as response:
                    await response.read()
                    ok = response.status == 200
            except aiohttp.ClientError:
                ok = False
            latencies.append(time.perf_counter() - start)
            errors += not ok

    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=10)) as session:
        started = time.perf_counter()
        await asyncio.gather(*(client(session) for _ in range(clients)))
        elapsed = time.perf_counter() - started
    ms = [x * 1000 for x in latencies]
    return len(ms), errors, len(ms) / elapsed, statistics.median(ms), _percentile(ms, 0.99)


async def _open_loop(url: str, bodies: list[bytes], rate: float, seconds: float) -> tuple:
    import aiohttp

    total = int(rate * seconds)
    latencies: list[float] = []
    errors = 0
    connector = aiohttp.TCPConnector(limit=512)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=10)) as session:
        started = time.perf_counter()

        async def one(i: int) -> None:
            nonlocal errors
            scheduled = started + i / rate
            await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
            try:
                async with session.post(
                    url, data=bodies[i % len(bodies)], headers={"Content-Type": "application/json"}
                ) as response:
                    await response.read()
                    ok = response.status == 200
            except (aiohttp.ClientError, TimeoutError):
                ok = False
            latencies.append(time.perf_counter() - scheduled)
            errors += not ok

        await asyncio.gather(*(one(i) for i in range(total)))
        elapsed = time.perf_counter() - started
    ms = [x * 1000 for x in latencies]
    return len(ms), errors, len(ms) / elapsed, statistics.median(ms), _percentile(ms, 0.99)


def _progress(r: LoadResult) -> None:
    log(f"{r.system:<24} {r.scenario}: {r.throughput:.0f} req/s p50 {r.p50_ms:.2f} ms p99 {r.p99_ms:.2f} ms")


PAIRED_SEGMENT_S = 2
# (clients, seconds) -> requests, errors, req/s, p50 ms, p99 ms
ClosedLoop = Callable[[int, float], tuple[int, int, float, float, float]]
FLOOR_ROUNDS_PER_SEGMENT = 200


def run_load(
    system: str,
    url: str,
    bodies: list[str],
    clients_list: list[int],
    seconds: float,
    rate: float,
    work: Path,
    probe: FloorProbe | None = None,
    model_calls: Callable[[], tuple[float, float]] | None = None,
) -> list[LoadResult]:
    results = []
    encoded = [b.encode() for b in bodies]
    lua = _lua_script(work / f"{system.split()[0]}.lua", bodies) if shutil.which("wrk") else None

    def closed(clients: int, run_s: float) -> tuple[int, int, float, float, float]:
        if lua is not None:
            return closed_loop_wrk(url, lua, clients, run_s)
        return asyncio.run(_closed_loop_aiohttp(url, encoded, clients, run_s))

    # Warm-up: first requests pay connection setup and lazy initialisation on every system.
    asyncio.run(_closed_loop_aiohttp(url, encoded, 4, 1.5))
    for clients in clients_list:
        if clients == 1 and probe is not None:
            results.append(_paired_one_client(system, closed, probe, seconds, model_calls))
        else:
            results.append(LoadResult(system, f"closed {clients:>2} clients", *closed(clients, seconds)))
        _progress(results[-1])
    measured = asyncio.run(_open_loop(url, encoded, rate, seconds))
    results.append(LoadResult(system, f"open {rate:.0f} req/s", *measured))
    _progress(results[-1])
    return results


def _paired_one_client(
    system: str,
    closed: ClosedLoop,
    probe: FloorProbe,
    seconds: float,
    model_calls: Callable[[], tuple[float, float]] | None,
) -> LoadResult:
    """The 1-client run cut into segments, with the floor measured before the first and after each: every
    segment is compared with the floor of the same few seconds. p50 is the median of the segments' p50s, p99
    the worst segment's p99."""
    segments, floors, in_worker = [], [probe.measure(1, FLOOR_ROUNDS_PER_SEGMENT)["p50_ms"]], []
    for _ in range(max(3, round(seconds / PAIRED_SEGMENT_S))):
        before = model_calls() if model_calls is not None else None
        segments.append(closed(1, PAIRED_SEGMENT_S))
        if before is not None:
            seconds_spent, calls = (after - first for after, first in zip(model_calls(), before, strict=True))
            in_worker.append(seconds_spent / calls * 1000 if calls else float("nan"))
        floors.append(probe.measure(1, FLOOR_ROUNDS_PER_SEGMENT)["p50_ms"])
    requests = sum(seg[0] for seg in segments)
    return LoadResult(
        system,
        "closed  1 clients",
        requests,
        sum(seg[1] for seg in segments),
        statistics.mean(seg[2] for seg in segments),
        statistics.median(seg[3] for seg in segments),
        max(seg[4] for seg in segments),
        pairs=[(floors[i], seg[3], floors[i + 1]) for i, seg in enumerate(segments)],
        in_worker_ms=in_worker,
    )


# --- the systems ----------------------------------------------------------------------------------


def ready_workers(url: str) -> int:
    body = httpx.get(url + "/ready", timeout=5).json()
    return int(body["workers"]) if body.get("model_loaded") else 0


@contextlib.contextmanager
def this_system(
    env: dict[str, str], log_dir: Path, workers: int, prior: list[ManagedProcess]
) -> Iterator[tuple[str, list[ManagedProcess]]]:
    """The gateway and `workers` inference worker processes (reusing the ones already started in `prior`)."""
    procs = list(prior)
    gateway_port = free_port()
    gateway = start_service(
        f"gateway-{workers}w",
        ["gateway"],
        {**env, "HOST": "127.0.0.1", "PORT": str(gateway_port), "PREDICT_RATE_LIMIT_PER_MINUTE": "0"},
        log_dir,
    )
    url = f"http://127.0.0.1:{gateway_port}"
    while len([p for p in procs if p.alive()]) < workers:
        worker_env = {**env, "METRICS_PORT": str(free_port())}  # read by worker_model_calls()
        procs.append(start_service(f"inference-worker-{len(procs) + 1}", ["inference_worker"], worker_env, log_dir))
    try:
        wait_until(lambda: http_ok(url + "/health"), 60, "gateway", gateway)
        wait_until(lambda: ready_workers(url) >= workers, 180, f"{workers} ready inference workers", interval_s=0.5)
        yield url, procs
    finally:
        gateway.stop()


def worker_model_calls(redis_url: str) -> tuple[float, float]:
    """Seconds spent in model calls and their count, summed over the live workers' own /metrics."""
    import redis

    from gateway.inference_client import live_workers
    from gateway.settings import GatewaySettings

    client = redis.Redis.from_url(redis_url)
    max_age_s = GatewaySettings.model_fields["worker_heartbeat_max_age_s"].default
    spent = calls = 0.0
    for state in live_workers(client, max_age_s):
        port = state.get("metrics_port")
        if not port:
            continue
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        spent += float(re.search(r"^inference_model_compute_seconds_sum (\S+)", text, re.M).group(1))
        calls += float(re.search(r"^inference_model_compute_seconds_count (\S+)", text, re.M).group(1))
    return spent, calls


def _listen_args(port: int) -> list[str]:
    return ["-h", "127.0.0.1", "-p", str(port)]


@contextlib.contextmanager
def mlflow_serve(env: dict[str, str], model_uri: str, log_dir: Path) -> Iterator[str]:
    port = free_port()
    process = ManagedProcess(
        "mlflow-serve",
        [PYTHON, "-m", "mlflow", "models", "serve", "-m", model_uri, "--env-manager", "local", *_listen_args(port)],
        log_dir / "mlflow-serve.log",
        # It execs `uvicorn` by name: the venv's bin must be on PATH.
        env={**env, "PATH": f"{Path(PYTHON).parent}{os.pathsep}{os.environ.get('PATH', '')}"},
    ).start()
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: http_ok(url + "/ping"), 180, "mlflow models serve", process, interval_s=0.5)
        yield url
    finally:
        process.stop()


# --- report ---------------------------------------------------------------------------------------


def table(results: list[LoadResult], floor_ms: dict[str, float]) -> str:
    lines = [
        "| system | load | requests | errors | req/s | p50 ms | p99 ms |",
        "|---|---|---:|---:|---:|---:|---:|",
        f"| in-process floor ({floor_ms['path']}) | batch 1 | 400 | 0 | {1000 / floor_ms['b1_p50_ms']:.0f} "
        f"| {floor_ms['b1_p50_ms']:.2f} | {floor_ms['b1_p99_ms']:.2f} |",
        f"| in-process floor ({floor_ms['path']}) | batch 64 | 60 | 0 | {64_000 / floor_ms['b64_p50_ms']:.0f} tweets/s "
        f"| {floor_ms['b64_p50_ms']:.2f} | {floor_ms['b64_p99_ms']:.2f} |",
    ]
    for r in results:
        lines.append(
            f"| {r.system} | {r.scenario} | {r.requests} | {r.errors} | {r.throughput:.0f} "
            f"| {r.p50_ms:.2f} | {r.p99_ms:.2f} |"
        )
    return "\n".join(lines)


def ratios(results: list[LoadResult], floor_ms: dict[str, float]) -> str:
    by = {(r.system, r.scenario.split()[0] + r.scenario.split()[1]): r for r in results}
    mlflow = {k[1]: v for k, v in by.items() if k[0].startswith("mlflow")}
    lines = [
        "| this system | load | req/s ÷ mlflow | p50 ÷ mlflow | p99 ÷ mlflow | p50 − floor (ms) |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for (system, load), r in by.items():
        if system.startswith("mlflow") or load not in mlflow:
            continue
        peer = mlflow[load]
        over = r.over_floor_ms if r.over_floor_ms is not None else r.p50_ms - floor_ms["b1_p50_ms"]
        lines.append(
            f"| {system} | {r.scenario} | {r.throughput / peer.throughput:.2f}× | {r.p50_ms / peer.p50_ms:.2f}× "
            f"| {r.p99_ms / peer.p99_ms:.2f}× | {over:+.2f} |"
        )
    return "\n".join(lines)


def pairs_table(results: list[LoadResult]) -> str:
    lines = [
        "| system, 1 client | segment | floor p50 before | system p50 | floor p50 after | system − floor (ms) "
        "| workers' own model call (mean ms) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        segments = zip(r.pairs, r.segments_over_floor_ms, strict=True)
        for index, ((before, p50, after), over) in enumerate(segments, start=1):
            own = f"{r.in_worker_ms[index - 1]:.2f}" if len(r.in_worker_ms) >= index else "n/a"
            lines.append(f"| {r.system} | {index} | {before:.2f} | {p50:.2f} | {after:.2f} | {over:+.2f} | {own} |")
    return "\n".join(lines)


def targets(results: list[LoadResult], floor_ms: dict[str, float]) -> list[str]:
    def find(prefix: str, scenario: str) -> LoadResult | None:
        return next((r for r in results if r.system.startswith(prefix) and r.scenario.strip() == scenario), None)

    lines = []
    for system in ("this system, 1 worker", "this system, 2 workers"):
        one = find(system, "closed  1 clients")
        many = find(system, "closed 64 clients")
        peer = find("mlflow", "closed 64 clients")
        if one is not None and one.over_floor_ms is not None:
            ok = one.over_floor_ms <= 3.0
            lines.append(
                f"{system}: p50 at 1 client {one.p50_ms:.2f} ms, {one.over_floor_ms:+.2f} ms over the floor measured"
                f" beside it (median of {len(one.pairs)} segments; target ≤ +3 ms) -> {'MET' if ok else 'MISSED'}"
            )
        elif one is not None:
            ok = one.p50_ms <= floor_ms["b1_p50_ms"] + 3.0
            lines.append(
                f"{system}: p50 at 1 client {one.p50_ms:.2f} ms vs floor + 3 ms = {floor_ms['b1_p50_ms'] + 3:.2f} ms"
                f" -> {'MET' if ok else 'MISSED'}"
            )
        if many is not None and peer is not None:
            ok = many.throughput >= 5 * peer.throughput and many.p99_ms <= peer.p99_ms
            lines.append(
                f"{system}: 64 clients {many.throughput / peer.throughput:.2f}× mlflow serve's throughput"
                " (target ≥ 5×),"
                f" p99 {many.p99_ms:.1f} vs {peer.p99_ms:.1f} ms -> {'MET' if ok else 'MISSED'}"
            )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--state-dir", type=Path, help="keep Redis/MLflow state here and reuse its champion")
    parser.add_argument("--model-uri", help="benchmark this registered model (models:/name/version) instead")
    parser.add_argument("--seconds", type=float, default=8.0, help="duration of each load run")
    parser.add_argument("--rate", type=float, default=250.0, help="open-loop request rate (req/s)")
    parser.add_argument("--clients", default="1,16,64")
    parser.add_argument("--quick", action="store_true", help="small model, 3 s runs: a smoke check")
    parser.add_argument("--skip-mlflow", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.seconds = min(args.seconds, 3.0)
    clients = [int(c) for c in args.clients.split(",")]

    state = args.state_dir or Path(tempfile.mkdtemp(prefix="serving-bench-"))
    state.mkdir(parents=True, exist_ok=True)
    log_dir = state / "logs"
    started: list[ManagedProcess] = []
    workers: list[ManagedProcess] = []
    probe: FloorProbe | None = None
    try:
        redis_proc, redis_url = start_redis(state / "redis")
        started.append(redis_proc)
        mlflow_proc, mlflow_url = start_mlflow(state / "mlflow")
        started.append(mlflow_proc)
        # Kept in the state folder: a reused registry's champion was signed with it.
        env = base_env(redis_url, mlflow_url, model_signing_key(state))
        model_uri = args.model_uri or f"models:/{MODEL_NAME}/{ensure_champion(env, args.quick)}"
        log(f"model {model_uri}; logs in {log_dir}")
        tweets = sample_tweets(500)
        probe = FloorProbe(env, model_uri, tweets)
        floor_ms = floor(probe)
        log(f"floor: {json.dumps(floor_ms)}")
        system_bodies = [json.dumps({"text": t}) for t in tweets]
        results: list[LoadResult] = []
        for count in (1, 2):
            with this_system(env, log_dir, count, workers) as (url, workers):
                name = f"this system, {count} worker{'s' if count > 1 else ''}"
                results += run_load(
                    name,
                    url + "/predict",
                    system_bodies,
                    clients,
                    args.seconds,
                    args.rate,
                    state,
                    probe,
                    lambda: worker_model_calls(redis_url),
                )
        # Only the system under test runs while it is measured.
        probe.close()
        for worker in workers:
            worker.stop()
        if not args.skip_mlflow:
            mlflow_bodies = [json.dumps({"dataframe_records": [{"text": t}]}) for t in tweets]
            with mlflow_serve(env, model_uri, log_dir) as url:
                results += run_load(
                    "mlflow models serve", url + "/invocations", mlflow_bodies, clients, args.seconds, args.rate, state
                )
    finally:  # however the run ends (closing and stopping twice is harmless)
        if probe is not None:
            probe.close()
        for process in [*workers, *reversed(started)]:
            process.stop()
    cpu = os.cpu_count()
    print(f"\nServing benchmark — {cpu} CPU cores, no GPU; model {model_uri}; {args.seconds:.0f} s per load run;")
    print(f"load generator: {'wrk (closed loop)' if shutil.which('wrk') else 'aiohttp'} + aiohttp (open loop)\n")
    print(table(results, floor_ms))
    print()
    if not args.skip_mlflow:
        print(ratios(results, floor_ms))
        print()
    if any(r.pairs for r in results):
        print(pairs_table(results))
        print()
    for line in targets(results, floor_ms):
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
