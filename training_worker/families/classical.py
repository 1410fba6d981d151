"""Classical family: bag-of-words / TF-IDF x four scikit-learn classifiers, tuned for precision, best one logged."""

from __future__ import annotations

import json
import logging
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import mlflow
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import RandomForestClassifier
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.naive_bayes import MultinomialNB
from sklearn.pipeline import Pipeline
from sklearn.svm import LinearSVC

from sentiment_model.classical import PIPELINE_ARTIFACT, ClassicalSentimentModel, positive_scores
from sentiment_model.preprocessing import preprocess_to_text
from shared.registry import EMBEDDING_TYPE_TAG
from shared.training_params import ClassicalParams
from training_worker.evaluation import choose_operating_point, classification_metrics
from training_worker.splits import Split
from training_worker.tracking import FamilyContext, FamilyResult, TrainedModel, log_evaluation, log_family_model

log = logging.getLogger(__name__)

CLASSICAL_MODEL_TAG = "classical_model"
# Pinned so MLflow does not spend seconds inferring them (and so `mlflow models serve` rebuilds the same env).
SERVING_REQUIREMENTS = ["scikit-learn==1.9.1", "joblib==1.6.0"]
# A model that calls almost nothing positive scores a perfect precision on a handful of tweets; below this
# validation recall at its operating point a candidate is only chosen when no other candidate clears it.
MIN_VALIDATION_RECALL = 0.2
# Ranks hyper-parameters by the whole precision-recall curve: a fixed-threshold precision rewards saying "positive"
# rarely, while the served threshold is chosen afterwards for the target precision anyway.
GRID_SCORING = "average_precision"

# `small` keeps tests to seconds; `default` is what the results table in docs/training.md was produced with.
GRIDS: dict[str, dict[str, dict[str, list[Any]]]] = {
    "small": {
        "vectorizer": {"vectorizer__ngram_range": [(1, 1)]},
        "logreg": {"model__C": [0.5, 2.0]},
        "naive_bayes": {"model__alpha": [0.5, 1.0]},
        "linear_svm": {"model__estimator__C": [0.5]},
        "random_forest": {"model__n_estimators": [30], "model__min_samples_leaf": [1]},
    },
    "default": {
        "vectorizer": {"vectorizer__ngram_range": [(1, 1), (1, 2)]},
        "logreg": {"model__C": [0.3, 1.0, 3.0]},
        "naive_bayes": {"model__alpha": [0.1, 0.5, 1.0]},
        "linear_svm": {"model__estimator__C": [0.1, 0.5]},
        "random_forest": {"model__n_estimators": [100], "model__min_samples_leaf": [1, 2]},
    },
}


def make_vectorizer(name: str, max_features: int) -> CountVectorizer:
    # Preprocessed text is space-separated tokens, "!" and "?" included: split on spaces, keep every token.
    options = {"max_features": max_features, "token_pattern": r"[^ ]+", "lowercase": False}
    if name == "tfidf":
        return TfidfVectorizer(sublinear_tf=True, **options)
    return CountVectorizer(**options)


def make_estimator(name: str, seed: int) -> Any:
    if name == "logreg":
        return LogisticRegression(max_iter=2000, solver="liblinear", random_state=seed)
    if name == "naive_bayes":
        return MultinomialNB()
    if name == "linear_svm":
        # LinearSVC has no probabilities; a sigmoid calibration gives the scores ROC and PR curves need.
        return CalibratedClassifierCV(LinearSVC(random_state=seed), method="sigmoid", cv=3)
    if name == "random_forest":
        # One core: a training job must never starve the inference workers sharing the machine.
        return RandomForestClassifier(random_state=seed, n_jobs=1)
    raise ValueError(f"unknown classical model {name!r}")


@dataclass
class Candidate:
    vectorizer: str
    model: str
    search: GridSearchCV
    validation: dict[str, float]
    run_id: str

    @property
    def name(self) -> str:
        return f"{self.vectorizer}+{self.model}"


def _jsonable(grid: dict[str, list[Any]]) -> str:
    return json.dumps({k: [list(v) if isinstance(v, tuple) else v for v in values] for k, values in grid.items()})


