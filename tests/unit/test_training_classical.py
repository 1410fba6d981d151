"""Classical family on ~300 real tweets with the small grid, tracked in a real (SQLite) MLflow store."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pandas as pd
import pytest
from mlflow import MlflowClient

from shared.training_params import ClassicalParams
from training_worker.datasets import load_dataset
from training_worker.families import classical
from training_worker.splits import make_split
from training_worker.tracking import FamilyContext, log_split

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict:
    store = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{Path(store, 'mlflow.db')}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("classical-unit")
    params = ClassicalParams(dataset="bundled-airline", max_rows=300, grid="small", cv_folds=2)
    split = make_split(load_dataset(params.dataset, params.max_rows), params.seed)
    steps: list[tuple[int, int]] = []
    try:
        with mlflow.start_run() as run:
            log_split(split)
            context = FamilyContext(
                0.9, "unit-test-key", progress=lambda current, total, _: steps.append((current, total))
            )
            result = classical.train(split, params, context)
    finally:
        mlflow.set_tracking_uri(None)
    return {"uri": uri, "run_id": run.info.run_id, "result": result, "steps": steps, "split": split}


def test_one_nested_run_per_vectorizer_and_model(trained: dict) -> None:
    client = MlflowClient(trained["uri"])
    parent = client.get_run(trained["run_id"])
    children = client.search_runs(
        [parent.info.experiment_id], f"tags.mlflow.parentRunId = '{trained['run_id']}'", max_results=50
    )
    pairs = {(c.data.params["vectorizer"], c.data.params["model"]) for c in children}
    assert pairs == {(v, m) for v in ("bow", "tfidf") for m in ("logreg", "naive_bayes", "linear_svm", "random_forest")}
    for child in children:
        assert "grid" in child.data.params
        assert any(key.startswith("best_model__") for key in child.data.params)
        for metric in (
            "cv_average_precision",
            "val_precision",
            "val_recall_at_target_precision",
            "test_precision",
            "test_recall",
            "test_f1",
            "test_roc_auc",
            "test_pr_auc",
        ):
            assert metric in child.data.metrics, (child.info.run_name, metric)
    assert parent.data.params["best_candidate"] in {f"{v}+{m}" for v, m in pairs}
    assert parent.data.tags["split_hash"] == trained["split"].split_hash


def test_progress_counts_every_pair(trained: dict) -> None:
    assert trained["steps"][0] == (0, 8)
    assert trained["steps"][-1] == (8, 8)


def test_registered_run_has_plots_report_and_kpis(trained: dict) -> None:
    client = MlflowClient(trained["uri"])
    plots = {Path(a.path).name for a in client.list_artifacts(trained["run_id"], "plots")}
    assert {"confusion_matrix.png", "roc_curve.png", "precision_recall_curve.png"} <= plots
    assert [Path(a.path).name for a in client.list_artifacts(trained["run_id"], "reports")] == [
        "classification_report.txt"
    ]
    metrics = trained["result"].test_metrics
    assert {"test_precision", "test_recall", "test_roc_auc", "test_pr_auc", "test_recall_at_target_precision"} <= set(
        metrics
    )
    assert metrics["test_roc_auc"] > 0.6
    # Test figures are at the operating point chosen on validation, not at 0.5.
    assert metrics["test_threshold"] == trained["result"].operating_point.threshold
    assert trained["result"].tags["embedding_type"] in ("bow", "tfidf")


def test_logged_pyfunc_answers_probability_and_label(trained: dict) -> None:
    mlflow.set_tracking_uri(trained["uri"])
    try:
        model = mlflow.pyfunc.load_model(trained["result"].model_uri)
    finally:
        mlflow.set_tracking_uri(None)
    answer = model.predict(pd.DataFrame({"text": ["@united thank you, great crew!", "@united lost my bag again"]}))
    assert list(answer.columns) == ["probability_positive", "label"]
    assert answer["probability_positive"].between(0, 1).all()
    assert set(answer["label"]) <= {"positive", "negative"}


def test_best_is_chosen_on_validation_not_on_a_model_that_never_says_positive() -> None:
    def candidate(name: str, recall: float, recall_at_target: float, pr_auc: float) -> classical.Candidate:
        validation = {"val_recall": recall, "val_recall_at_target_precision": recall_at_target, "val_pr_auc": pr_auc}
        return classical.Candidate("bow", name, search=None, validation=validation, run_id=name)  # type: ignore[arg-type]

    timid = candidate("timid", 0.05, 0.9, 0.99)
    solid = candidate("solid", 0.6, 0.6, 0.8)
    tied = candidate("tied", 0.6, 0.6, 0.85)
    assert classical.choose_best([timid, solid, tied]).model == "tied"
    assert classical.choose_best([timid]).model == "timid"
