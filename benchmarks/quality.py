"""Model quality on the project's split, one run: every family, the ten-line baseline and the distilled student.

    .venv/bin/python benchmarks/quality.py [--max-rows N] [--state-dir DIR] [--bert]

For each model it prints precision and recall at its operating point (threshold chosen on validation for the
target precision), recall at precision 0.90 and ROC/PR AUC on test, training time, the behavioural checks
(training_worker/capabilities.py) and, for LSTM variants, the in-process serving floor per tweet. Then the
cross-domain figures: trained on the airline part and tested on the rest of the corpus, the reverse, and the
airline part alone. Runs go into a private MLflow server under --state-dir.

`--bert` adds the fine-tuned MiniLM, the teacher it makes with the classical champion (their average), and the
BiLSTM student of that teacher, in the main table and in every cross-domain row. `--bert-params` changes that
fine-tuning in the main table (e.g. '{"model_name_or_path": "bundled-mpnet", "epochs": 1}' after
scripts/install-mpnet.sh); the cross-domain rows keep MiniLM. `--skip-cross-domain` leaves those rows out.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

TARGET = 0.90
SIGNING_KEY = "quality-benchmark-key"
TEACHER_PARAMS = {"vectorizers": ["tfidf"], "models": ["logreg"], "grid": "default"}
# Today's LSTM before distillation: the old bootstrap's Word2Vec + LSTM.
PLAIN_LSTM = {"embedding": "word2vec", "epochs": 4, "lstm_units": 64}
BASE_MODEL_NAMES = {"bundled-minilm": "MiniLM", "bundled-mpnet": "MPNet"}


@dataclass
class Row:
    name: str
    setting: str
    threshold: float
    precision: float
    recall: float
    recall_at_target: float
    roc_auc: float
    pr_auc: float
    train_s: float
    floor_ms: tuple[float, float] | None = None  # in-process ms per tweet at batch 1 and 64, timed in turns
    capabilities: dict[str, float] | None = None

    def line(self) -> str:
        floor = f"{self.floor_ms[0]:.3f} / {self.floor_ms[1]:.4f}" if self.floor_ms else "-"
        return (
            f"| {self.name} | {self.setting} | {self.threshold:.3f} | {self.precision:.3f} | {self.recall:.3f} | "
            f"{self.recall_at_target:.3f} | {self.roc_auc:.4f} | {self.pr_auc:.4f} | {self.train_s:.0f} | {floor} |"
        )


HEADER = (
    "| model | setting | threshold | P at threshold | R at threshold | recall at P 0.90 | ROC AUC | PR AUC | train s "
    "| floor ms/tweet (batch 1 / 64) |\n|---|---|---|---|---|---|---|---|---|---|"
)


def _row(name: str, setting: str, metrics: dict[str, float], train_s: float) -> Row:
    return Row(
        name,
        setting,
        metrics["test_threshold"],
        metrics["test_precision"],
        metrics["test_recall"],
        metrics["test_recall_at_target_precision"],
        metrics["test_roc_auc"],
        metrics["test_pr_auc"],
        train_s,
    )


def baseline(split) -> tuple[Row, Callable[[Sequence[str]], np.ndarray], float]:
    """The ten-line TF-IDF (1-2-grams) + LogisticRegression on the shared preprocessing."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    from sentiment_model.preprocessing import preprocess_to_text
    from training_worker.evaluation import choose_operating_point, classification_metrics

    started = time.perf_counter()
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, token_pattern=r"[^ ]+")
    features = vectorizer.fit_transform([preprocess_to_text(t) for t in split.train_texts])
    model = LogisticRegression(C=10, max_iter=3000, solver="liblinear").fit(features, split.train_labels)

    def score(texts: Sequence[str]) -> np.ndarray:
        return model.predict_proba(vectorizer.transform([preprocess_to_text(t) for t in texts]))[:, 1]

    train_s = time.perf_counter() - started
    point = choose_operating_point(split.val_labels, score(split.val_texts), TARGET)
    metrics = classification_metrics(
        split.test_labels, score(split.test_texts), point.threshold, target_precision=TARGET
    )
    return _row("TF-IDF + LogisticRegression (ten lines)", "baseline", metrics, train_s), score, point.threshold


