"""The tokenizer/padding config of sequence models: built at training, saved with the model, reused at serving."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sentiment_model.preprocessing import PREPROCESSING_VERSION, preprocess

PAD_ID = 0
OOV_ID = 1


class IncompatiblePreprocessing(ValueError):
    """An encoder fitted on the output of another preprocessing version than the one installed."""


def preprocessing_version_of(recorded: str) -> str:
    """`v1` from `v1` or from the older `shared.preprocessing.preprocess/v1` form."""
    return recorded.rsplit("/", 1)[-1]


@dataclass
class SequenceEncoder:
    """Maps preprocessed tokens to ids, truncated and padded at the end to `max_len`."""

    vocabulary: dict[str, int]
    max_len: int = 40
    preprocessing: str = PREPROCESSING_VERSION
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def fit(
        cls, token_lists: Iterable[Sequence[str]], max_vocab: int = 20_000, max_len: int = 40, min_count: int = 1
    ) -> SequenceEncoder:
        counts = Counter(token for tokens in token_lists for token in tokens)
        ranked = [tok for tok, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])) if n >= min_count]
        vocabulary = {tok: i for i, tok in enumerate(ranked[: max_vocab - 2], start=2)}
        return cls(vocabulary=vocabulary, max_len=max_len)

    @property
    def vocab_size(self) -> int:
        return len(self.vocabulary) + 2

    def encode_tokens(self, token_lists: Sequence[Sequence[str]]) -> np.ndarray:
        ids = np.zeros((len(token_lists), self.max_len), dtype=np.int32)
        for row, tokens in enumerate(token_lists):
            encoded = [self.vocabulary.get(tok, OOV_ID) for tok in tokens[: self.max_len]]
            ids[row, : len(encoded)] = encoded
        return ids

    @staticmethod
    def token_counts(ids: np.ndarray) -> tuple[int, int]:
        """(tokens, out-of-vocabulary tokens) of an encoded batch: what the model read, padding left out."""
        return int((ids != PAD_ID).sum()), int((ids == OOV_ID).sum())

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Raw tweets -> padded id matrix, through the one shared preprocessing function."""
        return self.encode_tokens([preprocess(text) for text in texts])

    def to_json(self) -> str:
        return json.dumps(
            {
                "vocabulary": self.vocabulary,
                "max_len": self.max_len,
                "preprocessing": self.preprocessing,
                "extra": self.extra,
            },
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, raw: str) -> SequenceEncoder:
        """Refuses an encoder of another preprocessing version: its ids would not mean what the model learnt."""
        data = json.loads(raw)
        recorded = preprocessing_version_of(str(data.get("preprocessing", "")))
        if recorded != PREPROCESSING_VERSION:
            raise IncompatiblePreprocessing(
                f"encoder was fitted on preprocessing {recorded or 'unknown'}, "
                f"this install runs {PREPROCESSING_VERSION}"
            )
        return cls(
            vocabulary=data["vocabulary"],
            max_len=int(data["max_len"]),
            preprocessing=data.get("preprocessing", ""),
            extra=data.get("extra", {}),
        )

    def save(self, path: Path) -> None:
        path.write_text(self.to_json(), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> SequenceEncoder:
        return cls.from_json(path.read_text(encoding="utf-8"))
