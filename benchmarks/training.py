"""Training benchmark: trains every family on the bundled data with the documented default params, one run.

    .venv/bin/python benchmarks/training.py                      # default params, full bundled corpus
    .venv/bin/python benchmarks/training.py --quick              # a few hundred rows, tiny models: a smoke check
    .venv/bin/python benchmarks/training.py --max-rows 6000      # the reduced run behind docs/training.md
    .venv/bin/python benchmarks/training.py --state-dir /tmp/bench-train   # keep MLflow (for results_table.py)

It starts a private MLflow server (SQLite + local artifacts in the state dir), runs each family through the
same pipeline a training job uses (fixed split, MLflow run, registration, promotion), and prints the training
time per family and its ratio to the fastest, measured in this one run. `scripts/results_table.py
--tracking-uri sqlite:///<state-dir>/mlflow/mlflow.db` then prints the KPI table from those runs.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from local_stack.processes import start_mlflow  # noqa: E402
from shared.families import FAMILY_NAMES  # noqa: E402

# The documented defaults (docs/training.md): what a job gets when an admin sends only the family.
DEFAULT_RUNS: list[tuple[str, dict]] = [
    ("classical", {"dataset": "bundled", "grid": "default", "cv_folds": 3}),
    ("lstm", {"dataset": "bundled", "embedding": "word2vec"}),
    ("lstm", {"dataset": "bundled", "embedding": "glove"}),
    ("bert", {"dataset": "bundled"}),
]
QUICK_OVERRIDES = {
    "classical": {"max_rows": 400, "grid": "small", "cv_folds": 2},
    "lstm": {"max_rows": 400, "epochs": 1, "embedding_dim": 16, "lstm_units": 8, "word2vec_epochs": 2},
    "bert": {"max_rows": 300, "num_layers": 2, "max_length": 32},
}


def runs_to_do(args: argparse.Namespace) -> list[tuple[str, dict]]:
    runs = []
    for family, params in DEFAULT_RUNS:
        if args.families and family not in args.families:
            continue
        merged = dict(params)
        if args.quick:
            merged.update(QUICK_OVERRIDES[family])
        if args.max_rows:
            merged["max_rows"] = args.max_rows
        runs.append((family, merged))
    return runs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny data and models: seconds, not minutes")
    parser.add_argument("--max-rows", type=int, default=None, help="seeded sample of the bundled corpus")
    parser.add_argument("--families", nargs="*", choices=FAMILY_NAMES, default=None)
    parser.add_argument("--state-dir", type=Path, default=None, help="keep MLflow's database and artifacts here")
    parser.add_argument("--experiment", default="air-paradis-sentiment")
    args = parser.parse_args(argv)

    state = args.state_dir or Path(tempfile.mkdtemp(prefix="bench-training-"))
    mlflow_process, mlflow_url = start_mlflow(state / "mlflow")
    os.environ["MLFLOW_TRACKING_URI"] = mlflow_url
    from training_worker.pipeline import run_training
    from training_worker.settings import TrainingSettings

    settings = TrainingSettings(mlflow_tracking_uri=mlflow_url, experiment_name=args.experiment)
    results = []
    try:
        for family, params in runs_to_do(args):
            label = family + (f"/{params['embedding']}" if "embedding" in params else "")
            sys.stdout.write(f"training {label} params={params}\n")
            sys.stdout.flush()
            started = time.perf_counter()
            outcome = run_training(family, params, settings)
            wall = time.perf_counter() - started
            results.append((label, outcome.train_seconds, wall, outcome.metrics["test_precision"], outcome))
    finally:
        mlflow_process.stop()

    fastest = min(r[1] for r in results)
    lines = [
        "",
        f"{'family':<16}{'train s':>10}{'job wall s':>12}{'x fastest':>11}{'test precision':>16}  version",
        "-" * 78,
    ]
    for label, train_s, wall_s, precision, outcome in results:
        lines.append(
            f"{label:<16}{train_s:>10.1f}{wall_s:>12.1f}{train_s / fastest:>11.1f}{precision:>16.3f}"
            f"  {outcome.model_name} v{outcome.model_version}{' (promoted)' if outcome.promoted else ''}"
        )
    lines += [
        "",
        "train s: fitting only (features, grid search / epochs); job wall s: the whole job (data, split, logging,",
        "plots, model upload, registration). Ratios are to the fastest family, measured in this one run.",
        f"MLflow state: {state}/mlflow  ->  .venv/bin/python scripts/results_table.py "
        f"--tracking-uri sqlite:///{(state / 'mlflow' / 'mlflow.db').resolve()} --experiment {args.experiment}",
    ]
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
