"""Load generators: closed loops (wrk, else aiohttp), an open loop at a fixed rate, and client threads.

The closed and open loops measure a system's speed; `ClientThreads` is the load loop of the soak and of the fault
tests, which look at what each answer was rather than at how fast it came.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx


@dataclass(frozen=True)
class LoadRun:
    """What one load run against one URL measured."""

    clients: int  # concurrent connections of a closed loop; 0 for an open loop
    seconds: float
    requests: int
    errors: int
    throughput: float  # answered requests per second
    p50_ms: float
    p99_ms: float

    @classmethod
    def combined(cls, runs: Sequence[LoadRun]) -> LoadRun:
        """Segments of one run as one: summed counts, mean throughput, median p50, worst p99."""
        return cls(
            clients=runs[0].clients,
            seconds=sum(r.seconds for r in runs),
            requests=sum(r.requests for r in runs),
            errors=sum(r.errors for r in runs),
            throughput=statistics.mean(r.throughput for r in runs),
            p50_ms=statistics.median(r.p50_ms for r in runs),
            p99_ms=max(r.p99_ms for r in runs),
        )


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def have_wrk() -> bool:
    return shutil.which("wrk") is not None


# --- closed loop ----------------------------------------------------------------------------------


class ClosedLoop:
    """Closed-loop runs against one URL with a fixed set of JSON bodies, sent in turn: wrk when installed (its
    one C thread leaves the cores to the system under test), else an aiohttp client."""

    def __init__(self, url: str, bodies: Sequence[str], work_dir: Path | None = None) -> None:
        self.url = url
        self._encoded = [b.encode() for b in bodies]
        self._lua: Path | None = None
        if have_wrk():
            folder = work_dir or Path(tempfile.mkdtemp(prefix="load-"))
            folder.mkdir(parents=True, exist_ok=True)
            self._lua = _wrk_script(folder / f"bodies-{abs(hash(url))}.lua", bodies)

    def run(self, clients: int, seconds: float) -> LoadRun:
        if self._lua is not None:
            return _wrk(self.url, self._lua, clients, seconds)
        return asyncio.run(_aiohttp_closed_loop(self.url, self._encoded, clients, seconds))

    def warm_up(self, seconds: float = 1.0) -> None:
        """First requests pay connection setup and lazy initialisation on every system."""
        asyncio.run(_aiohttp_closed_loop(self.url, self._encoded, 4, seconds))

    def open_loop(self, rate: float, seconds: float) -> LoadRun:
        return asyncio.run(_open_loop(self.url, self._encoded, rate, seconds))


def _wrk_script(path: Path, bodies: Sequence[str]) -> Path:
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


def _wrk(url: str, lua: Path, clients: int, seconds: float) -> LoadRun:
    duration = max(1, round(seconds))
    out = subprocess.run(
        ["wrk", "-t1", f"-c{clients}", f"-d{duration}s", "--timeout", "10s", "--latency", "-s", str(lua), url],
        capture_output=True,
        text=True,
        timeout=duration + 60,
        check=True,
    ).stdout

    def found(pattern: str) -> re.Match[str]:
        match = re.search(pattern, out)
        if match is None:
            raise ValueError(f"wrk printed no {pattern!r}:\n{out}")
        return match

    non_2xx_match = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    non_2xx = int(non_2xx_match.group(1)) if non_2xx_match else 0
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    requests = int(found(r"(\d+) requests in").group(1))
    # A socket error is a failed connection or a request without an answer: counted as an error, not a request.
    return LoadRun(
        clients=clients,
        seconds=duration,
        requests=requests,
        errors=non_2xx + (sum(int(g) for g in socket_errors.groups()) if socket_errors else 0),
        throughput=(requests - non_2xx) / duration,
        p50_ms=_wrk_ms(found(r"\s50%\s+(\S+)").group(1)),
        p99_ms=_wrk_ms(found(r"\s99%\s+(\S+)").group(1)),
    )


async def _aiohttp_closed_loop(url: str, bodies: list[bytes], clients: int, seconds: float) -> LoadRun:
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
            except (aiohttp.ClientError, TimeoutError):
                ok = False
            latencies.append(time.perf_counter() - start)
            errors += not ok

    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=10)) as session:
        started = time.perf_counter()
        await asyncio.gather(*(client(session) for _ in range(clients)))
        elapsed = time.perf_counter() - started
    ms = [x * 1000 for x in latencies]
    return LoadRun(
        clients, elapsed, len(ms), errors, (len(ms) - errors) / elapsed, statistics.median(ms), percentile(ms, 0.99)
    )


async def _open_loop(url: str, bodies: list[bytes], rate: float, seconds: float) -> LoadRun:
    """Requests sent at a fixed rate, latency counted from each one's scheduled send time, so that a stall is not
    hidden by the client slowing down."""
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
    return LoadRun(
        0, elapsed, len(ms), errors, (len(ms) - errors) / elapsed, statistics.median(ms), percentile(ms, 0.99)
    )


# --- client threads -------------------------------------------------------------------------------

# One request by one client; returns how long that client pauses before its next one (0: none).
Step = Callable[[httpx.Client], float]


class ClientThreads:
    """One thread per step, each with its own HTTP client, repeating its step until stopped."""

    def __init__(self, steps: Sequence[Step], timeout_s: float) -> None:
        self._stop = threading.Event()
        self._timeout_s = timeout_s
        self._threads = [threading.Thread(target=self._run, args=(step,), daemon=True) for step in steps]

    def _run(self, step: Step) -> None:
        with httpx.Client(timeout=self._timeout_s) as client:
            while not self._stop.is_set():
                pause_s = step(client)
                if pause_s > 0:
                    self._stop.wait(pause_s)

    def start(self) -> ClientThreads:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        """Stops every client after the request it is sending (or its client timeout)."""
        self._stop.set()
        for thread in self._threads:
            thread.join(self._timeout_s + 5)
