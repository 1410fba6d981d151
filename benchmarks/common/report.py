"""The serving benchmark's results as dataclasses, and their Markdown: cells, paired ratios against targets,
the one-client overhead, Redis memory and CPU per tweet, the stream ceiling."""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field

from benchmarks.common.load import LoadRun
from benchmarks.common.systems import FloorTiming
from benchmarks.redis_ceiling import CeilingRun
from benchmarks.redis_ceiling import table as ceiling_table

ROLES_SHOWN = ("gateway", "worker", "redis")


@dataclass(frozen=True)
class Cell:
    system: str
    clients: int


@dataclass(frozen=True)
class CellRun:
    """One turn of one cell: a closed loop of `cell.clients` against `cell.system`, with the CPU each of its roles
    spent meanwhile."""

    cell: Cell
    round: int
    load: LoadRun
    cpu_s: dict[str, float]

    @property
    def answered(self) -> int:  # one tweet per request
        return round(self.load.throughput * self.load.seconds)

    def cpu_ms_per_tweet(self, role: str | None = None) -> float:
        """CPU milliseconds per answered tweet of one role (nan where it has none), or of every process."""
        if role is not None and role not in self.cpu_s:
            return math.nan
        spent = sum(self.cpu_s.values()) if role is None else self.cpu_s[role]
        return 1000 * spent / self.answered if self.answered else math.nan


@dataclass(frozen=True)
class FloorPair:
    """One 1-client segment's p50 with the floor measured just before and just after it."""

    floor_before_ms: float
    system_p50_ms: float
    floor_after_ms: float

    @property
    def over_floor_ms(self) -> float:
        return self.system_p50_ms - (self.floor_before_ms + self.floor_after_ms) / 2


@dataclass(frozen=True)
class OneClientRun:
    system: str
    load: LoadRun
    pairs: list[FloorPair]
    in_worker_ms: list[float] = field(default_factory=list)  # the workers' own mean model call, per segment

    @property
    def over_floor_ms(self) -> float:
        """Median over the segments of the system's p50 minus the floor measured around that segment."""
        return statistics.median(p.over_floor_ms for p in self.pairs)


@dataclass(frozen=True)
class RedisMemory:
    """used_memory grown while a system answered `tweets`, once the reply copies had expired."""

    system: str
    tweets: int
    used_memory_delta: int
    record_ttl_s: int

    @property
    def bytes_per_tweet(self) -> float:
        return self.used_memory_delta / self.tweets if self.tweets else math.nan


@dataclass(frozen=True)
class Comparison:
    """A ratio between two cells of the same rounds (median of the per-round ratios), against its target."""

    label: str
    value: float
    target: str
    met: bool | None  # None: no target
    unit: str = "×"
    errors: int = 0  # failed requests in the cells compared: a ratio over failures is no verdict

    @property
    def verdict(self) -> str:
        if self.errors:
            return f"INVALID ({self.errors:,} errors)"
        return "" if self.met is None else ("met" if self.met else "MISSED")


@dataclass
class Names:
    """Which systems play which part in the comparisons."""

    lean: str
    default: str
    grid: list[str]
    peers: list[str]
    mlflow_fair: str | None = None  # `mlflow models serve -w 2`
    inprocess: str | None = None
    log_writer_on: str | None = None


@dataclass
class BenchmarkResult:
    model: str
    cores: int
    seconds: float
    rounds: int
    generator: str
    floor_path: str
    floor_one: FloorTiming
    floor_batch: FloorTiming
    names: Names
    cells: list[CellRun] = field(default_factory=list)
    one_client: list[OneClientRun] = field(default_factory=list)
    memory: RedisMemory | None = None
    ceiling: list[CeilingRun] = field(default_factory=list)

    def runs(self, system: str, clients: int) -> list[CellRun]:
        return [r for r in self.cells if r.cell == Cell(system, clients)]

    def paired(self, a: str, b: str, clients: int, metric: Callable[[LoadRun], float]) -> float:
        """Median over rounds of metric(a) / metric(b), each ratio from the same round."""
        by_round = {r.round: r for r in self.runs(b, clients)}
        ratios = [metric(r.load) / metric(by_round[r.round].load) for r in self.runs(a, clients) if r.round in by_round]
        return statistics.median(ratios) if ratios else math.nan

    def errors(self, *systems: str, clients: int) -> int:
        return sum(r.load.errors for system in systems for r in self.runs(system, clients))


def _ms(value: float) -> str:
    return "–" if math.isnan(value) else f"{value:.2f}"


def _median(values: list[float]) -> float:
    values = [v for v in values if not math.isnan(v)]
    return statistics.median(values) if values else math.nan


