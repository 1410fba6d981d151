"""Serving benchmark: the stack as users run it, its lean form, scale-out, fair peers, Redis cost, in one run.

    .venv/bin/python benchmarks/serving.py                 # trains the bootstrap champion first (~3 min here)
    .venv/bin/python benchmarks/serving.py --quick         # a small bootstrap model, 1 round of 2 s cells: a smoke run
    .venv/bin/python benchmarks/serving.py --state-dir /tmp/bench   # keeps (and next time reuses) the registry

Everything runs on loopback: a private MLflow holding the bootstrap champion (the distilled GloVe BiLSTM of
training_worker/bootstrap.py; `--quick` trains it on 800 tweets), then every system under test is started once and
left idle while the others are measured (benchmarks/common/systems.py):

* the default stack, `python -m local_stack` as `./scripts/run.sh` execs it: INFO logs, every service up and idle,
  its own Redis with AOF, the rate limit raised out of reach;
* the lean system: gateway + inference workers only, warnings-only, rate limit off; 1 and 2 workers, and 1 and 2
  gateway processes where the gateway offers GATEWAY_PROCESSES; with a log writer beside it when there is one;
* peers: `mlflow models serve` with 1 and 2 workers, and a hand-written FastAPI app with the same ONNX model in
  process (benchmarks/inprocess_app.py).

Cells (a system at a number of clients, a closed loop of a few seconds) run in turns, round after round, and each
ratio is the median of the ratios of the same round, so this machine's drift in speed cancels out. Then: the
1-client run cut into segments paired with the in-process floor measured beside each; Redis bytes per answered
tweet on the default stack; Redis's ceiling for the call stream (benchmarks/redis_ceiling.py). The Markdown goes
to stdout and to --output.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common.load import ClosedLoop, LoadRun, have_wrk  # noqa: E402
from benchmarks.common.report import (  # noqa: E402
    BenchmarkResult,
    Cell,
    CellRun,
    FloorPair,
    Names,
    OneClientRun,
    RedisMemory,
    render,
)
from benchmarks.common.systems import (  # noqa: E402
    Context,
    FloorProbe,
    System,
    default_stack,
    inprocess_fastapi,
    lean_system,
    log_writer_available,
    mlflow_serve,
    redis_info,
    sample_tweets,
    start_all,
    start_pool,
    wait_until_quiet,
    worker_model_calls,
)
from benchmarks.redis_ceiling import measure_on_private_redis  # noqa: E402
from local_stack.__main__ import model_signing_key  # noqa: E402
from local_stack.processes import PYTHON, ManagedProcess, start_mlflow, start_redis  # noqa: E402
from shared.process_counts import default_gateway_processes, default_inference_workers  # noqa: E402

MODEL_NAME = "air-paradis-lstm"
# --quick: the bootstrap's recipe (GloVe BiLSTM student of a TF-IDF teacher) on 800 tweets, in about a minute.
QUICK_BOOTSTRAP = {"max_rows": 800, "epochs": 3, "lstm_units": 8, "learning_rate": 0.005}
PAIRED_SEGMENT_S = 2
FLOOR_CALLS_PER_SEGMENT = 200


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def base_env(redis_url: str, mlflow_url: str, signing_key: str) -> dict[str, str]:
    return {
        "ENVIRONMENT": "local",
        "REDIS_URL": redis_url,
        "MLFLOW_TRACKING_URI": mlflow_url,
        "MODEL_SIGNING_KEY": signing_key,
        # Speed is measured here, not quality: a target every bootstrap model reaches, so one is always promoted.
        "TARGET_PRECISION": "0.3",
        "HF_HUB_OFFLINE": "1",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "PYTHONUNBUFFERED": "1",
    }


def ensure_champion(env: dict[str, str], quick: bool, state: Path) -> tuple[str, str]:
    """The champion's version in this benchmark's registry, bootstrapped first when there is none, and which
    bootstrap trained it (kept in the state folder: a reused registry may hold a quick one)."""
    from mlflow import MlflowClient

    client = MlflowClient(env["MLFLOW_TRACKING_URI"])
    trained_by = state / "bootstrap.txt"
    with contextlib.suppress(Exception):
        version = str(client.get_model_version_by_alias(MODEL_NAME, "champion").version)
        return version, trained_by.read_text(encoding="utf-8").strip() if trained_by.exists() else "unknown"
    command = [PYTHON, "-m", "training_worker", "bootstrap"]
    if quick:
        command += ["--params", json.dumps(QUICK_BOOTSTRAP)]
    log(f"bootstrapping the champion{' (quick: 800 tweets)' if quick else ''} ...")
    started = time.perf_counter()
    completed = subprocess.run(command, env={**os.environ, **env}, capture_output=True, text=True, timeout=3600)
    if completed.returncode != 0:
        raise SystemExit(f"bootstrap failed:\n{completed.stdout[-3000:]}\n{completed.stderr[-3000:]}")
    version = str(client.get_model_version_by_alias(MODEL_NAME, "champion").version)
    log(f"champion v{version} bootstrapped in {time.perf_counter() - started:.0f} s")
    note = "the bootstrap champion" + (", quick: trained on 800 tweets" if quick else "")
    trained_by.write_text(note + "\n", encoding="utf-8")
    return version, note


def measure_cell(system: System, loop: ClosedLoop, clients: int, seconds: float, round_: int) -> CellRun:
    before = system.cpu_seconds()
    load = loop.run(clients, seconds)
    after = system.cpu_seconds()
    spent = {role: after[role] - before.get(role, 0.0) for role in after}
    log(
        f"round {round_} {system.name:<40} {clients:>3} clients: {load.throughput:7.0f} req/s "
        f"p99 {load.p99_ms:.1f} ms, {load.errors} errors"
    )
    return CellRun(Cell(system.name, clients), round_, load, spent)


def one_client(system: System, loop: ClosedLoop, probe: FloorProbe, segments: int, segment_s: float) -> OneClientRun:
    """The 1-client run cut into segments, with the floor measured before the first and after each: every segment
    is compared with the floor of the same few seconds."""
    runs: list[LoadRun] = []
    floors = [probe.measure(1, FLOOR_CALLS_PER_SEGMENT).p50_ms]
    in_worker: list[float] = []
    for _ in range(segments):
        calls_before = worker_model_calls(system.redis_url) if system.redis_url else None
        runs.append(loop.run(1, segment_s))
        if calls_before is not None and system.redis_url:
            spent, calls = (a - b for a, b in zip(worker_model_calls(system.redis_url), calls_before, strict=True))
            in_worker.append(spent / calls * 1000 if calls else float("nan"))
        floors.append(probe.measure(1, FLOOR_CALLS_PER_SEGMENT).p50_ms)
    pairs = [FloorPair(floors[i], run.p50_ms, floors[i + 1]) for i, run in enumerate(runs)]
    result = OneClientRun(system.name, LoadRun.combined(runs), pairs, in_worker)
    log(f"{system.name:<40}   1 client: p50 {result.load.p50_ms:.2f} ms, {result.over_floor_ms:+.2f} ms over the floor")
    return result


def record_ttl_s() -> int:
    from inference_worker.settings import InferenceSettings

    return InferenceSettings().prediction_ttl_s


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--state-dir", type=Path, help="keep the registry here and reuse its champion")
    parser.add_argument("--model-uri", help="benchmark this registered model (models:/name/version) instead")
    parser.add_argument("--seconds", type=float, default=4.0, help="length of each cell's load run")
    parser.add_argument("--rounds", type=int, default=3, help="turns over every cell")
    parser.add_argument("--clients", default="64,256", help="closed-loop clients of the scale-out cells")
    parser.add_argument("--quick", action="store_true", help="small bootstrap model, 1 round of 2 s cells")
    parser.add_argument("--skip-mlflow", action="store_true", help="leave out `mlflow models serve`")
    parser.add_argument("--output", type=Path, default=ROOT / "test-output" / "serving.md")
    args = parser.parse_args(argv)
    if args.quick:
        args.seconds, args.rounds = min(args.seconds, 2.0), 1
    clients = [int(c) for c in args.clients.split(",")]
    segment_s = 1.0 if args.quick else PAIRED_SEGMENT_S

    state = args.state_dir or Path(tempfile.mkdtemp(prefix="serving-bench-"))
    state.mkdir(parents=True, exist_ok=True)
    infrastructure: list[ManagedProcess] = []
    systems: dict[str, object] = {}
    probe: FloorProbe | None = None
    try:
        redis_process, redis_url = start_redis(state / "redis")
        mlflow_process, mlflow_url = start_mlflow(state / "mlflow")
        infrastructure += [redis_process, mlflow_process]
        # Kept in the state folder: a reused registry's champion was signed with it.
        env = base_env(redis_url, mlflow_url, model_signing_key(state))
        if args.model_uri:
            model_uri, model_note = args.model_uri, "given with --model-uri"
        else:
            version, model_note = ensure_champion(env, args.quick, state)
            model_uri = f"models:/{MODEL_NAME}/{version}"
        ctx = Context(env, model_uri, state)
        log(f"model {model_uri}; logs in {ctx.log_dir}")
        tweets = sample_tweets(500)

        # The lean system runs as many gateway and worker processes as the default stack does on this machine.
        lean_gateways, lean_workers = default_gateway_processes(), default_inference_workers()
        worker_counts = sorted({1, 2, lean_workers})
        pool_starters = {f"pool-{w}w": (lambda w=w: start_pool(ctx, f"{w}w", w)) for w in worker_counts}
        if log_writer_available():
            pool_starters["pool-log"] = lambda: start_pool(ctx, "log", lean_workers, log_writer=True)
        pools = start_all(pool_starters)
        systems.update(pools)

        def grid_name(gateways: int, workers: int) -> str:
            processes = f"{gateways} gateway process{'es' if gateways > 1 else ''}"
            return f"lean, {processes} × {workers} worker{'s' if workers > 1 else ''}"

        def gateway_on(name: str, pool: str, gateways: int) -> Callable[[], System]:
            return lambda: lean_system(ctx, name, pools[pool], tweets, gateways)  # type: ignore[arg-type]

        starters: dict[str, Callable[[], object]] = {}
        for gateways in (1, 2):
            for workers in (1, 2):
                starters[grid_name(gateways, workers)] = gateway_on(
                    grid_name(gateways, workers), f"pool-{workers}w", gateways
                )
        lean_name = grid_name(lean_gateways, lean_workers)
        if lean_name not in starters:
            starters[lean_name] = gateway_on(lean_name, f"pool-{lean_workers}w", lean_gateways)
        log_writer_name = None
        if "pool-log" in pools:
            log_writer_name = f"{lean_name} + log writer"
            starters[log_writer_name] = gateway_on(log_writer_name, "pool-log", lean_gateways)
        starters["default stack"] = lambda: default_stack(ctx, tweets)
        if not args.skip_mlflow:
            for workers in (1, 2):
                starters[f"mlflow-{workers}"] = lambda w=workers: mlflow_serve(ctx, tweets, w)  # type: ignore[misc]
        starters["inprocess"] = lambda: inprocess_fastapi(ctx, tweets)
        log(f"starting {len(starters)} systems side by side ...")
        started = start_all(starters)
        systems.update(started)
        under_test: list[System] = [s for s in started.values() if isinstance(s, System)]
        peers = [s.name for s in under_test if s.name.startswith(("mlflow", "FastAPI"))]
        grid = [grid_name(g, w) for g in (1, 2) for w in (1, 2)]
        names = Names(
            lean=lean_name,
            default="default stack",
            grid=grid,
            peers=peers,
            mlflow_fair=next((p for p in peers if p.endswith("-w 2")), None),
            inprocess=next((p for p in peers if p.startswith("FastAPI")), None),
            log_writer_on=log_writer_name,
        )
        loops = {s.name: ClosedLoop(s.predict_url, s.bodies, state / "load") for s in under_test}
        for system in under_test:
            loops[system.name].warm_up()
        log(f"machine quiet after {wait_until_quiet():.0f} s")

        # Which cells: the comparisons at 64 clients, the scale-out grid at every --clients.
        by_name = {s.name: s for s in under_test}
        cells = [Cell(names.lean, 64), Cell(names.default, 64)]
        if log_writer_name:
            cells.append(Cell(log_writer_name, 64))
        cells += [Cell(name, c) for name in grid for c in clients if Cell(name, c) not in cells]
        cells += [Cell(peer, 64) for peer in peers]

        default_system = by_name["default stack"]
        assert default_system.redis_url is not None
        memory_before = int(redis_info(default_system.redis_url, "memory")["used_memory"])
        results: list[CellRun] = []
        for round_ in range(1, args.rounds + 1):
            # Each round starts one cell later, so that no system always follows the same one.
            for cell in cells[round_ - 1 :] + cells[: round_ - 1]:
                system = by_name[cell.system]
                results.append(measure_cell(system, loops[cell.system], cell.clients, args.seconds, round_))

        probe = FloorProbe(ctx, tweets)
        ones = [one_client(by_name[name], loops[name], probe, 3, segment_s) for name in (names.default, names.lean)]
        last_default_at = time.monotonic()
        floor_one = probe.measure(1, 400)
        # A worker's own capacity: measured once the log writers have caught up and the machine is quiet again.
        wait_until_quiet()
        floor_batch = probe.measure(64, 60)
        floor_path = probe.path
        probe.close()
        default_tweets = sum(r.answered for r in results if r.cell.system == names.default)
        default_tweets += ones[0].load.requests - ones[0].load.errors

        # Reply copies live until their call's deadline: wait them out, so that what is left is what stays.
        from gateway.settings import GatewaySettings

        expiry_s = float(GatewaySettings.model_fields["predict_timeout_s"].default) + 1
        time.sleep(max(0.0, last_default_at + expiry_s - time.monotonic()))
        memory_after = int(redis_info(default_system.redis_url, "memory")["used_memory"])
        memory = RedisMemory("default stack", default_tweets, memory_after - memory_before, record_ttl_s())

        for thing in reversed(list(systems.values())):  # the ceiling wants the cores to itself
            thing.stop()  # type: ignore[attr-defined]
        systems.clear()
        log("Redis ceiling of the call stream ...")
        ceiling = measure_on_private_redis([1, 64], 2.0 if args.quick else 5.0)
    finally:  # however the run ends (stopping twice is harmless)
        if probe is not None:
            probe.close()
        for thing in reversed(list(systems.values())):
            thing.stop()  # type: ignore[attr-defined]
        for process in reversed(infrastructure):
            process.stop()

    result = BenchmarkResult(
        model=f"{model_uri} ({model_note})",
        cores=os.cpu_count() or 0,
        seconds=args.seconds,
        rounds=args.rounds,
        generator="wrk, 1 thread" if have_wrk() else "aiohttp (its own CPU adds to every latency)",
        floor_path=floor_path,
        floor_one=floor_one,
        floor_batch=floor_batch,
        names=names,
        cells=results,
        one_client=ones,
        memory=memory,
        ceiling=ceiling,
    )
    markdown = render(result)
    print("\n" + markdown)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(markdown, encoding="utf-8")
    log(f"written to {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
