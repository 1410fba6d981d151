"""Print the training results as Markdown, read from MLflow (never typed by hand): one row per family and variant.

    .venv/bin/python scripts/results_table.py --tracking-uri http://127.0.0.1:5000 [--experiment NAME]

The newest finished run of each (family, embedding type) is shown, then every classical candidate of the newest
classical run (one nested run per vectorizer x model).
"""

from __future__ import annotations

import argparse
import sys

from mlflow import MlflowClient
from mlflow.entities import Run

PARENT_TAG = "mlflow.parentRunId"
KPI_COLUMNS = [
    ("test precision", "test_precision"),
    ("recall", "test_recall"),
    ("F1", "test_f1"),
    ("ROC AUC", "test_roc_auc"),
    ("accuracy", "test_accuracy"),
]


def _fmt(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _variant(run: Run) -> str:
    tags, params = run.data.tags, run.data.params
    family = tags.get("family", "?")
    if family == "classical":
        return params.get("best_candidate", tags.get("embedding_type", "?"))
    if family == "bert":
        return f"{params.get('base_model', 'bert')}, {params.get('encoder_layers', '?')} layers"
    return params.get("embedding", tags.get("embedding_type", "?"))


def _registered_version(client: MlflowClient, run: Run) -> str:
    try:
        versions = client.search_model_versions(f"run_id = '{run.info.run_id}'")
    except Exception:  # an older server without run_id search: the column is informative only
        return "?"
    # search_model_versions leaves aliases empty: read each version for them.
    described = [client.get_model_version(v.name, v.version) for v in versions]
    return ", ".join(f"v{v.version}" + (" (champion)" if "champion" in (v.aliases or []) else "") for v in described)


def family_rows(client: MlflowClient, runs: list[Run]) -> list[str]:
    newest: dict[tuple[str, str], Run] = {}
    for run in runs:
        family = run.data.tags.get("family")
        if family is None or PARENT_TAG in run.data.tags:
            continue
        key = (family, _variant(run) if family == "lstm" else "")
        if key not in newest or run.info.start_time > newest[key].info.start_time:
            newest[key] = run
    header = [
        "family",
        "variant",
        "dataset",
        "train / test rows",
        *[c for c, _ in KPI_COLUMNS],
        "training time (s)",
        "registered",
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for (family, _), run in sorted(newest.items()):
        metrics, params = run.data.metrics, run.data.params
        cells = [
            family,
            _variant(run),
            run.data.tags.get("dataset", "?"),
            f"{params.get('split_rows_train', '?')} / {params.get('split_rows_test', '?')}",
            *[_fmt(metrics.get(key)) for _, key in KPI_COLUMNS],
            _fmt(metrics.get("train_seconds"), 1),
            _registered_version(client, run),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def classical_rows(runs: list[Run]) -> list[str]:
    parents = [r for r in runs if r.data.tags.get("family") == "classical" and PARENT_TAG not in r.data.tags]
    if not parents:
        return []
    parent = max(parents, key=lambda r: r.info.start_time)
    children = [r for r in runs if r.data.tags.get(PARENT_TAG) == parent.info.run_id]
    header = ["vectorizer + model", "CV precision", "val precision", *[c for c, _ in KPI_COLUMNS], "fit time (s)"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    chosen = parent.data.params.get("best_candidate")

    def rank(run: Run) -> tuple[float, float]:
        return (-run.data.metrics.get("val_precision", 0.0), -run.data.metrics.get("val_f1", 0.0))

    for child in sorted(children, key=rank):
        name = f"{child.data.params.get('vectorizer')}+{child.data.params.get('model')}"
        metrics = child.data.metrics
        cells = [
            f"**{name}** (registered)" if name == chosen else name,
            _fmt(metrics.get("cv_precision")),
            _fmt(metrics.get("val_precision")),
            *[_fmt(metrics.get(key)) for _, key in KPI_COLUMNS],
            _fmt(metrics.get("train_seconds"), 1),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracking-uri", default="http://127.0.0.1:5000")
    parser.add_argument("--experiment", default="air-paradis-sentiment")
    args = parser.parse_args(argv)
    client = MlflowClient(args.tracking_uri)
    experiment = client.get_experiment_by_name(args.experiment)
    if experiment is None:
        sys.stderr.write(f"no experiment {args.experiment!r} at {args.tracking_uri}: train something first\n")
        return 1
    runs = client.search_runs([experiment.experiment_id], "attributes.status = 'FINISHED'", max_results=5000)
    out = ["### Test-set results per family", "", *family_rows(client, runs)]
    classical = classical_rows(runs)
    if classical:
        out += ["", "### Classical candidates (newest classical run; chosen on validation precision)", "", *classical]
    sys.stdout.write("\n".join(out) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
