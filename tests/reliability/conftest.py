"""A stack of our own for the fault tests: they kill Redis, MLflow and workers, so they never touch the session's.

The fault stack has its own redis-server (AOF on, fixed port so it can come back where clients expect it) and its
own MLflow server, started on a copy of the session registry (SQLite backup + artifacts folder): the tiny champion
is trained once per session, not once more here. Each test records its row of the fault table with `fault_table`,
and an abuse scenario its row of the abuse table with `abuse_table`.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from local_stack.processes import ManagedProcess, free_port, http_ok, start_mlflow, start_redis, wait_until
from tests.conftest import Stack, start_gateway, start_inference_worker

FAULT_TABLE_FILE = "reliability-faults.jsonl"
ABUSE_TABLE_FILE = "reliability-abuse.jsonl"


@dataclass
class FaultStack:
    """Redis and MLflow that tests may stop and start again on the same port and data."""

    stack: Stack
    root: Path
    redis_port: int
    mlflow_port: int
    redis: ManagedProcess
    mlflow: ManagedProcess
    started: list[ManagedProcess] = field(default_factory=list)

    def stop_redis(self) -> None:
        # SIGTERM: redis-server flushes its AOF and exits, as in an orderly restart by an operator or orchestrator.
        self.redis.stop()

    def start_redis(self) -> None:
        self.redis, _ = start_redis(self.root / "redis", port=self.redis_port, persistent=True)

    def stop_mlflow(self) -> None:
        self.mlflow.stop()

    def start_mlflow(self) -> None:
        self.mlflow, _ = start_mlflow(self.root / "mlflow", port=self.mlflow_port)

    def service(self, process: ManagedProcess) -> ManagedProcess:
        self.started.append(process)
        return process

    def stop_services(self) -> None:
        for process in reversed(self.started):
            process.stop()
        self.started.clear()


def clone_registry(source_dir: Path, target_dir: Path) -> None:
    """A consistent copy of a live MLflow store: SQLite's online backup, then the artifacts folder."""
    target_dir.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(source_dir / "mlflow.db") as source, sqlite3.connect(target_dir / "mlflow.db") as target:
        source.backup(target)
    shutil.copytree(source_dir / "artifacts", target_dir / "artifacts", dirs_exist_ok=True)


@pytest.fixture(scope="package")
def fault_stack(
    tiny_champion: dict, services_dir: Path, tmp_path_factory: pytest.TempPathFactory, test_output_dir: Path
) -> Iterator[FaultStack]:
    root = tmp_path_factory.mktemp("fault-stack")
    # Logs outlive the run: the secrets test greps them and a failed CI run keeps them as evidence.
    log_dir = test_output_dir / "reliability-logs"
    shutil.rmtree(log_dir, ignore_errors=True)
    clone_registry(services_dir / "mlflow", root / "mlflow")
    redis_port, mlflow_port = free_port(), free_port()
    redis_process, redis_url = start_redis(root / "redis", port=redis_port, persistent=True)
    mlflow_process, mlflow_url = start_mlflow(root / "mlflow", port=mlflow_port)
    faults = FaultStack(
        stack=Stack(redis_url=redis_url, mlflow_url=mlflow_url, log_dir=log_dir),
        root=root,
        redis_port=redis_port,
        mlflow_port=mlflow_port,
        redis=redis_process,
        mlflow=mlflow_process,
    )
    yield faults
    faults.stop_services()
    faults.mlflow.stop()
    faults.redis.stop()


@pytest.fixture
def faults(fault_stack: FaultStack) -> Iterator[FaultStack]:
    """The fault stack, with every service a test started stopped after it (Redis and MLflow stay up)."""
    yield fault_stack
    fault_stack.stop_services()
    if not fault_stack.redis.alive():
        fault_stack.start_redis()
    if not fault_stack.mlflow.alive():
        fault_stack.start_mlflow()


@dataclass
class Served:
    """A gateway and an inference worker on the fault stack."""

    url: str
    gateway: ManagedProcess
    worker: ManagedProcess


def wait_ready(url: str, timeout_s: float = 180) -> dict:
    wait_until(lambda: httpx.get(url + "/ready", timeout=5).status_code == 200, timeout_s, "gateway /ready", None, 0.5)
    return httpx.get(url + "/ready", timeout=5).json()


def serve(faults: FaultStack, name: str, worker_env: dict[str, str] | None = None, **gateway_env: str) -> Served:
    worker = faults.service(start_inference_worker(faults.stack, name=f"{name}-worker", **(worker_env or {})))
    gateway, url = start_gateway(faults.stack, name=f"{name}-gateway", **gateway_env)
    faults.service(gateway)
    wait_ready(url)
    return Served(url=url, gateway=gateway, worker=worker)


@pytest.fixture(scope="package")
def fault_table(test_output_dir: Path) -> Iterator[Path]:
    """Rows of the fault table (one JSON object per line), rendered by scripts/reliability.sh."""
    path = test_output_dir / FAULT_TABLE_FILE
    path.unlink(missing_ok=True)
    yield path


def record_fault(path: Path, fault: str, sent: int, answered: int, explicit: int, lost: int, note: str = "") -> None:
    row = {"fault": fault, "sent": sent, "answered": answered, "explicit_failure": explicit, "lost": lost}
    with path.open("a", encoding="utf-8") as out:
        out.write(json.dumps({**row, "note": note, "at": time.time()}) + "\n")


@pytest.fixture(scope="package")
def abuse_table(test_output_dir: Path) -> Iterator[Path]:
    """Rows of the abuse table (one JSON object per line), rendered beside the fault table by scripts/reliability.sh."""
    path = test_output_dir / ABUSE_TABLE_FILE
    path.unlink(missing_ok=True)
    yield path


def record_abuse(path: Path, scenario: str, attempts: int, refused: int, effect: str) -> None:
    row = {"scenario": scenario, "attempts": attempts, "refused": refused, "effect": effect, "at": time.time()}
    with path.open("a", encoding="utf-8") as out:
        out.write(json.dumps(row) + "\n")


def openapi_paths(url: str) -> set[str]:
    return set(httpx.get(url + "/openapi.json", timeout=10).json()["paths"])


def gateway_is_up(url: str) -> bool:
    return http_ok(url + "/health")
