"""The encoder's typo correction on trained LSTMs: the same graph and vocabulary read without and with it.

    .venv/bin/python benchmarks/typo_correction.py --state-dir DIR [--output FILE]

DIR is a `benchmarks/quality.py --state-dir`: its private MLflow is started again and every registered LSTM version
in it is scored twice on the project's split, through its encoder without typo correction and with it
(`SequenceEncoder.with_typo_correction`, the bundled GloVe's head as the real words kept, unless saved with it).
Each way picks its own threshold on validation. Printed per model and way: P and R at the threshold, recall at precision
0.90 and ROC AUC on test, the behavioural checks, and the in-process floor per tweet, the two ways timed in turns.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from benchmarks.quality import SIGNING_KEY, TARGET, floors_of

CAPABILITIES = ("clear positive", "typos keep a positive positive", "negated negative is not confidently negative")


def describe(params: dict[str, str]) -> str:
    """The LSTM as its run's parameters say: embedding, direction, teacher, transfer set."""
    shape = "BiLSTM" if params.get("bidirectional") == "True" else "LSTM"
    teacher = params.get("teacher", "none")
    taught = f", student of {teacher}, {params.get('augment_copies')} copies" if teacher != "none" else ""
    negated = ", negated copies" if params.get("negation_counterfactuals") == "True" else ""
    size = f"{params.get('lstm_units')} units, {params.get('epochs')} epochs"
    return f"{params.get('embedding')} {shape} {size}{taught}{negated}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--state-dir", required=True, type=Path)
    parser.add_argument("--output", default=None, type=Path)
    args = parser.parse_args()

    import mlflow

    from local_stack.processes import start_mlflow
    from sentiment_model.lstm import LstmScorer, load_verified_lstm
    from training_worker.capabilities import overall_failure_rate, run_capabilities
    from training_worker.datasets import load_dataset
    from training_worker.embeddings import real_words
    from training_worker.evaluation import choose_operating_point, classification_metrics
    from training_worker.settings import TrainingSettings
    from training_worker.splits import make_split

    server, url = start_mlflow(args.state_dir / "mlflow")
    lines = [
        "| model | typo correction | threshold | P at threshold | R at threshold | recall at P 0.90 | ROC AUC "
        "| behavioural failure | " + " | ".join(CAPABILITIES) + " | floor ms/tweet (batch 1 / 64) |",
        "|---|---|---|---|---|---|---|---|" + "---|" * len(CAPABILITIES) + "---|",
    ]
    try:
        mlflow.set_tracking_uri(url)
        name = TrainingSettings().lstm_model_name
        versions = sorted(mlflow.MlflowClient().search_model_versions(f"name='{name}'"), key=lambda v: int(v.version))
        split = make_split(load_dataset("bundled"), 42, 0.1, 0.2)
        words = real_words()
        scorers: dict[str, LstmScorer] = {}
        labels: dict[str, str] = {}
        with tempfile.TemporaryDirectory() as tmp:
            for version in versions:
                folder = Path(mlflow.artifacts.download_artifacts(f"models:/{name}/{version.version}", dst_path=tmp))
                saved, _ = load_verified_lstm(folder, SIGNING_KEY)
                encoder = saved.encoder
                ways = {
                    "without": replace(encoder, correct_typos=False, kept_words=[]),
                    "with": encoder if encoder.correct_typos else encoder.with_typo_correction(words),
                }
                for way, way_encoder in ways.items():
                    key = f"v{version.version} {way}"
                    scorers[key] = LstmScorer(way_encoder, saved.onnx_bytes, saved.threshold, saved.metadata)
                    labels[key] = f"v{version.version} {describe(mlflow.get_run(version.run_id).data.params)} | {way}"
        floors = floors_of(scorers)
        for key, scorer in scorers.items():
            point = choose_operating_point(split.val_labels, scorer.predict_proba(split.val_texts), TARGET)
            test = scorer.predict_proba(split.test_texts)
            metrics = classification_metrics(split.test_labels, test, point.threshold, target_precision=TARGET)
            results = run_capabilities(scorer.predict_proba, point.threshold)
            line = (
                f"| {labels[key]} | {point.threshold:.3f} | {metrics['test_precision']:.3f} | "
                f"{metrics['test_recall']:.3f} | {metrics['test_recall_at_target_precision']:.3f} | "
                f"{metrics['test_roc_auc']:.4f} | {overall_failure_rate(results):.1%} | "
                + " | ".join(f"{results[c].failure_rate:.0%}" for c in CAPABILITIES)
                + f" | {floors[key][0]:.3f} / {floors[key][1]:.4f} |"
            )
            lines.append(line)
            print(line, flush=True)
    finally:
        mlflow.set_tracking_uri(None)
        server.stop()
    report = "\n".join(lines)
    print(report)
    if args.output:
        args.output.write_text(report + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