def serving_floors_ms(model_uris: dict[str, str], work_dir: Path, rounds: int = 7) -> dict[str, tuple[float, float]]:
    """Median in-process time per tweet of each served scorer (preprocessing + encoder + ONNX), at batch 1 and 64.

    The models are timed in turns, round after round, so that a machine whose speed drifts slows them alike.
    """
    import mlflow

    from sentiment_model.lstm import load_verified_lstm

    scorers = {}
    for name, uri in model_uris.items():
        folder = Path(mlflow.artifacts.download_artifacts(uri, dst_path=str(work_dir / name.replace(" ", "_"))))
        scorers[name] = load_verified_lstm(folder, SIGNING_KEY)[0]
    return floors_of(scorers, rounds)


def floors_of(scorers: dict, rounds: int = 7) -> dict[str, tuple[float, float]]:
    """Median in-process ms per tweet of each scorer at batch 1 and 64, timed in turns round after round."""
    from training_worker.datasets import load_dataset

    tweets = load_dataset("bundled-airline").texts[:640]
    samples: dict[tuple[str, int], list[float]] = {(name, b): [] for name in scorers for b in (1, 64)}
    for scorer in scorers.values():
        scorer.predict_proba(tweets[:64])
    for _ in range(rounds):
        for name, scorer in scorers.items():
            for batch, calls in ((1, 40), (64, 4)):
                for index in range(calls):
                    call = tweets[(index * batch) % 576 : (index * batch) % 576 + batch]
                    started = time.perf_counter()
                    scorer.predict_proba(call)
                    samples[(name, batch)].append((time.perf_counter() - started) * 1000 / batch)
    return {name: (float(np.median(samples[(name, 1)])), float(np.median(samples[(name, 64)]))) for name in scorers}


