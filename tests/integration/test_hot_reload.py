"""Hot reload over real processes: a promotion while clients stream, a broken version refused, the registry down.

The worker here has its own Redis (so the session's workers never take its tasks) and reaches the session's
MLflow server through a TCP relay that the test can cut, which is how "registry unreachable" is produced.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import shutil
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import mlflow
import pytest
import redis
from mlflow import MlflowClient

from local_stack.processes import ManagedProcess, free_port, start_redis, wait_until
from shared import events, redis_keys
from shared.registry import EMBEDDING_TYPE_TAG
from shared.schemas.events import ModelPromotedEvent
from tests.conftest import Stack, start_gateway, start_inference_worker, wait_ready

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MODEL_NAME = "hot-reload-lstm"
STREAMS = 4
_REDIS_URLS: dict[str, str] = {}  # gateway url -> the Redis its worker uses


class TcpRelay:
    """Forwards a local port to a target port; `cut()` drops every connection and refuses new ones."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self._sockets: list[socket.socket] = []
        self._listener: socket.socket | None = None
        self._lock = threading.Lock()

    def open(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            if self._listener is not listener:  # cut meanwhile
                client.close()
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets += [client, upstream]
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)

    def cut(self) -> None:
        if self._listener is not None:
            # shutdown() first: close() alone leaves a thread blocked in accept() listening on Linux.
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self._sockets.clear()


class Registry:
    """Versions of MODEL_NAME made from the tiny champion's artifacts, promoted the way training promotes."""

    def __init__(self, stack: Stack, tiny_champion: dict, redis_url: str) -> None:
        self.client = MlflowClient(stack.mlflow_url)
        self.mlflow_url = stack.mlflow_url
        self.redis = redis.Redis.from_url(redis_url)
        self.source = self.client.get_model_version(tiny_champion["model_name"], tiny_champion["model_version"])

    def new_version(self, source: str | None = None, run_id: str | None = None) -> str:
        """A new version: the champion's own logged model again by default, else the artifacts at `source`."""
        with contextlib.suppress(mlflow.exceptions.MlflowException):
            self.client.create_registered_model(MODEL_NAME)
        if source is None:
            # The champion's own signed files again: as trusted as the champion.
            version = self.client.create_model_version(MODEL_NAME, self.source.source, run_id=self.source.run_id)
        else:
            version = self.client.create_model_version(MODEL_NAME, source, run_id=run_id)
        self.client.set_model_version_tag(MODEL_NAME, version.version, EMBEDDING_TYPE_TAG, "word2vec")
        return str(version.version)

    def promote(self, version: str, previous: str | None) -> None:
        self.client.set_registered_model_alias(MODEL_NAME, "champion", version)
        event = ModelPromotedEvent(
            family="lstm",
            model_name=MODEL_NAME,
            model_version=version,
            precision=0.9,
            embedding_type="word2vec",
            previous_version=previous,
        )
        events.publish(self.redis, events.MODEL_PROMOTED_STREAM, event)

    def corrupt_version(self, tmp: Path) -> str:
        """A version whose artifacts are garbage: it must fail to load."""
        mlflow.set_tracking_uri(self.mlflow_url)
        local = Path(mlflow.artifacts.download_artifacts(self.source.source, dst_path=str(tmp / "broken")))
        for artifact in [*local.rglob("*.onnx"), *local.rglob("*.keras"), *local.rglob("encoder*.json")]:
            if artifact.is_dir():
                shutil.rmtree(artifact)
            artifact.write_bytes(b"\x00 this is not a model \x00")
        mlflow.set_experiment("hot-reload-broken")
        with mlflow.start_run() as run:
            mlflow.log_artifacts(str(local), artifact_path="model")
        return self.new_version(f"{run.info.artifact_uri}/model", run.info.run_id)


@pytest.fixture(scope="module")
def reload_stack(stack: Stack, tiny_champion: dict, services_dir: Path) -> Iterator[tuple[str, Registry, TcpRelay]]:
    redis_process, redis_url = start_redis(services_dir / "hot-reload-redis")
    relay = TcpRelay(int(stack.mlflow_url.rsplit(":", 1)[1]))
    started: list[ManagedProcess] = [redis_process]
    try:
        registry = Registry(stack, tiny_champion, redis_url)
        first = registry.new_version()
        registry.promote(first, None)
        relay.open()
        local = Stack(redis_url=redis_url, mlflow_url=f"http://127.0.0.1:{relay.port}", log_dir=stack.log_dir)
        settings = {"LSTM_MODEL_NAME": MODEL_NAME, "ALIAS_POLL_INTERVAL_S": "1", "HEARTBEAT_INTERVAL_S": "0.5"}
        started.append(start_inference_worker(local, "hot-reload-worker", METRICS_PORT=str(free_port()), **settings))
        gateway, url = start_gateway(local, "hot-reload-gateway", PREDICT_RATE_LIMIT_PER_MINUTE="0", **settings)
        started.append(gateway)
        assert wait_ready(url)["model_version"] == first
        _REDIS_URLS[url] = redis_url
        yield url, registry, relay
    finally:
        relay.cut()
        for process in reversed(started):
            process.stop()


