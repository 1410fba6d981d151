"""A distilled student's teacher: the registered champions of other families, their probabilities averaged.

A teacher must have been trained on the student's held-out split: otherwise it has seen the student's test tweets,
and its soft labels would carry them into the student. Its scores are the expensive part (a transformer scores tens
of tweets a second on CPU), so they are logged once per split and augmentation as an artifact and reused.
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import mlflow
import numpy as np
from mlflow import MlflowClient

from sentiment_model.manifest import ModelNotTrusted
from shared.logging_setup import kv
from shared.registry import champion_version
from training_worker.registered_models import VerifiedModel, load_verified
from training_worker.splits import Split

log = logging.getLogger(__name__)

SCORES_KEY_TAG = "teacher_scores_key"
SCORES_ARTIFACT_DIR = "teacher_scores"
SCORE_BATCH = 512


class TeacherUnavailable(ValueError):
    """No usable teacher: a family without a trusted champion, or one trained on another held-out split."""


@dataclass(frozen=True)
class TeacherScores:
    """The teacher's probability of "positive" for the real training tweets, the augmented rows and validation."""

    train: np.ndarray
    augmented: np.ndarray
    val: np.ndarray
    reused_from_run: str | None


class Teacher:
    def __init__(self, members: list[VerifiedModel]) -> None:
        self.members = members

    @property
    def description(self) -> str:
        return "+".join(f"{m.name} v{m.version}" for m in self.members)

    def score(self, texts: Sequence[str]) -> np.ndarray:
        total = np.zeros(len(texts), dtype=np.float64)
        for member in self.members:
            for start in range(0, len(texts), SCORE_BATCH):
                chunk = list(texts[start : start + SCORE_BATCH])
                total[start : start + len(chunk)] += np.asarray(member.model.predict_proba(chunk), dtype=np.float64)
        return (total / len(self.members)).astype(np.float32)


def load_teacher(
    families: Sequence[str],
    model_names: dict[str, str],
    alias: str,
    versions: dict[str, str],
    split: Split,
    signing_key: str,
    work_dir: Path,
) -> Teacher:
    client = MlflowClient()
    members = []
    for family in families:
        name = model_names[family]
        version = versions.get(family)
        if version is None:
            champion = champion_version(client, name, alias)
            if champion is None:
                raise TeacherUnavailable(f"teacher {family!r}: {name} has no @{alias} yet: train that family first")
            version = champion.version
        try:
            member = load_verified(name, version, signing_key, work_dir / family)
        except ModelNotTrusted as exc:
            raise TeacherUnavailable(f"teacher {name} v{version} is not trusted: {exc}") from None
        except Exception as exc:  # an unknown version or an unreachable artifact store
            raise TeacherUnavailable(f"teacher {name} v{version} cannot be loaded: {exc.__class__.__name__}") from None
        if member.manifest.metadata.get("held_out_hash") != split.held_out_hash:
            raise TeacherUnavailable(
                f"teacher {name} v{version} was trained on another held-out split: its scores would carry "
                "this split's test tweets into the student; train it on the same dataset, seed and fractions first"
            )
        members.append(member)
    return Teacher(members)


def scores_key(teacher: Teacher, split: Split, augmentation: dict[str, object]) -> str:
    raw = json.dumps({"teacher": teacher.description, "split": split.split_hash, **augmentation}, sort_keys=True)
    return hashlib.sha256(raw.encode()).hexdigest()[:24]


def _cached(key: str) -> TeacherScores | None:
    runs = mlflow.search_runs(filter_string=f"tags.{SCORES_KEY_TAG} = '{key}'", max_results=5, output_format="list")
    for run in runs:
        with tempfile.TemporaryDirectory() as tmp:
            try:
                path = mlflow.artifacts.download_artifacts(
                    run_id=run.info.run_id, artifact_path=f"{SCORES_ARTIFACT_DIR}/{key}.npz", dst_path=tmp
                )
            except Exception:
                continue
            with np.load(path) as data:
                return TeacherScores(data["train"], data["augmented"], data["val"], run.info.run_id)
    return None


def teacher_scores(
    teacher: Teacher,
    split: Split,
    augmented_texts: Sequence[str],
    key: str,
) -> TeacherScores:
    """Reuse the scores a run logged under `key`, or compute them and log them in the active run."""
    cached = _cached(key)
    if cached is not None and len(cached.augmented) == len(augmented_texts):
        log.info("teacher scores reused %s", kv(teacher=teacher.description, key=key, run=cached.reused_from_run))
        mlflow.set_tag("teacher_scores_reused_from", cached.reused_from_run)
        return cached
    scores = TeacherScores(
        train=teacher.score(split.train_texts),
        augmented=teacher.score(augmented_texts),
        val=teacher.score(split.val_texts),
        reused_from_run=None,
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{key}.npz"
        np.savez_compressed(path, train=scores.train, augmented=scores.augmented, val=scores.val)
        mlflow.log_artifact(str(path), artifact_path=SCORES_ARTIFACT_DIR)
    mlflow.set_tag(SCORES_KEY_TAG, key)
    return scores
