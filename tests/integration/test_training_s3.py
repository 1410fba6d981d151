"""The S3 artifact path: an MLflow server storing artifacts in a real S3 bucket (Ceph radosgw, as MinIO would)."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from local_stack.processes import PYTHON, ManagedProcess, start_mlflow

pytestmark = [pytest.mark.integration, pytest.mark.slow]

S3_SCRIPT = Path(__file__).resolve().parents[2].parent / "shared" / "services" / "s3-ceph.sh"
S3_PORT = os.environ.get("S3_PORT", "7480")
S3_ENDPOINT = f"http://127.0.0.1:{S3_PORT}"
ACCESS_KEY = os.environ.get("S3_ACCESS_KEY", "testaccess")
SECRET_KEY = os.environ.get("S3_SECRET_KEY", "testsecret123")
BUCKET = "air-paradis-mlflow-test"
TINY_CLASSICAL = {
    "dataset": "bundled-airline",
    "max_rows": 200,
    "grid": "small",
    "cv_folds": 2,
    "vectorizers": ["tfidf"],
    "models": ["logreg"],
}


def _s3_answers() -> bool:
    try:
        with urllib.request.urlopen(S3_ENDPOINT, timeout=2):
            return True
    except urllib.error.HTTPError:
        return True  # radosgw answers anonymous requests with an S3 error document: it is up
    except OSError:
        return False


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """The S3 server from ../shared/services/s3-ceph.sh; reused when one already listens, stopped only if ours."""
    started_here = False
    if not _s3_answers():
        if not S3_SCRIPT.is_file():
            pytest.skip(f"{S3_SCRIPT} is missing: the S3 artifact path needs ../shared/services/s3-ceph.sh")
        completed = subprocess.run(["bash", str(S3_SCRIPT), "start"], capture_output=True, text=True, timeout=900)
        if completed.returncode != 0 or not _s3_answers():
            pytest.skip(
                f"s3-ceph.sh could not start Ceph (exit {completed.returncode}): "
                + (completed.stderr or completed.stdout)[-800:]
            )
        started_here = True
    yield S3_ENDPOINT
    if started_here:
        subprocess.run(["bash", str(S3_SCRIPT), "stop"], capture_output=True, timeout=120)


@pytest.fixture(scope="module")
def s3_client(s3_endpoint: str):
    import boto3
    from botocore.exceptions import ClientError

    client = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        region_name="us-east-1",
    )
    try:
        client.head_bucket(Bucket=BUCKET)
    except ClientError:
        client.create_bucket(Bucket=BUCKET)  # the bucket is created when missing, as on a fresh MinIO
    return client


@pytest.fixture(scope="module")
def s3_mlflow(s3_endpoint: str, s3_client, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    s3_env = {
        "MLFLOW_S3_ENDPOINT_URL": s3_endpoint,
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    process: ManagedProcess
    process, url = start_mlflow(
        tmp_path_factory.mktemp("mlflow-s3"), extra_env=s3_env, artifacts_destination=f"s3://{BUCKET}/mlflow"
    )
    yield url
    process.stop()


def test_training_artifacts_land_in_the_s3_bucket(s3_mlflow: str, s3_client, redis_server) -> None:
    env = {
        **os.environ,
        "ENVIRONMENT": "test",
        "REDIS_URL": redis_server[1],
        "MLFLOW_TRACKING_URI": s3_mlflow,
        "EXPERIMENT_NAME": "s3-artifacts",
        "CLASSICAL_MODEL_NAME": "air-paradis-classical-s3",
        "HF_HUB_OFFLINE": "1",
    }
    completed = subprocess.run(
        [PYTHON, "-m", "training_worker", "train", "--family", "classical", "--params", json.dumps(TINY_CLASSICAL)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-4000:]
    summary = json.loads(completed.stdout.strip().splitlines()[-1])
    run_id = summary["run_id"]

    keys = [
        obj["Key"]
        for page in s3_client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix="mlflow/")
        for obj in page.get("Contents", [])
    ]
    run_keys = [k for k in keys if f"/{run_id}/artifacts/" in k]
    for name in ("plots/confusion_matrix.png", "plots/roc_curve.png", "plots/precision_recall_curve.png"):
        assert any(k.endswith(name) for k in run_keys), (name, run_keys)
    assert any(k.endswith("reports/classification_report.txt") for k in run_keys), run_keys
    assert any(k.endswith("/MLmodel") for k in keys), keys
    assert any(k.endswith("pipeline.joblib") for k in keys), keys
    png = next(k for k in run_keys if k.endswith("confusion_matrix.png"))
    assert s3_client.get_object(Bucket=BUCKET, Key=png)["Body"].read(8) == b"\x89PNG\r\n\x1a\n"

    # The registered model loads back through the server from the bucket and answers.
    import mlflow
    import pandas as pd

    mlflow.set_tracking_uri(s3_mlflow)
    try:
        model = mlflow.pyfunc.load_model(f"models:/air-paradis-classical-s3/{summary['model_version']}")
        answer = model.predict(pd.DataFrame({"text": ["@united thanks, lovely crew"]}))
    finally:
        mlflow.set_tracking_uri(None)
    assert list(answer.columns) == ["probability_positive", "label"]
