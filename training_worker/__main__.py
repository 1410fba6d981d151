"""`python -m training_worker [worker|train|bootstrap]`: the Celery worker, or one training run from the shell."""

from __future__ import annotations

import argparse
import atexit
import json
import logging
import os
import shutil
import sys
import tempfile

from shared.cpu_priority import lower_cpu_priority
from shared.families import FAMILY_NAMES
from shared.logging_setup import configure_logging, kv
from shared.settings import ModelSigningSettings
from training_worker.bootstrap import bootstrap_params, teacher_jobs
from training_worker.settings import get_settings

log = logging.getLogger("training_worker")


def _untrusted_reason(tracking_uri: str, name: str, version: str, settings: ModelSigningSettings) -> str | None:
    """Why the version's manifest is not signed with this MODEL_SIGNING_KEY, or None when it is."""
    from sentiment_model.manifest import ModelNotTrusted
    from training_worker.registered_models import verified_manifest

    try:
        verified_manifest(name, version, settings.model_signing_key.get_secret_value(), tracking_uri)
    except ModelNotTrusted as exc:
        return str(exc)
    return None


def _share_metrics_between_processes() -> None:
    """Jobs run in the prefork pool's children and the main process serves /metrics: prometheus_client's
    multiprocess mode shares the values through files in a folder of this worker's own, which must be named
    before prometheus_client is first imported."""
    folder = tempfile.mkdtemp(prefix="training-worker-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder
    owner = os.getpid()
    atexit.register(lambda: os.getpid() == owner and shutil.rmtree(folder, ignore_errors=True))


def _has_gpu() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def _print_progress(current: int, total: int, message: str) -> None:
    print(f"[train] {current}/{total} {message}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training_worker")
    sub = parser.add_subparsers(dest="command", required=True)
    worker = sub.add_parser(
        "worker",
        help="run the Celery worker on the training queue",
        description="Runs training jobs queued by POST /admin/training-jobs: a Celery worker on TRAINING_QUEUE, one "
        "job at a time. Settings come from the environment (docs/settings.md).",
    )
    worker.add_argument("celery_args", nargs="*", help="extra arguments for `celery worker`, e.g. --hostname=NAME")
    train = sub.add_parser("train", help="train one family now, log, register and maybe promote it")
    train.add_argument("--family", choices=FAMILY_NAMES, required=True)
    train.add_argument("--params", default="{}", help="JSON object of the family's parameters")
    boot = sub.add_parser("bootstrap", help="train an LSTM champion if the registry has none")
    boot.add_argument("--params", default=None, help="JSON object overriding the bootstrap parameters")
    args = parser.parse_args(argv)

    settings = get_settings()
    # Before any thread or pool process starts: each inherits it.
    priority = lower_cpu_priority(settings.training_worker_nice)
    configure_logging(settings.log_level, settings.log_format, settings.service_name)
    settings.limit_mlflow_requests()
    if args.command == "worker":
        log.info("training worker starting %s", kv(queue=settings.training_queue, nice=priority.describe()))
        if settings.metrics_port > 0:
            _share_metrics_between_processes()
        from training_worker import metrics
        from training_worker.celery_app import create_celery_app

        metrics.serve(settings.metrics_port)
        create_celery_app(settings).worker_main(
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
            untrusted = _untrusted_reason(settings.mlflow_tracking_uri, existing.name, existing.version, settings)
            if untrusted is None:
                print(f"[bootstrap] champion already registered: {existing.name} v{existing.version}", flush=True)
                return 0
            # Inference workers refuse it: an old unsigned registry, or one signed with another key.
            refused = f"{existing.name} v{existing.version}"
            print(f"[bootstrap] champion {refused} is refused ({untrusted}): training a signed one", flush=True)
        params = bootstrap_params(json.loads(args.params or "{}"), _has_gpu())
        versions = dict(params.get("teacher_versions") or {})
        for family, teacher_params in teacher_jobs(params):
            print(f"[bootstrap] training the {family} teacher", flush=True)
            versions[family] = run_training(
                family, teacher_params, settings, redis_client, _print_progress
            ).model_version
        outcome = run_training(
            "lstm", {**params, "teacher_versions": versions}, settings, redis_client, _print_progress
        )
        if not outcome.promoted:
            # Nothing would be served: say so and fail, rather than start a stack whose /ready never turns green.
            reason = outcome.decision.get("reason", "not promoted")
            print(f"[bootstrap] the first LSTM was not promoted ({reason}): no champion to serve", flush=True)
            return 1
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


def worker_main() -> int:
    """`air-paradis-training-worker`: the Celery worker on the training queue (`python -m training_worker worker`)."""
    return main(["worker", *sys.argv[1:]])


if __name__ == "__main__":
    sys.exit(main())