def cells_table(result: BenchmarkResult) -> str:
    lines = [
        "| system | clients | req/s | p50 ms | p99 ms | errors | CPU ms per tweet: gateway / worker / Redis / all |",
        "|---|---:|---:|---:|---:|---:|---|",
        f"| in-process floor ({result.floor_path}) | batch 1 | {result.floor_one.tweets_per_s:,.0f} "
        f"tweets/s | {result.floor_one.p50_ms:.2f} | {result.floor_one.p99_ms:.2f} | 0 | |",
        f"| in-process floor ({result.floor_path}) | batch {result.floor_batch.batch} | "
        f"{result.floor_batch.tweets_per_s:,.0f} tweets/s | {result.floor_batch.p50_ms:.2f} "
        f"| {result.floor_batch.p99_ms:.2f} | 0 | |",
    ]
    seen: list[Cell] = []
    for run in result.cells:
        if run.cell not in seen:
            seen.append(run.cell)
    for cell in seen:
        runs = result.runs(cell.system, cell.clients)
        cpu = " / ".join(_ms(_median([r.cpu_ms_per_tweet(role) for r in runs])) for role in (*ROLES_SHOWN, None))
        lines.append(
            f"| {cell.system} | {cell.clients} | {_median([r.load.throughput for r in runs]):,.0f} "
            f"| {_median([r.load.p50_ms for r in runs]):.1f} | {_median([r.load.p99_ms for r in runs]):.1f} "
            f"| {sum(r.load.errors for r in runs)} | {cpu} |"
        )
    for one in result.one_client:
        lines.append(
            f"| {one.system} | 1 | {one.load.throughput:,.0f} | {one.load.p50_ms:.2f} | {one.load.p99_ms:.2f} "
            f"| {one.load.errors} | p50 {one.over_floor_ms:+.2f} ms over the floor beside it |"
        )
    return "\n".join(lines)


def summary_table(result: BenchmarkResult) -> str:
    """The few rows the README shows: the floor, this system lean and as run, and the peers, at 1 and 64 clients."""
    lines = ["| system | load | req/s | p50 ms | p99 ms |", "| --- | --- | ---: | ---: | ---: |"]
    floor = result.floor_one
    lines.append(
        f"| in-process floor ({result.floor_path}) | batch 1 | {floor.tweets_per_s:,.0f} | {floor.p50_ms:.2f} "
        f"| {floor.p99_ms:.2f} |"
    )
    for one in result.one_client:
        lines.append(
            f"| {one.system} | 1 client | {one.load.throughput:,.0f} | {one.load.p50_ms:.2f} | {one.load.p99_ms:.2f} |"
        )
    names = result.names
    for system in [names.lean, names.default, *names.grid[-1:], *names.peers]:
        for clients in sorted({r.cell.clients for r in result.cells if r.cell.system == system}):
            runs = result.runs(system, clients)
            lines.append(
                f"| {system} | {clients} clients | {_median([r.load.throughput for r in runs]):,.0f} "
                f"| {_median([r.load.p50_ms for r in runs]):.1f} | {_median([r.load.p99_ms for r in runs]):.1f} |"
            )
    return "\n".join(lines)


def _throughput(load: LoadRun) -> float:
    return load.throughput


def _p99(load: LoadRun) -> float:
    return load.p99_ms


def comparisons(result: BenchmarkResult, clients: int = 64) -> list[Comparison]:
    names = result.names
    rows: list[Comparison] = []

    def paired(
        label: str,
        a: str,
        b: str,
        at: int,
        metric: Callable[[LoadRun], float],
        target: str = "",
        met: Callable[[float], bool] | None = None,
    ) -> None:
        value = result.paired(a, b, at, metric)
        errors = result.errors(a, b, clients=at)
        rows.append(Comparison(label, value, target, None if met is None else met(value), errors=errors))

    if result.runs(names.default, clients) and result.runs(names.lean, clients):
        paired(
            f"default stack ÷ lean, req/s at {clients}",
            names.default,
            names.lean,
            clients,
            _throughput,
            "≥ 0.85×",
            lambda v: v >= 0.85,
        )
        paired(
            f"default stack ÷ lean, p99 at {clients}",
            names.default,
            names.lean,
            clients,
            _p99,
            "≤ 1.2×",
            lambda v: v <= 1.2,
        )
    if names.log_writer_on and result.runs(names.log_writer_on, clients):
        paired(
            f"log writer on ÷ off, req/s at {clients}",
            names.log_writer_on,
            names.lean,
            clients,
            _throughput,
            "≥ 0.90×",
            lambda v: v >= 0.9,
        )
        paired(
            f"log writer on ÷ off, p99 at {clients}",
            names.log_writer_on,
            names.lean,
            clients,
            _p99,
            "≤ 1.10×",
            lambda v: v <= 1.1,
        )
    base = names.grid[0] if names.grid else None
    for system in names.grid[1:]:
        for load_clients in sorted({r.cell.clients for r in result.cells if r.cell.system == system}):
            paired(f"{system} ÷ {base}, req/s at {load_clients}", system, base, load_clients, _throughput)
    for system in (names.lean, names.default):
        for peer in names.peers:
            if not result.runs(peer, clients) or not result.runs(system, clients):
                continue
            label = f"{system} ÷ {peer}, req/s at {clients}"
            if peer == names.mlflow_fair:
                paired(label, system, peer, clients, _throughput, "≥ 5×", lambda v: v >= 5)
            elif peer == names.inprocess:
                paired(label, system, peer, clients, _throughput, "≥ 1.5×", lambda v: v >= 1.5)
            else:
                paired(label, system, peer, clients, _throughput)
        runs = result.runs(system, clients)
        if runs:
            p99 = _median([r.load.p99_ms for r in runs])
            errors = result.errors(system, clients=clients)
            rows.append(Comparison(f"{system}, p99 at {clients}", p99, "≤ 100 ms", p99 <= 100, " ms", errors))
    for one in result.one_client:
        over = one.over_floor_ms
        rows.append(
            Comparison(f"{one.system}, p50 at 1 client − floor", over, "≤ +3 ms", over <= 3, " ms", one.load.errors)
        )
    return rows


