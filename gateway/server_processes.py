"""Several gateway processes on one port: a supervisor starts GATEWAY_PROCESSES children, each its own uvicorn on
a SO_REUSEPORT socket, so each has its own event loop, coalescing queue and reply channel.

The supervisor holds the port from the start (a bound, never listening socket: the kernel gives it no
connections), restarts a child that dies after it was up, and stops them all on SIGTERM or SIGINT. The
children's Prometheus metrics are summed by prometheus_client's multiprocess mode, through files in
PROMETHEUS_MULTIPROC_DIR (a folder of this supervisor's own when unset): any process answers /metrics for all.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Callable
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from pathlib import Path

from fastapi import FastAPI

from gateway.http_server import listening_socket, run_server
from gateway.settings import GatewaySettings, get_settings
from shared.logging_setup import configure_logging, kv, stop_logging

log = logging.getLogger("gateway.processes")

# A child that exits sooner than this after its start failed to start (bad settings, unreachable port): it is not
# restarted, so that a broken configuration ends the gateway instead of looping.
STARTUP_GRACE_S = 10.0
# How long children may take to finish their requests after SIGTERM before they are killed.
STOP_TIMEOUT_S = 30.0


def _child(create_app: Callable[[GatewaySettings], FastAPI], port: int, index: int) -> None:
    """One gateway process: the same settings as the supervisor (from the environment), its own socket."""
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format, settings.service_name)
    sock = listening_socket(settings.host, port)
    log.info("gateway process serving %s", kv(index=index, pid=os.getpid(), port=port))
    try:
        run_server(create_app(settings), settings, sock)
    finally:
        log.info("gateway process stopped %s", kv(index=index, pid=os.getpid()))
        stop_logging()


def _metrics_folder() -> tuple[Path, bool]:
    """PROMETHEUS_MULTIPROC_DIR emptied of an earlier run's files, or a new folder; True when the folder is ours."""
    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if given:
        folder = Path(given)
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob("*.db"):  # an earlier run's counts would be added to this one's
            stale.unlink(missing_ok=True)
        return folder, False
    folder = Path(tempfile.mkdtemp(prefix="gateway-metrics-"))
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder)
    return folder, True


def supervise(create_app: Callable[[GatewaySettings], FastAPI], settings: GatewaySettings, processes: int) -> None:
    """Run `processes` gateway children on HOST:PORT until SIGTERM or SIGINT, then stop them and return."""
    reserved = listening_socket(settings.host, settings.port)
    port = int(reserved.getsockname()[1])
    folder, own_folder = _metrics_folder()
    # spawn, not fork: each child starts with no thread, event loop or connection of this process.
    context = multiprocessing.get_context("spawn")
    stopping = False

    def request_stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    children: dict[int, tuple[BaseProcess, float]] = {}

    def start(index: int) -> None:
        child = context.Process(target=_child, args=(create_app, port, index), name=f"gateway-{index}")
        child.start()
        children[index] = (child, time.monotonic())

    log.info("gateway starting %s", kv(processes=processes, port=port, metrics_dir=folder))
    try:
        for index in range(processes):
            start(index)
        while not stopping and children:
            wait([child.sentinel for child, _ in children.values()], timeout=1.0)
            for index, (child, started) in list(children.items()):
                if child.is_alive() or stopping:
                    continue
                _forget(child, folder)
                del children[index]
                if time.monotonic() - started < STARTUP_GRACE_S:
                    log.error("gateway process failed to start %s", kv(index=index, exit_code=child.exitcode))
                    continue
                log.warning("gateway process died, restarting it %s", kv(index=index, exit_code=child.exitcode))
                start(index)
        if not children and not stopping:
            raise SystemExit("gateway: no process could start (see the lines above)")
    finally:
        _stop_all([child for child, _ in children.values()])
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        reserved.close()
        if own_folder:
            shutil.rmtree(folder, ignore_errors=True)
        log.info("gateway stopped %s", kv(processes=processes, pid=os.getpid()))
        stop_logging()


def _forget(child: BaseProcess, folder: Path) -> None:
    """Drop a dead child's live-gauge files (its counters stay in the sums)."""
    from prometheus_client import multiprocess

    if child.pid is not None:
        with contextlib.suppress(OSError):
            multiprocess.mark_process_dead(child.pid, str(folder))


def _stop_all(children: list[BaseProcess]) -> None:
    for child in children:
        if child.is_alive() and child.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    for child in children:
        child.join(max(0.0, deadline - time.monotonic()))
        if child.is_alive():
            log.warning("gateway process did not stop in time, killed %s", kv(pid=child.pid))
            child.kill()
            child.join(5)
