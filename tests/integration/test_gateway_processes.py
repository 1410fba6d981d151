"""GATEWAY_PROCESSES: several gateway processes on one port, each predicting through a real inference worker, one
/metrics summing them all; and the last log lines, as JSON, reaching the log after SIGTERM (gateway and worker)."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import httpx
import pytest

from local_stack.processes import ManagedProcess, wait_until
from tests.conftest import Stack, start_gateway, start_inference_worker, wait_ready

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REQUESTS = 40
_PREDICT_200 = re.compile(r'^gateway_requests_total\{method="POST",route="/predict",status="200"\} (\S+)$', re.M)


def json_lines(path: Path) -> list[dict]:
    """The log's JSON lines (a library may still print a plain warning line to stderr)."""
    return [json.loads(line) for line in path.read_text(errors="replace").splitlines() if line.startswith("{")]


def started_processes(log_path: Path) -> int:
    # Counted in the raw text: a line still being written is not JSON yet.
    return log_path.read_text(errors="replace").count('"message": "gateway started')


def predictions_counted(url: str) -> float:
    text = httpx.get(url + "/metrics", timeout=10).text  # one connection per scrape: any process may answer
    return sum(float(value) for value in _PREDICT_200.findall(text))


@pytest.mark.parametrize("processes", [1, 2])
def test_each_process_predicts_metrics_sum_them_and_the_last_lines_reach_the_log_after_sigterm(
    stack: Stack, inference_worker: ManagedProcess, processes: int
) -> None:
    gateway, url = start_gateway(
        stack, name=f"gateway-{processes}-processes", GATEWAY_PROCESSES=str(processes), LOG_FORMAT="json"
    )
    request_ids = [f"processes-{processes}-{index}" for index in range(REQUESTS)]
    try:
        wait_ready(url)
        # Every process must be listening before the requests start, or the kernel gives them all to the first.
        wait_until(lambda: started_processes(gateway.log_path) == processes, 120, f"{processes} gateway processes")
        time.sleep(1.0)  # from a process's start-up line to its socket listening
        for request_id in request_ids:
            # A new connection each time, so that the kernel spreads them over the processes' sockets.
            response = httpx.post(
                url + "/predict",
                json={"text": f"@united the crew on flight {request_id} was lovely"},
                headers={"X-Request-ID": request_id},
                timeout=30,
            )
            assert response.status_code == 200, response.text
            assert response.json()["label"] in ("positive", "negative")
        assert [predictions_counted(url) for _ in range(6)] == [float(REQUESTS)] * 6
    finally:
        gateway.stop(timeout_s=40)  # SIGTERM, as an orchestrator stops it

    lines = json_lines(gateway.log_path)
    access = {line["request_id"]: line for line in lines if line.get("request_id") in request_ids}
    assert sorted(access) == sorted(request_ids), f"{REQUESTS - len(access)} access lines missing"
    for line in access.values():
        assert (line["logger"], line["route"], line["status"], line["level"]) == (
            "gateway.access",
            "/predict",
            200,
            "INFO",
        )
        assert isinstance(line["ms"], float) and line["service"] == "gateway"
    assert len({line["pid"] for line in access.values()}) == processes
    # Written after SIGTERM, by the process that exits last: nothing queued was lost on the way out.
    assert lines[-1]["message"].startswith("gateway stopped"), lines[-3:]
    if processes > 1:
        stopped = [line for line in lines if line["message"].startswith("gateway process stopped")]
        assert len(stopped) == processes


def test_the_inference_worker_writes_its_last_json_lines_after_sigterm(stack: Stack, tiny_champion: dict) -> None:
    worker = start_inference_worker(stack, name="inference-worker-json-log", LOG_FORMAT="json")
    try:
        wait_until(
            lambda: any(line["message"].startswith("inference worker serving") for line in json_lines(worker.log_path)),
            120,
            "the worker's serving line",
            worker,
        )
    finally:
        worker.stop(timeout_s=30)
    lines = json_lines(worker.log_path)
    assert lines[-1]["message"].startswith("inference worker stopped"), lines[-3:]
    assert lines[-1]["service"] == "inference-worker" and lines[-1]["worker"]
    assert any(line["message"].startswith("inference worker stopping") for line in lines)
