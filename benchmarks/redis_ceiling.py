"""How many prediction calls one Redis core carries: the call stream driven as the system drives it, no model.

    .venv/bin/python benchmarks/redis_ceiling.py                  # 1 and 64 tweets per call, 5 s each
    .venv/bin/python benchmarks/redis_ceiling.py --seconds 2 --tweets-per-call 1

The gateway side is the gateway's own `InferenceClient` (XADD per call, replies on its pub/sub channel) with many
calls in flight; the worker side is the worker's own `CallConsumer` threads (XREADGROUP, then one script per read
that SETs the records and reply copies, PUBLISHes, XACKs and XDELs) in another process, with a model that answers
at once. The load comes from Python on the same few cores, so Redis is rarely saturated: the figure is Redis's own
CPU per call (INFO cpu), and the ceiling is one core's worth of it. INFO commandstats counts the commands each
call cost, scripts' inner commands included.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from local_stack.processes import start_redis  # noqa: E402

# The gateway side: this many gateway processes, each with as many calls in flight as its coalescer allows
# (PREDICT_MAX_IN_FLIGHT), so that reads take many calls each, as under load.
GATEWAYS = 16
IN_FLIGHT_PER_GATEWAY = 4
WARM_UP_S = 1.0


@dataclass(frozen=True)
class CeilingRun:
    tweets_per_call: int
    seconds: float
    calls: int
    redis_cpu_s: float
    commands: dict[str, int]  # Redis command -> times run

    @property
    def calls_per_s(self) -> float:
        return self.calls / self.seconds

    @property
    def redis_cpu_share(self) -> float:
        """Of one core, what Redis used while driven."""
        return self.redis_cpu_s / self.seconds

    @property
    def calls_per_core_s(self) -> float:
        """The ceiling: calls one fully busy Redis core would carry at this cost per call."""
        return self.calls / self.redis_cpu_s if self.redis_cpu_s else float("inf")

    @property
    def tweets_per_core_s(self) -> float:
        return self.calls_per_core_s * self.tweets_per_call

    def per_call(self) -> dict[str, float]:
        return {name: count / self.calls for name, count in sorted(self.commands.items()) if self.calls}


def _consume(redis_url: str) -> None:
    """The worker's call consumers with a constant model, until the parent process ends them."""
    import redis

    from inference_worker.call_consumer import CallConsumer
    from inference_worker.settings import InferenceSettings
    from shared.schemas.api import Prediction
    from shared.schemas.base import new_id

    settings = InferenceSettings(redis_url=redis_url)

    def predict(texts: list[str]) -> list[Prediction]:
        return [
            Prediction(
                prediction_id=new_id(),
                label="positive",
                probability_positive=0.9,
                model_name="air-paradis-lstm",
                model_version="1",
                embedding_type="glove",
                threshold=0.5,
            )
            for _ in texts
        ]

    stop = threading.Event()
    threads = []
    for number in range(settings.call_consumers):
        consumer = CallConsumer(redis.Redis.from_url(redis_url), f"ceiling-{number}", predict, settings)
        consumer.ensure_group()
        threads.append(threading.Thread(target=consumer.run, args=(stop,), daemon=True))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


async def _send(redis_url: str, tweets_per_call: int, seconds: float) -> CeilingRun:
    """GATEWAYS gateway processes' clients, each with IN_FLIGHT_PER_GATEWAY calls in flight, as its coalescer
    allows: a warm-up (connections opened, the script loaded), then the measured run."""
    import redis.asyncio as aioredis

    from gateway.inference_client import InferenceClient

    connections = [aioredis.from_url(redis_url) for _ in range(GATEWAYS)]
    clients = [InferenceClient(connection, worker_max_age_s=10, timeout_s=10) for connection in connections]
    for client in clients:
        await client.start()
    texts = [f"@airline tweet {n} of a call, about as long as a real one, maybe a bit longer" for n in range(64)]
    answered = 0

    async def caller(client: InferenceClient, number: int, deadline: float) -> None:
        nonlocal answered
        call_texts = texts[:tweets_per_call]
        request_ids = [f"ceiling-{number}-{n}" for n in range(tweets_per_call)]
        while time.perf_counter() < deadline:
            await client.predict(call_texts, request_ids)
            answered += 1

    async def drive(run_s: float) -> None:
        deadline = time.perf_counter() + run_s
        callers = [
            caller(client, n, deadline) for n, client in enumerate(clients) for _ in range(IN_FLIGHT_PER_GATEWAY)
        ]
        await asyncio.gather(*callers)

    await drive(WARM_UP_S)
    cpu_before, commands_before = _cpu_and_commands(redis_url)
    answered, started = 0, time.perf_counter()
    await drive(seconds)
    elapsed = time.perf_counter() - started
    cpu_after, commands_after = _cpu_and_commands(redis_url)
    for client, connection in zip(clients, connections, strict=True):
        await client.close()
        await connection.aclose()
    commands = {
        name: count - commands_before.get(name, 0)
        for name, count in commands_after.items()
        if count > commands_before.get(name, 0) and name != "info"
    }
    return CeilingRun(tweets_per_call, elapsed, answered, cpu_after - cpu_before, commands)


def _cpu_and_commands(redis_url: str) -> tuple[float, dict[str, int]]:
    import redis

    client = redis.Redis.from_url(redis_url)
    cpu = client.info("cpu")
    stats = client.info("commandstats")
    client.close()
    commands = {name.removeprefix("cmdstat_"): int(value["calls"]) for name, value in stats.items()}
    return float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"]), commands


def measure(redis_url: str, tweets_per_call: int, seconds: float) -> CeilingRun:
    """One run against `redis_url` (a Redis of the benchmark's own: its stream and group are created there)."""
    consumers = multiprocessing.get_context("spawn").Process(target=_consume, args=(redis_url,), daemon=True)
    consumers.start()
    try:
        return asyncio.run(_send(redis_url, tweets_per_call, seconds))
    finally:
        consumers.terminate()
        consumers.join(10)


def measure_on_private_redis(shapes: list[int], seconds: float) -> list[CeilingRun]:
    runs = []
    with tempfile.TemporaryDirectory(prefix="redis-ceiling-") as folder:
        for tweets_per_call in shapes:
            process, url = start_redis(Path(folder) / f"redis-{tweets_per_call}", maxmemory="0")
            try:
                runs.append(measure(url, tweets_per_call, seconds))
            finally:
                process.stop()
    return runs


def table(runs: list[CeilingRun]) -> str:
    lines = [
        "| tweets per call | calls/s driven | Redis CPU (share of a core) | calls per Redis core-second "
        "| tweets per Redis core-second | Redis commands per call |",
        "|---:|---:|---:|---:|---:|---|",
    ]
    for run in runs:
        per_call = ", ".join(f"{name} {count:.2f}" for name, count in run.per_call().items())
        lines.append(
            f"| {run.tweets_per_call} | {run.calls_per_s:,.0f} | {run.redis_cpu_share:.2f} "
            f"| {run.calls_per_core_s:,.0f} | {run.tweets_per_core_s:,.0f} | {per_call} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--tweets-per-call", default="1,64", help="comma-separated call sizes")
    args = parser.parse_args(argv)
    shapes = [int(n) for n in args.tweets_per_call.split(",")]
    print(table(measure_on_private_redis(shapes, args.seconds)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
