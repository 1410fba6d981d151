"""The systems under test, each started once and left idle until measured, and the in-process floor.

* `default_stack`: `python -m local_stack`, what `./scripts/run.sh` execs: its own Redis (AOF), INFO logs, every
  service (inference worker, training worker, alerting, UI, log writer when there is one); the rate limit raised.
* `lean_system`: a gateway and N inference workers on a Redis of their own, warnings-only, rate limit off.
* `mlflow_serve`: `mlflow models serve` of the same registered version (the same ONNX scorer behind pyfunc).
* `inprocess_fastapi`: benchmarks/inprocess_app.py, what a user would write instead of this system.
* `FloorProbe`: the worker's own scorer in a process of its own, called directly.

A system owns the trees of processes it started; `cpu_seconds` reads what each role (redis, gateway, worker, ...)
spent, so a run's CPU per tweet is known for each one.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import shutil
import statistics
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

from benchmarks.common.load import percentile
from local_stack.processes import (
    PYTHON,
    ManagedProcess,
    free_port,
    http_ok,
    start_redis,
    start_service,
    wait_until,
)

ROOT = Path(__file__).resolve().parents[2]
# A limit no benchmark reaches: the default stack keeps its limiter's Redis round trip on every request.
RAISED_RATE_LIMIT = str(10**9)
# Module run by `python -m <module>` -> the role its CPU is counted under.
ROLES = {"gateway": "gateway", "inference_worker": "worker", "log_writer": "log writer", "mlflow": "peer"}


@dataclass
class Context:
    """What every system is started with: the benchmark's registry, its model and its folders."""

    env: dict[str, str]  # base environment: registry, signing key, offline flags
    model_uri: str
    state: Path

    @property
    def log_dir(self) -> Path:
        return self.state / "logs"

    @property
    def model_name_version(self) -> tuple[str, str]:
        name, version = self.model_uri.removeprefix("models:/").rsplit("/", 1)
        return name, version


@dataclass
class System:
    """One system under test: where to send tweets, and the processes whose CPU it spends."""

    name: str
    predict_url: str
    bodies: list[str]
    roots: list[ManagedProcess]
    redis_url: str | None = None
    owned: list[ManagedProcess] = field(default_factory=list)  # stopped with the system; shared ones are not

    def cpu_seconds(self) -> dict[str, float]:
        """CPU seconds (user + system) spent so far by each role of this system's live processes."""
        spent: dict[str, float] = {}
        seen: set[int] = set()
        for root in self.roots:
            with contextlib.suppress(psutil.NoSuchProcess):
                _add_tree(psutil.Process(root.pid), None, spent, seen)
        return spent

    def stop(self) -> None:
        for process in reversed(self.owned):
            process.stop()


def start_all(starters: dict[str, Callable[[], object]]) -> dict[str, object]:
    """Starts systems side by side (each waits for its own readiness); stops every started one if one fails."""
    with ThreadPoolExecutor(max_workers=len(starters)) as pool:
        futures = {name: pool.submit(start) for name, start in starters.items()}
    started, failure = {}, None
    for name, future in futures.items():
        try:
            started[name] = future.result()
        except Exception as exc:
            failure = failure or RuntimeError(f"{name} did not start: {exc}")
    if failure is not None:
        for thing in started.values():
            thing.stop()  # type: ignore[attr-defined]
        raise failure
    return started


