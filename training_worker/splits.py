"""The one fixed split: seeded and stratified, identical for every family, fingerprinted for each run."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sklearn.model_selection import train_test_split

from training_worker.datasets import Dataset, duplicate_key


@dataclass(frozen=True)
class Split:
    dataset_name: str
    dataset_hash: str
    seed: int
    train_texts: list[str]
    train_labels: list[int]
    val_texts: list[str]
    val_labels: list[int]
    test_texts: list[str]
    test_labels: list[int]

    @property
    def split_hash(self) -> str:
        """Same dataset + same seed + same fractions -> same hash: precisions with equal hashes compare."""
        digest = hashlib.sha256()
        for part in (self.train_texts, self.val_texts, self.test_texts):
            digest.update(str(len(part)).encode())
            digest.update("\n".join(part).encode())
        return digest.hexdigest()[:16]

    @property
    def held_out_hash(self) -> str:
        """Validation + test only: models with equal ones never trained on each other's held-out tweets."""
        digest = hashlib.sha256()
        for part in (self.val_texts, self.test_texts):
            digest.update(str(len(part)).encode())
            digest.update("\n".join(part).encode())
        return digest.hexdigest()[:16]

    def describe(self) -> dict[str, str | int]:
        return {
            "dataset": self.dataset_name,
            "dataset_hash": self.dataset_hash,
            "split_hash": self.split_hash,
            "split_seed": self.seed,
            "rows_train": len(self.train_texts),
            "rows_validation": len(self.val_texts),
            "rows_test": len(self.test_texts),
            "positives_train": sum(self.train_labels),
            "positives_test": sum(self.test_labels),
        }

    def with_extra_training_rows(self, texts: list[str], labels: list[int]) -> tuple[Split, ExtraRows]:
        """Add rows (analysts' feedback) to training only, so validation and test stay comparable: a row equal to
        a validation or test tweet after normalisation (`duplicate_key`) is left out, and so is one already in
        training or repeated (the last of the repeats wins, as the latest verdict on a tweet should)."""
        held_out = {duplicate_key(t) for t in self.val_texts} | {duplicate_key(t) for t in self.test_texts}
        in_training = {duplicate_key(t) for t in self.train_texts}
        latest: dict[str, tuple[str, int]] = {}
        kept_out = 0
        for text, label in zip(texts, labels, strict=True):
            key = duplicate_key(text)
            if key in held_out:
                kept_out += 1
            elif key:
                latest.pop(key, None)  # re-inserted below, so the order is that of the latest verdicts
                latest[key] = (text, label)
        added = [row for key, row in latest.items() if key not in in_training]
        extra = ExtraRows(added=len(added), held_out=kept_out, duplicates=len(texts) - kept_out - len(added))
        split = Split(
            dataset_name=self.dataset_name + "+feedback" if added else self.dataset_name,
            dataset_hash=self.dataset_hash,
            seed=self.seed,
            train_texts=self.train_texts + [t for t, _ in added],
            train_labels=self.train_labels + [y for _, y in added],
            val_texts=self.val_texts,
            val_labels=self.val_labels,
            test_texts=self.test_texts,
            test_labels=self.test_labels,
        )
        return split, extra


@dataclass(frozen=True)
class ExtraRows:
    """What became of rows offered to training: added, left out as held-out tweets, or left out as duplicates."""

    added: int
    held_out: int
    duplicates: int


def make_split(dataset: Dataset, seed: int = 42, validation_fraction: float = 0.1, test_fraction: float = 0.2) -> Split:
    rest_texts, test_texts, rest_labels, test_labels = train_test_split(
        dataset.texts, dataset.labels, test_size=test_fraction, random_state=seed, stratify=dataset.labels
    )
    val_share = validation_fraction / (1.0 - test_fraction)
    train_texts, val_texts, train_labels, val_labels = train_test_split(
        rest_texts, rest_labels, test_size=val_share, random_state=seed, stratify=rest_labels
    )
    return Split(
        dataset_name=dataset.name,
        dataset_hash=dataset.content_hash(),
        seed=seed,
        train_texts=list(train_texts),
        train_labels=[int(y) for y in train_labels],
        val_texts=list(val_texts),
        val_labels=[int(y) for y in val_labels],
        test_texts=list(test_texts),
        test_labels=[int(y) for y in test_labels],
    )