def _fit_candidate(
    vectorizer: str,
    model: str,
    params: ClassicalParams,
    texts: dict[str, list[str]],
    split: Split,
    target_precision: float,
) -> Candidate:
    grid = {**GRIDS[params.grid]["vectorizer"], **GRIDS[params.grid][model]}
    pipeline = Pipeline(
        [
            ("vectorizer", make_vectorizer(vectorizer, params.max_features)),
            ("model", make_estimator(model, params.seed)),
        ]
    )
    search = GridSearchCV(
        pipeline,
        grid,
        scoring=GRID_SCORING,
        cv=StratifiedKFold(n_splits=params.cv_folds, shuffle=True, random_state=params.seed),
        n_jobs=1,
        refit=True,
        error_score="raise",
    )
    with mlflow.start_run(run_name=f"{vectorizer}+{model}", nested=True) as run:
        started = time.perf_counter()
        search.fit(texts["train"], split.train_labels)
        fit_seconds = time.perf_counter() - started
        mlflow.set_tags({"family": "classical", EMBEDDING_TYPE_TAG: vectorizer, CLASSICAL_MODEL_TAG: model})
        mlflow.log_params(
            {
                "vectorizer": vectorizer,
                "model": model,
                "grid": _jsonable(grid),
                "cv_folds": params.cv_folds,
                **{f"best_{k}": str(v) for k, v in search.best_params_.items()},
            }
        )
        val_scores = positive_scores(search.best_estimator_, texts["val"])
        point = choose_operating_point(split.val_labels, val_scores, target_precision)
        validation = classification_metrics(
            split.val_labels, val_scores, point.threshold, prefix="val_", target_precision=target_precision
        )
        mlflow.log_metrics(
            {"cv_average_precision": float(search.best_score_), "train_seconds": fit_seconds, **validation}
        )
        log_evaluation(
            split.test_labels,
            positive_scores(search.best_estimator_, texts["test"]),
            point.threshold,
            f"{vectorizer} + {model}",
            target_precision,
        )
    return Candidate(vectorizer, model, search, validation, run.info.run_id)


def choose_best(candidates: list[Candidate]) -> Candidate:
    """Highest validation recall at the target precision (ties: PR AUC); the test set is never used to choose."""
    useful = [c for c in candidates if c.validation["val_recall"] >= MIN_VALIDATION_RECALL] or candidates
    return max(useful, key=lambda c: (c.validation["val_recall_at_target_precision"], c.validation["val_pr_auc"]))


def train(split: Split, params: ClassicalParams, context: FamilyContext) -> FamilyResult:
    started = time.perf_counter()
    texts = {
        "train": [preprocess_to_text(t) for t in split.train_texts],
        "val": [preprocess_to_text(t) for t in split.val_texts],
        "test": [preprocess_to_text(t) for t in split.test_texts],
    }
    mlflow.log_params({"family": "classical", **params.model_dump(exclude={"dataset"})})
    combos = [(v, m) for v in params.vectorizers for m in params.models]
    context.progress(0, len(combos), f"grid search over {len(combos)} vectorizer x model pairs")
    candidates = []
    for index, (vectorizer, model) in enumerate(combos, start=1):
        candidate = _fit_candidate(vectorizer, model, params, texts, split, context.target_precision)
        candidates.append(candidate)
        context.progress(
            index,
            len(combos),
            f"{candidate.name} cv_average_precision={candidate.search.best_score_:.4f} "
            f"val_recall_at_target={candidate.validation['val_recall_at_target_precision']:.4f}",
        )
    best = choose_best(candidates)
    train_seconds = time.perf_counter() - started
    mlflow.set_tags({EMBEDDING_TYPE_TAG: best.vectorizer, CLASSICAL_MODEL_TAG: best.model, "best_run_id": best.run_id})
    mlflow.log_params(
        {
            "best_candidate": best.name,
            **{f"best_{k}": str(v) for k, v in best.search.best_params_.items()},
        }
    )
    mlflow.log_metrics(
        {"train_seconds": train_seconds, "cv_average_precision": float(best.search.best_score_), **best.validation}
    )
    estimator = best.search.best_estimator_
    with tempfile.TemporaryDirectory() as tmp:
        pipeline_path = Path(tmp) / "pipeline.joblib"
        joblib.dump(estimator, pipeline_path)
        log.info("classical best candidate=%s %s", best.name, best.validation)
        trained = TrainedModel(
            family="classical",
            python_model=ClassicalSentimentModel(),
            artifacts={PIPELINE_ARTIFACT: str(pipeline_path)},
            framework_requirements=SERVING_REQUIREMENTS,
            embedding_type=best.vectorizer,
            val_scores=positive_scores(estimator, texts["val"]),
            test_scores=positive_scores(estimator, texts["test"]),
            train_seconds=train_seconds,
            title=f"{best.vectorizer} + {best.model}",
            tags={CLASSICAL_MODEL_TAG: best.model},
        )
        return log_family_model(trained, split, context)
