"""`python -m training_worker [worker|train|bootstrap]`: the Celery worker, or one training run from the shell."""

from __future__ import annotations

import argparse
import json
import sys

from shared.logging_setup import configure_logging
from training_worker.settings import get_settings

# What `bootstrap` trains when the registry has no champion: the bundled data, a few epochs, ~1 minute on CPU.
BOOTSTRAP_PARAMS = {"dataset": "bundled", "embedding": "word2vec", "epochs": 4, "lstm_units": 64}


def _print_progress(current: int, total: int, message: str) -> None:
    print(f"[train] {current}/{total} {message}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training_worker")
    sub = parser.add_subparsers(dest="command", required=True)
    worker = sub.add_parser("worker", help="run the Celery worker on the training queue")
    worker.add_argument("celery_args", nargs="*")
    train = sub.add_parser("train", help="train one family now, log, register and maybe promote it")
    train.add_argument("--family", choices=["classical", "lstm", "bert"], required=True)
    train.add_argument("--params", default="{}", help="JSON object of the family's parameters")
    boot = sub.add_parser("bootstrap", help="train an LSTM champion if the registry has none")
    boot.add_argument("--params", default=None, help="JSON object overriding the bootstrap parameters")
    args = parser.parse_args(argv)

    settings = get_settings()
    configure_logging(settings.log_level)
    if args.command == "worker":
        from training_worker.celery_app import app

        app.worker_main(
            [
                "worker",
                "--loglevel",
                settings.log_level,
                "-Q",
                settings.training_queue,
                "--concurrency",
                "1",
                "--prefetch-multiplier",
                "1",
                "--without-gossip",
                "--without-mingle",
                *args.celery_args,
            ]
        )
        return 0

    from shared.redis_client import connect
    from training_worker.pipeline import run_training

    redis_client = connect(settings.redis_url)
    if args.command == "bootstrap":
        from mlflow import MlflowClient

        from shared.registry import champion_version

        existing = champion_version(
            MlflowClient(settings.mlflow_tracking_uri), settings.lstm_model_name, settings.champion_alias
        )
        if existing is not None:
            print(f"[bootstrap] champion already registered: {existing.name} v{existing.version}", flush=True)
            return 0
        params = {**BOOTSTRAP_PARAMS, **json.loads(args.params or "{}")}
        outcome = run_training("lstm", params, settings, redis_client, _print_progress)
    else:
        outcome = run_training(args.family, json.loads(args.params), settings, redis_client, _print_progress)
    print(
        json.dumps(
            {
                "model_name": outcome.model_name,
                "model_version": outcome.model_version,
                "promoted": outcome.promoted,
                "run_id": outcome.run_id,
                "metrics": outcome.metrics,
            }
        ),
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