def wait_until_quiet(threshold_percent: float = 20.0, timeout_s: float = 180.0) -> float:
    """Waits until the machine's CPU use over one second is under `threshold_percent`, or `timeout_s`; returns the
    seconds waited. Services answer before they are idle: a training worker imports and compiles for a while."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s and psutil.cpu_percent(interval=1.0) >= threshold_percent:
        pass
    return time.monotonic() - started


def _add_tree(process: psutil.Process, inherited: str | None, spent: dict[str, float], seen: set[int]) -> None:
    if process.pid in seen:
        return
    seen.add(process.pid)
    try:
        role = _role(process.cmdline()) or inherited or "other"
        times = process.cpu_times()
        spent[role] = spent.get(role, 0.0) + times.user + times.system
        children = process.children()
    except psutil.NoSuchProcess:
        return
    for child in children:
        _add_tree(child, role, spent, seen)


def _role(cmdline: list[str]) -> str | None:
    if cmdline and "redis-server" in Path(cmdline[0]).name:
        return "redis"
    if "-m" in cmdline[:-1]:
        module = cmdline[cmdline.index("-m") + 1]
        return ROLES.get(module, "idle services" if module != "local_stack" else None)
    return None


def redis_info(url: str, section: str) -> dict[str, Any]:
    import redis

    client = redis.Redis.from_url(url)
    try:
        return client.info(section)
    finally:
        client.close()


def slug(name: str) -> str:
    """A system's name as a file name."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def _json_bodies(texts: list[str], shape: str) -> list[str]:
    if shape == "mlflow":
        return [json.dumps({"dataframe_records": [{"text": t}]}) for t in texts]
    return [json.dumps({"text": t}) for t in texts]


# --- this system ----------------------------------------------------------------------------------


def log_writer_available() -> bool:
    return importlib.util.find_spec("log_writer.__main__") is not None


def ready_workers(url: str) -> int:
    body = httpx.get(url + "/ready", timeout=5).json()
    return int(body["workers"]) if body.get("model_loaded") else 0


@dataclass
class WorkerPool:
    """A Redis of its own and the inference workers reading its call stream: gateways attach to it."""

    redis: ManagedProcess
    redis_url: str
    workers: list[ManagedProcess]
    extra: list[ManagedProcess] = field(default_factory=list)  # a log writer

    @property
    def processes(self) -> list[ManagedProcess]:
        return [self.redis, *self.workers, *self.extra]

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()


def lean_env(ctx: Context, redis_url: str) -> dict[str, str]:
    return {**ctx.env, "REDIS_URL": redis_url, "LOG_LEVEL": "WARNING"}


# A pool's Redis holds every record a run's cells answer (kept PREDICTION_TTL_HOURS): the default memory budget is
# the default stack's to show, and a fast machine's run answers more than it holds.
POOL_REDIS_MAXMEMORY = "2gb"


def start_pool(ctx: Context, name: str, workers: int, log_writer: bool = False) -> WorkerPool:
    """Workers on a Redis of their own; the prediction log is on only with its `log_writer` (a stream no writer
    reads would grow to its cap, which neither the lean system nor the default stack does)."""
    redis_process, redis_url = start_redis(
        ctx.state / f"redis-{name}", log_dir=ctx.log_dir, maxmemory=POOL_REDIS_MAXMEMORY
    )
    env = lean_env(ctx, redis_url)
    if not log_writer:
        env["PREDICTION_LOG_STREAM_MAXLEN"] = "0"
    started = []
    for number in range(1, workers + 1):
        worker_env = {**env, "METRICS_PORT": str(free_port())}  # read by worker_model_calls()
        started.append(start_service(f"{name}-worker-{number}", ["inference_worker"], worker_env, ctx.log_dir))
    extra = []
    if log_writer:
        folder = (ctx.state / f"{name}-prediction-log").resolve()
        shutil.rmtree(folder, ignore_errors=True)  # fresh each run, as the default stack's: a log's cost grows with it
        database = f"sqlite:///{folder / 'predictions.db'}"
        writer_env = {**env, "PREDICTION_LOG_URL": database}
        extra.append(start_service(f"{name}-log-writer", ["log_writer"], writer_env, ctx.log_dir))
    return WorkerPool(redis_process, redis_url, started, extra)