def comparisons_table(rows: list[Comparison]) -> str:
    lines = ["| comparison (same rounds) | value | target | verdict |", "|---|---:|---|---|"]
    for row in rows:
        signed = "floor" in row.label
        value = f"{row.value:+.2f}{row.unit}" if signed else f"{row.value:.2f}{row.unit}"
        lines.append(f"| {row.label} | {value} | {row.target} | {row.verdict} |")
    return "\n".join(lines)


def capacity_table(result: BenchmarkResult, clients: int = 64) -> str:
    """Tweets per CPU-second of each role, from the lean system's busiest cells; Redis bytes per tweet."""
    lines = ["| capacity figure | value | from |", "|---|---:|---|"]
    for system in dict.fromkeys([result.names.lean, *result.names.grid[-1:]]):
        runs = result.runs(system, clients)
        for role in ROLES_SHOWN:
            per_tweet = _median([r.cpu_ms_per_tweet(role) for r in runs])
            if runs and not math.isnan(per_tweet) and per_tweet > 0:
                lines.append(
                    f"| {role}: tweets per CPU-second | {1000 / per_tweet:,.0f} | {system}, {clients} clients |"
                )
    if result.memory is not None:
        memory = result.memory
        lines.append(
            f"| Redis bytes per answered tweet (record TTL {memory.record_ttl_s / 86400:g} days) "
            f"| {memory.bytes_per_tweet:,.0f} | {memory.system}: used_memory +{memory.used_memory_delta:,} B "
            f"for {memory.tweets:,} tweets |"
        )
    for run in result.ceiling:
        lines.append(
            f"| Redis ceiling, calls of {run.tweets_per_call} tweet(s): calls per core-second "
            f"| {run.calls_per_core_s:,.0f} | benchmarks/redis_ceiling.py ({run.tweets_per_core_s:,.0f} tweets) |"
        )
    return "\n".join(lines)


def render(result: BenchmarkResult) -> str:
    parts = [
        f"Serving benchmark — {result.cores} CPU cores, no GPU; model {result.model}; {result.rounds} round(s) of "
        f"{result.seconds:g} s per cell, cells interleaved in turns; load generator: {result.generator}",
        "",
        "Summary (the README's serving table):",
        "",
        summary_table(result),
        "",
        "Every cell (median over the rounds; CPU per tweet from the processes' own CPU time):",
        "",
        cells_table(result),
        "",
        comparisons_table(comparisons(result)),
        "",
        "Capacity figures (docs/serving.md, Capacity plan):",
        "",
        capacity_table(result),
    ]
    if result.ceiling:
        parts += ["", ceiling_table(result.ceiling)]
    pairs = [one for one in result.one_client if one.pairs]
    if pairs:
        parts += ["", pairs_table(pairs)]
    return "\n".join(parts) + "\n"


def pairs_table(runs: list[OneClientRun]) -> str:
    lines = [
        "| system, 1 client | segment | floor p50 before | system p50 | floor p50 after | system − floor (ms) "
        "| workers' own model call (mean ms) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for run in runs:
        for index, pair in enumerate(run.pairs, start=1):
            own = _ms(run.in_worker_ms[index - 1]) if len(run.in_worker_ms) >= index else "–"
            lines.append(
                f"| {run.system} | {index} | {pair.floor_before_ms:.2f} | {pair.system_p50_ms:.2f} "
                f"| {pair.floor_after_ms:.2f} | {pair.over_floor_ms:+.2f} | {own} |"
            )
    return "\n".join(lines)