def _stream(url: str, stop: threading.Event, answers: list[tuple[int, str | None]]) -> None:
    with httpx.Client(base_url=url, timeout=30) as http:
        i = 0
        while not stop.is_set():
            i += 1
            response = http.post("/predict", json={"text": f"@united flight {i} was fine, thanks"})
            version = response.json().get("model_version") if response.status_code == 200 else None
            answers.append((response.status_code, version))


def _switches(versions: list[str | None]) -> int:
    return sum(1 for a, b in itertools.pairwise(versions) if a != b)


def test_promotion_while_clients_stream_switches_each_stream_once(reload_stack) -> None:
    url, registry, _ = reload_stack
    old = httpx.get(url + "/ready", timeout=5).json()["model_version"]
    new = registry.new_version()
    stop = threading.Event()
    streams: list[list[tuple[int, str | None]]] = [[] for _ in range(STREAMS)]
    threads = [threading.Thread(target=_stream, args=(url, stop, answers)) for answers in streams]
    for thread in threads:
        thread.start()
    wait_until(lambda: all(len(s) >= 20 for s in streams), 60, "streams warmed up")
    registry.promote(new, old)
    wait_until(lambda: all(s[-1][1] == new and s.count((200, new)) >= 20 for s in streams), 120, "new version")
    stop.set()
    for thread in threads:
        thread.join(timeout=60)
    for answers in streams:
        statuses = {status for status, _ in answers}
        assert statuses == {200}, f"failed requests during the reload: {statuses}"
        versions = [version for _, version in answers]
        assert versions[0] == old and versions[-1] == new
        assert _switches(versions) == 1, f"versions went {versions}"


def test_broken_version_is_refused_and_the_old_one_keeps_serving(reload_stack, tmp_path: Path) -> None:
    url, registry, _ = reload_stack
    serving = httpx.get(url + "/ready", timeout=5).json()["model_version"]
    broken = registry.corrupt_version(tmp_path)
    registry.promote(broken, serving)

    def refusal_reported() -> bool:
        body = httpx.get(url + "/ready", timeout=5).json()
        return any(f"version {broken} refused" in problem for problem in body["problems"])

    wait_until(refusal_reported, 60, "refusal visible in /ready", interval_s=0.3)
    body = httpx.get(url + "/ready", timeout=5).json()
    assert body["ready"] is True and body["model_version"] == serving
    for _ in range(10):
        response = httpx.post(url + "/predict", json={"text": "@united lost my bag"}, timeout=30)
        assert response.status_code == 200 and response.json()["model_version"] == serving
    registry.promote(serving, broken)  # put the alias back for the next test
    wait_until(lambda: httpx.get(url + "/ready", timeout=5).json()["problems"] == [], 30, "refusal cleared")


def test_registry_down_keeps_serving_and_ready_reports_degraded(reload_stack) -> None:
    url, _, relay = reload_stack
    serving = httpx.get(url + "/ready", timeout=5).json()["model_version"]
    relay.cut()
    try:

        def degraded() -> bool:
            body = httpx.get(url + "/ready", timeout=5).json()
            return body["registry_ok"] is False

        wait_until(degraded, 60, "/ready reporting the registry down", interval_s=0.3)
        body = httpx.get(url + "/ready", timeout=5).json()
        assert body["ready"] is True and body["model_version"] == serving
        assert any("registry degraded" in problem for problem in body["problems"])
        for _ in range(10):
            response = httpx.post(url + "/predict", json={"text": "@united great crew"}, timeout=30)
            assert response.status_code == 200 and response.json()["model_version"] == serving
    finally:
        relay.open()
    wait_until(lambda: httpx.get(url + "/ready", timeout=5).json()["registry_ok"] is True, 60, "registry back")


def test_worker_metrics_count_reloads_refusals_and_batches(reload_stack) -> None:
    """Runs last: by now this worker loaded two versions, refused one and answered batches."""
    url, _, _ = reload_stack
    serving = httpx.get(url + "/ready", timeout=5).json()["model_version"]
    (state,) = [json.loads(raw) for raw in _heartbeats(url)]
    text = httpx.get(f"http://127.0.0.1:{state['metrics_port']}/metrics", timeout=5).text
    assert _sample(text, "inference_model_reloads_total") >= 2
    assert _sample(text, "inference_model_refused_total") >= 1
    assert _sample(text, f'inference_model_version_info{{model_name="{MODEL_NAME}",version="{serving}"}}') == 1
    assert _sample(text, "inference_batch_size_count") > 0
    assert _sample(text, "inference_model_compute_seconds_count") > 0
    gateway_text = httpx.get(url + "/metrics", timeout=5).text
    assert _sample(gateway_text, 'gateway_requests_total{method="POST",route="/predict",status="200"}') > 0
    assert _sample(gateway_text, "gateway_predict_coalesce_wait_seconds_count") > 0


def _heartbeats(url: str) -> list[bytes]:
    redis_url = _REDIS_URLS[url]
    client = redis.Redis.from_url(redis_url)
    return [client.get(key) for key in client.scan_iter(match=redis_keys.INFERENCE_WORKER_HEARTBEAT_PREFIX + "*")]


def _sample(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " ") or (line.startswith(name + "{") and "{" not in name):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in the metrics")