def lean_system(ctx: Context, name: str, pool: WorkerPool, texts: list[str], gateway_processes: int) -> System:
    """A gateway of `gateway_processes` processes on `pool`, warnings-only, rate limit off."""
    port = free_port()
    env = {**lean_env(ctx, pool.redis_url), "HOST": "127.0.0.1", "PORT": str(port)}
    env["PREDICT_RATE_LIMIT_PER_MINUTE"] = "0"
    env["GATEWAY_PROCESSES"] = str(gateway_processes)
    gateway = start_service(f"gateway-{slug(name)}", ["gateway"], env, ctx.log_dir)
    url = f"http://127.0.0.1:{port}"
    bodies = _json_bodies(texts, "api")
    system = System(name, url + "/predict", bodies, [gateway, *pool.processes], pool.redis_url, [gateway])
    try:
        wait_until(lambda: http_ok(url + "/health"), 300, f"gateway of {name}", gateway)
        workers = len(pool.workers)
        wait_until(lambda: ready_workers(url) >= workers, 600, f"{workers} ready workers for {name}", interval_s=0.5)
    except BaseException:
        system.stop()
        raise
    return system


def default_stack(
    ctx: Context,
    texts: list[str],
    name: str = "default stack",
    overrides: dict[str, str] | None = None,
    checkout: Path = ROOT,
) -> System:
    """`python -m local_stack` on a data folder of its own, on the benchmark's registry (whose champion it finds,
    so its bootstrap trains nothing); logging and every other setting at their defaults, but for `overrides`. Its
    code is `checkout`'s (another worktree of this repository, for a before-and-after in one run)."""
    data_dir = ctx.state / slug(name)
    # Fresh each run: a reused folder carries earlier runs' prediction log and Redis records (replayed from the AOF,
    # rewritten in the background as it grows), so the stack measured would get heavier run after run.
    shutil.rmtree(data_dir, ignore_errors=True)
    gateway_port = free_port()
    args = ["--data-dir", str(data_dir), "--gateway-port", str(gateway_port), "--ui-port", str(free_port())]
    env = {
        key: value
        for key, value in ctx.env.items()
        if key in ("MLFLOW_TRACKING_URI", "MODEL_SIGNING_KEY", "TARGET_PRECISION", "HF_HUB_OFFLINE")
    }
    env["PREDICT_RATE_LIMIT_PER_MINUTE"] = env["PREDICT_TWEET_LIMIT_PER_MINUTE"] = RAISED_RATE_LIMIT
    env.update(overrides or {})
    # The stack starts its own Redis, as on a fresh clone, and logs at its default level.
    unset = [flag for key in ("REDIS_URL", "LOG_LEVEL", "ENVIRONMENT") if key not in env for flag in ("-u", key)]
    command = ["env", *unset, PYTHON, "-m", "local_stack", *args]
    log_path = ctx.log_dir / f"{slug(name)}.log"
    log_path.unlink(missing_ok=True)  # appended to otherwise: an earlier run's lines would name another Redis
    stack = ManagedProcess(slug(name), command, log_path, env=env, cwd=str(checkout))
    stack.start()
    url = f"http://127.0.0.1:{gateway_port}"
    system = System(name, url + "/predict", _json_bodies(texts, "api"), [stack], None, [stack])
    try:
        wait_until(lambda: "ready in" in stack.tail(200), 900, "python -m local_stack", stack, interval_s=0.5)
        found = re.search(r"redis\s+(redis://\S+)", stack.tail(200))
        if found is None:
            raise RuntimeError(f"local_stack did not say where its Redis is:\n{stack.tail()}")
        system.redis_url = found.group(1)
    except BaseException:
        system.stop()
        raise
    return system


def worker_model_calls(redis_url: str) -> tuple[float, float]:
    """Seconds spent in model calls and their count, summed over the live workers' own /metrics (each worker's
    heartbeat names its metrics port)."""
    import redis

    from shared import redis_keys

    client = redis.Redis.from_url(redis_url)
    try:
        worker_ids = client.zrangebyscore(redis_keys.INFERENCE_WORKERS_INDEX, time.time() - 10, "+inf")
        states = (
            client.mget([redis_keys.inference_worker_heartbeat(w.decode()) for w in worker_ids]) if worker_ids else []
        )
    finally:
        client.close()
    spent = calls = 0.0
    for raw in states:
        port = json.loads(raw).get("metrics_port") if raw else None
        if not port:
            continue
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        spent += float(re.search(r"^inference_model_compute_seconds_sum (\S+)", text, re.M).group(1))
        calls += float(re.search(r"^inference_model_compute_seconds_count (\S+)", text, re.M).group(1))
    return spent, calls


