"""What each of the default stack's defaults costs: the stack with one default at a time turned to the lean value.

    .venv/bin/python benchmarks/stack_overheads.py --state-dir /tmp/bench-state   # reuses serving.py's champion

Starts, side by side on the serving benchmark's registry: `python -m local_stack` as `./scripts/run.sh` runs it,
the same with LOG_LEVEL=WARNING, the same with the rate limit off, the same with two inference workers, and the lean
system (gateway + inference workers on a Redis of their own, warnings only, rate limit off) at the default stack's
process counts. Then 64 closed-loop clients for a few seconds on each, in turns, round after round; prints the
median req/s, p99 and CPU ms per tweet of each role, and each variant's req/s over the default stack's. `--before`
adds the default stack of another checkout (the code before a change), `--only` picks variants.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common.load import ClosedLoop  # noqa: E402
from benchmarks.common.report import CellRun  # noqa: E402
from benchmarks.common.systems import (  # noqa: E402
    Context,
    System,
    default_stack,
    lean_system,
    sample_tweets,
    start_all,
    start_pool,
    wait_until_quiet,
)
from benchmarks.serving import MODEL_NAME, base_env, ensure_champion, log, measure_cell  # noqa: E402
from local_stack.__main__ import model_signing_key  # noqa: E402
from local_stack.processes import ManagedProcess, start_mlflow, start_redis  # noqa: E402
from shared.process_counts import default_gateway_processes, default_inference_workers  # noqa: E402

VARIANTS = {
    "default stack": {},
    "default stack, LOG_LEVEL=WARNING": {"LOG_LEVEL": "WARNING"},
    "default stack, rate limit off": {"PREDICT_RATE_LIMIT_PER_MINUTE": "0"},
    "default stack, 2 inference workers": {"INFERENCE_WORKERS": "2"},
}
ROLES = ("gateway", "worker", "redis", "log writer", "idle services")


def _ms(value: float) -> str:
    return "–" if math.isnan(value) else f"{value:.3f}"


def table(runs: list[CellRun], names: list[str]) -> str:
    by_system = {name: [run for run in runs if run.cell.system == name] for name in names}
    base = statistics.median(run.load.throughput for run in by_system[names[0]])
    lines = [
        "| system | req/s | ÷ default stack | p99 ms | CPU ms per tweet: " + " / ".join(ROLES) + " |",
        "|---|---:|---:|---:|---|",
    ]
    for name, cells in by_system.items():
        throughput = statistics.median(run.load.throughput for run in cells)
        p99 = statistics.median(run.load.p99_ms for run in cells)
        cpu = " / ".join(_ms(statistics.median(run.cpu_ms_per_tweet(role) for run in cells)) for role in ROLES)
        lines.append(f"| {name} | {throughput:,.0f} | {throughput / base:.2f}× | {p99:.1f} | {cpu} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--state-dir", type=Path, help="keep the registry here and reuse its champion")
    parser.add_argument("--seconds", type=float, default=4.0, help="length of each cell's load run")
    parser.add_argument("--rounds", type=int, default=3, help="turns over every system")
    parser.add_argument(
        "--before",
        type=Path,
        help="also run the default stack from this checkout (e.g. `git worktree add /tmp/before HEAD~1`)",
    )
    parser.add_argument("--only", nargs="*", choices=list(VARIANTS), help="of the variants, run just these")
    args = parser.parse_args(argv)
    variants = {name: VARIANTS[name] for name in args.only} if args.only is not None else dict(VARIANTS)
    state = args.state_dir or Path(tempfile.mkdtemp(prefix="stack-overheads-"))
    state.mkdir(parents=True, exist_ok=True)
    infrastructure: list[ManagedProcess] = []
    started: dict[str, object] = {}
    try:
        redis_process, redis_url = start_redis(state / "redis")
        mlflow_process, mlflow_url = start_mlflow(state / "mlflow")
        infrastructure += [redis_process, mlflow_process]
        env = base_env(redis_url, mlflow_url, model_signing_key(state))
        version, _ = ensure_champion(env, False, state)
        ctx = Context(env, f"models:/{MODEL_NAME}/{version}", state)
        tweets = sample_tweets(500)
        gateways, workers = default_gateway_processes(), default_inference_workers()
        lean_name = f"lean, {gateways} gateway process(es) × {workers} worker(s)"
        pool = start_pool(ctx, "overheads", workers)
        started["pool"] = pool
        starters = {
            name: (lambda name=name, overrides=overrides: default_stack(ctx, tweets, name, overrides))
            for name, overrides in variants.items()
        }
        if args.before:
            before_name = f"default stack, code of {args.before}"
            starters[before_name] = lambda: default_stack(ctx, tweets, before_name, checkout=args.before)
        starters[lean_name] = lambda: lean_system(ctx, lean_name, pool, tweets, gateways)
        log(f"starting {len(starters)} systems side by side ...")
        started.update(start_all(starters))  # type: ignore[arg-type]
        names = list(starters)
        systems = {name: system for name in names if isinstance(system := started[name], System)}
        loops = {name: ClosedLoop(s.predict_url, s.bodies, state / "load") for name, s in systems.items()}
        for loop in loops.values():
            loop.warm_up()
        log(f"machine quiet after {wait_until_quiet():.0f} s")
        runs: list[CellRun] = []
        for round_ in range(1, args.rounds + 1):
            for name in names[round_ - 1 :] + names[: round_ - 1]:
                runs.append(measure_cell(systems[name], loops[name], 64, args.seconds, round_))
        print(
            f"Default stack overheads — model {ctx.model_uri}; 64 clients, {args.rounds} round(s) of "
            f"{args.seconds:g} s per system, in turns; medians\n"
        )
        print(table(runs, names))
    finally:
        for thing in reversed(list(started.values())):
            thing.stop()  # type: ignore[attr-defined]
        for process in reversed(infrastructure):
            process.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