def capabilities_of(score: Callable[[Sequence[str]], np.ndarray], threshold: float) -> dict[str, float]:
    from training_worker.capabilities import overall_failure_rate, run_capabilities, table

    results = run_capabilities(score, threshold)
    print(table(results), flush=True)
    return {**{name: r.failure_rate for name, r in results.items()}, "overall": overall_failure_rate(results)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-rows", type=int, default=None, help="a seeded sample of the corpus (default: all)")
    parser.add_argument("--state-dir", default=None)
    parser.add_argument("--bert", action="store_true", help="also fine-tune the BERT family (slow on CPU)")
    parser.add_argument(
        "--bert-params", type=json.loads, default={}, help="JSON over the BERT teacher's parameters; implies --bert"
    )
    parser.add_argument("--skip-cross-domain", action="store_true", help="leave the cross-domain rows out")
    parser.add_argument("--output", default=None, help="write the tables as Markdown here too")
    args = parser.parse_args()
    args.bert = args.bert or bool(args.bert_params)

    from local_stack.processes import start_mlflow
    from training_worker.datasets import load_dataset
    from training_worker.pipeline import run_training
    from training_worker.registered_models import load_verified
    from training_worker.settings import TrainingSettings
    from training_worker.splits import make_split

    state = Path(args.state_dir or tempfile.mkdtemp(prefix="quality-"))
    server, url = start_mlflow(state / "mlflow")
    try:
        os.environ.update(
            {"MLFLOW_TRACKING_URI": url, "MODEL_SIGNING_KEY": SIGNING_KEY, "TARGET_PRECISION": str(TARGET)}
        )
        settings = TrainingSettings(experiment_name="quality-benchmark")
        common = {"dataset": "bundled", **({"max_rows": args.max_rows} if args.max_rows else {})}
        split = make_split(load_dataset("bundled", args.max_rows), 42, 0.1, 0.2)
        print(
            f"split: {len(split.train_texts)} train / {len(split.val_texts)} val / {len(split.test_texts)} test, "
            f"{np.mean(split.test_labels):.1%} positive in test",
            flush=True,
        )
        rows: list[Row] = []
        row, score, threshold = baseline(split)
        row.capabilities = capabilities_of(score, threshold)
        rows.append(row)

        def trained(family: str, params: dict, name: str, setting: str) -> tuple[Row, object]:
            started = time.perf_counter()
            outcome = run_training(family, {**common, **params}, settings)
            row = _row(name, setting, outcome.metrics, time.perf_counter() - started)
            print(row.line(), "|", outcome.decision.get("reason"), flush=True)
            return row, outcome

        from training_worker.bootstrap import BOOTSTRAP_BERT_TEACHER_PARAMS, BOOTSTRAP_PARAMS, student_params

        plans = [
            (
                "classical",
                {"models": ["logreg", "naive_bayes", "linear_svm"]},
                "classical family (best of grid)",
                "BoW/TF-IDF x LR, NB, SVM",
            ),
            ("lstm", PLAIN_LSTM, "LSTM, Word2Vec (gold labels)", "4 epochs, 64 units"),
            (
                "lstm",
                {**BOOTSTRAP_PARAMS, "teacher": "none", "negation_counterfactuals": False},
                "BiLSTM, GloVe (gold labels)",
                "6 epochs, warm-up 2",
            ),
            (
                "lstm",
                {**BOOTSTRAP_PARAMS, "negation_counterfactuals": False},
                "BiLSTM student of the classical champion",
                "distilled, 2 augmented copies",
            ),
            (
                "lstm",
                BOOTSTRAP_PARAMS,
                "BiLSTM student + negation counterfactuals (bootstrap)",
                "as above + negated copies",
            ),
        ]
        bert_params = {**BOOTSTRAP_BERT_TEACHER_PARAMS, **args.bert_params}
        base = bert_params.get("model_name_or_path", settings.bert_model)
        base_name = BASE_MODEL_NAMES.get(base, base)
        if args.bert:
            epochs = bert_params["epochs"]
            bert_setting = f"{epochs} epoch{'s' * (epochs != 1)}, batch {bert_params['batch_size']}" + (
                f", lr {bert_params['learning_rate']:g}" if "learning_rate" in bert_params else ""
            )
            plans.insert(1, ("bert", bert_params, f"BERT family (bundled {base_name}), fine-tuned", bert_setting))
            plans.append(
                (
                    "lstm",
                    student_params("bert+classical"),
                    f"BiLSTM student of {base_name} + classical",
                    "distilled, 6 augmented copies, 8 epochs + negated copies",
                )
            )
        lstm_uris: dict[str, str] = {}
        teacher_versions: dict[str, str] = {}
        for family, params, name, setting in plans:
            if params.get("teacher", "none") != "none":
                params = {**params, "teacher_versions": teacher_versions}
            row, outcome = trained(family, params, name, setting)
            if family in ("classical", "bert"):
                teacher_versions[family] = outcome.model_version
            with tempfile.TemporaryDirectory(dir=state) as tmp:
                verified = load_verified(outcome.model_name, outcome.model_version, SIGNING_KEY, Path(tmp))
                row.capabilities = capabilities_of(verified.model.predict_proba, verified.model.threshold)
            if family == "lstm":
                lstm_uris[name] = f"models:/{outcome.model_name}/{outcome.model_version}"
            rows.append(row)
            if family == "bert":
                rows.append(averaged_teacher_row(split, teacher_versions, settings, state, base_name))
        for name, floor in serving_floors_ms(lstm_uris, state / "downloads").items():
            next(r for r in rows if r.name == name).floor_ms = floor

        cross = [] if args.skip_cross_domain else cross_domain(settings, args.max_rows, args.bert)
        report = render(rows, cross)
        print(report, flush=True)
        if args.output:
            Path(args.output).write_text(report, encoding="utf-8")
    finally:
        server.stop()
    return 0


def averaged_teacher_row(split, versions: dict[str, str], settings, state: Path, base_name: str) -> Row:
    """The distillation teacher itself: the average of the BERT and classical champions' probabilities."""
    from training_worker.evaluation import choose_operating_point, classification_metrics
    from training_worker.registered_models import load_verified

    started = time.perf_counter()
    scores = {"val": [], "test": []}
    names = {"bert": settings.bert_model_name, "classical": settings.classical_model_name}
    for family, version in versions.items():
        with tempfile.TemporaryDirectory(dir=state) as tmp:
            model = load_verified(names[family], version, SIGNING_KEY, Path(tmp)).model
            scores["val"].append(model.predict_proba(split.val_texts))
            scores["test"].append(model.predict_proba(split.test_texts))
    val, test = np.mean(scores["val"], axis=0), np.mean(scores["test"], axis=0)
    point = choose_operating_point(split.val_labels, val, TARGET)
    metrics = classification_metrics(split.test_labels, test, point.threshold, target_precision=TARGET)
    row = _row(f"{base_name} + classical (the teacher: average)", "no training of its own", metrics, 0.0)
    print(row.line(), "| scored in", f"{time.perf_counter() - started:.0f} s", flush=True)
    return row


def cross_domain(settings, max_rows: int | None, bert_teacher: bool = False) -> list[str]:
    """Baseline and distilled student trained on one part of the corpus, tested on the other, and airline alone.
    With `bert_teacher`, the student learns from a MiniLM fine-tuned on the same part, averaged with the classical."""
    import mlflow
    from mlflow import MlflowClient

    from shared.training_params import BertParams, ClassicalParams, LstmParams
    from training_worker.bootstrap import BOOTSTRAP_BERT_TEACHER_PARAMS, student_params
    from training_worker.datasets import load_dataset
    from training_worker.families import bert, classical, lstm
    from training_worker.splits import Split, make_split
    from training_worker.tracking import FamilyContext, register

    airline = load_dataset("bundled-airline", max_rows)
    everything = load_dataset("bundled", max_rows)
    airline_texts = set(airline.texts)
    rest_pairs = [(t, y) for t, y in zip(everything.texts, everything.labels, strict=True) if t not in airline_texts]
    from training_worker.datasets import Dataset

    rest = Dataset("bundled-rest", [t for t, _ in rest_pairs], [y for _, y in rest_pairs])
    lines = []
    context = FamilyContext(TARGET, SIGNING_KEY, settings.mlflow_tracking_uri)
    client = MlflowClient(settings.mlflow_tracking_uri)
    mlflow.set_experiment("quality-benchmark-cross-domain")
    for name, source, target in (
        ("airline -> rest", airline, rest),
        ("rest -> airline", rest, airline),
        ("airline -> airline", airline, None),
    ):
        in_domain = make_split(source, 42, 0.1, 0.2)
        split = (
            in_domain
            if target is None
            else Split(
                source.name + "->" + target.name,
                source.content_hash(),
                42,
                in_domain.train_texts,
                in_domain.train_labels,
                in_domain.val_texts,
                in_domain.val_labels,
                target.texts,
                target.labels,
            )
        )
        base_row, _, _ = baseline(split)
        # The gap to in-domain: the same baseline trained and tested on the target part itself.
        in_row, _, _ = baseline(make_split(target, 42, 0.1, 0.2) if target is not None else in_domain)
        with mlflow.start_run(run_name=f"teacher {name}"):
            teacher = classical.train(split, ClassicalParams(**TEACHER_PARAMS), context)
        versions = {"classical": register(client, teacher, settings.classical_model_name, "classical", split)}
        started = time.perf_counter()
        if bert_teacher:
            with mlflow.start_run(run_name=f"bert teacher {name}"):
                fine_tuned = bert.train(split, BertParams(**BOOTSTRAP_BERT_TEACHER_PARAMS), context)
            versions["bert"] = register(client, fine_tuned, settings.bert_model_name, "bert", split)
        teacher_name = "bert+classical" if bert_teacher else "classical"
        lstm_params = LstmParams(**{**student_params(teacher_name), "teacher_versions": versions})
        with mlflow.start_run(run_name=f"student {name}"):
            student = lstm.train(split, lstm_params, context)
        m = student.test_metrics
        tm = fine_tuned.test_metrics if bert_teacher else None
        minilm = f"{tm['test_recall_at_target_precision']:.3f} / {tm['test_roc_auc']:.4f}" if tm else "-"
        lines.append(
            f"| {name} | {lstm_params.teacher} | {len(split.train_texts)} / {len(split.test_texts)} "
            f"| {base_row.recall_at_target:.3f} "
            f"(in-domain {in_row.recall_at_target:.3f}) | {base_row.roc_auc:.4f} | {m['test_precision']:.3f} | "
            f"{m['test_recall']:.3f} | {m['test_recall_at_target_precision']:.3f} | {m['test_roc_auc']:.4f} | "
            f"{minilm} | {time.perf_counter() - started:.0f} |"
        )
        print(lines[-1], flush=True)
    return lines


def render(rows: list[Row], cross: list[str]) -> str:
    names = list(next(r.capabilities for r in rows if r.capabilities).keys())
    capability_rows = ["| model | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for row in rows:
        if row.capabilities:
            capability_rows.append(f"| {row.name} | " + " | ".join(f"{row.capabilities[n]:.0%}" for n in names) + " |")
    cross_section = [
        "### Cross-domain (baseline vs distilled BiLSTM student; test = the other part of the corpus)",
        "",
        "| train -> test | student's teacher | train / test rows | baseline recall at P 0.90 | baseline ROC AUC "
        "| student P at threshold | student R at threshold | student recall at P 0.90 | student ROC AUC "
        "| MiniLM alone: recall at P 0.90 / ROC AUC | teacher + student train s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
        *cross,
        "",
    ]
    return "\n".join(
        [
            "### Test split (seed 42, 20 %), operating point chosen on validation for precision 0.90",
            "",
            HEADER,
            *[r.line() for r in rows],
            "",
            "### Behavioural checks: failure rate (training_worker/capabilities.py)",
            "",
            *capability_rows,
            "",
            *(cross_section if cross else []),
        ]
    )


if __name__ == "__main__":
    sys.exit(main())