# --- peers ----------------------------------------------------------------------------------------


def mlflow_serve(ctx: Context, texts: list[str], workers: int) -> System:
    port = free_port()
    args = ["-m", ctx.model_uri, "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port), "-w", str(workers)]
    process = ManagedProcess(
        f"mlflow-serve-w{workers}",
        [PYTHON, "-m", "mlflow", "models", "serve", *args],
        ctx.log_dir / f"mlflow-serve-w{workers}.log",
        # It execs `uvicorn` by name: the venv's bin must be on PATH.
        env={**ctx.env, "PATH": f"{Path(PYTHON).parent}{os.pathsep}{os.environ.get('PATH', '')}"},
    ).start()
    url = f"http://127.0.0.1:{port}"
    name = "mlflow models serve" + (f" -w {workers}" if workers > 1 else "")
    system = System(name, url + "/invocations", _json_bodies(texts, "mlflow"), [process], None, [process])
    try:
        wait_until(lambda: http_ok(url + "/ping"), 600, name, process, interval_s=0.5)
    except BaseException:
        system.stop()
        raise
    return system


def inprocess_fastapi(ctx: Context, texts: list[str]) -> System:
    port = free_port()
    process = ManagedProcess(
        "inprocess-fastapi",
        [PYTHON, str(ROOT / "benchmarks" / "inprocess_app.py"), "--port", str(port), "--model-uri", ctx.model_uri],
        ctx.log_dir / "inprocess-fastapi.log",
        env={**ctx.env, "PYTHONPATH": str(ROOT)},
    ).start()
    url = f"http://127.0.0.1:{port}"
    bodies = _json_bodies(texts, "api")
    system = System("FastAPI + ONNX in process", url + "/predict", bodies, [process], None, [process])
    try:
        wait_until(lambda: http_ok(url + "/health"), 600, "in-process FastAPI app", process, interval_s=0.5)
    except BaseException:
        system.stop()
        raise
    return system


# --- the floor ------------------------------------------------------------------------------------

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


@dataclass(frozen=True)
class FloorTiming:
    batch: int
    calls: int
    p50_ms: float
    p99_ms: float

    @property
    def tweets_per_s(self) -> float:
        return self.batch * 1000 / self.p50_ms


class FloorProbe:
    """The worker's scorer alone, in its own process (out of the load generator's way), kept alive so that the
    floor can be measured again right beside each 1-client segment: this machine's CPU speed drifts by up to 2×
    over seconds, so a floor measured minutes earlier says little about the floor during the run beside it."""

    def __init__(self, ctx: Context, texts: list[str]) -> None:
        self._process = subprocess.Popen(
            [PYTHON, "-c", PROBE_CODE, ctx.env["MLFLOW_TRACKING_URI"], ctx.model_uri],
            env={**os.environ, **ctx.env},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.path = str(self._request(json.dumps(texts))["path"])

    def _request(self, line: str) -> Any:  # the info dict, or one timing per call
        assert self._process.stdin is not None and self._process.stdout is not None
        self._process.stdin.write(line + "\n")
        self._process.stdin.flush()
        answer = self._process.stdout.readline()
        if not answer:
            raise SystemExit(f"the floor probe exited with {self._process.wait()}")
        return json.loads(answer)

    def measure(self, batch: int, calls: int) -> FloorTiming:
        ms = self._request(f"{batch} {calls}")
        return FloorTiming(batch, calls, statistics.median(ms), percentile(ms, 0.99))

    def close(self) -> None:
        if self._process.poll() is not None:
            return
        if self._process.stdin is not None:
            self._process.stdin.close()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()


def sample_tweets(count: int) -> list[str]:
    """Real tweets of the bundled corpus (none that would break the wrk script's long-string quoting)."""
    from training_worker.datasets import load_dataset

    dataset = load_dataset("bundled-airline")
    return [t for t in dataset.texts if "]==]" not in t][:count]
