"""The tokenizer/padding config of sequence models: built at training, saved with the model, reused at serving."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from sentiment_model.preprocessing import PREPROCESSING_VERSION, preprocess
from sentiment_model.typos import TypoCorrector

PAD_ID = 0
OOV_ID = 1


class IncompatiblePreprocessing(ValueError):
    """An encoder fitted on the output of another preprocessing version than the one installed."""


def preprocessing_version_of(recorded: str) -> str:
    """`v1` from `v1` or from the older `shared.preprocessing.preprocess/v1` form."""
    return recorded.rsplit("/", 1)[-1]


@dataclass
class SequenceEncoder:
    """Maps preprocessed tokens to ids, truncated and padded at the end to `max_len`. With `correct_typos`, an
    unknown word takes the id of the most frequent vocabulary word one typo away (sentiment_model/typos.py), unless
    it is one of `kept_words`: real words the vocabulary lacks. Encoders saved before that option read without it,
    so a model keeps the ids it was trained on."""

    vocabulary: dict[str, int]
    max_len: int = 40
    preprocessing: str = PREPROCESSING_VERSION
    extra: dict[str, str] = field(default_factory=dict)
    correct_typos: bool = False
    kept_words: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._typos = TypoCorrector(self.vocabulary, OOV_ID, self.kept_words) if self.correct_typos else None

    @classmethod
    def fit(
        cls,
        token_lists: Iterable[Sequence[str]],
        max_vocab: int = 20_000,
        max_len: int = 40,
        min_count: int = 1,
        correct_typos: bool = True,
        real_words: Iterable[str] = (),
    ) -> SequenceEncoder:
        """`real_words`, a dictionary of correctly spelt words, keeps those the vocabulary lacks from being read
        as a neighbour: only the ones a correction would change are stored."""
        counts = Counter(token for tokens in token_lists for token in tokens)
        ranked = [tok for tok, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])) if n >= min_count]
        vocabulary = {tok: i for i, tok in enumerate(ranked[: max_vocab - 2], start=2)}
        encoder = cls(vocabulary=vocabulary, max_len=max_len)
        return encoder.with_typo_correction(real_words) if correct_typos else encoder

    def with_typo_correction(self, real_words: Iterable[str] = ()) -> SequenceEncoder:
        """This encoder, correcting typos; of `real_words`, those a correction would change are kept as they are."""
        kept = TypoCorrector(self.vocabulary, OOV_ID).corrected_among(set(real_words))
        return replace(self, correct_typos=True, kept_words=sorted(kept))

    @property
    def vocab_size(self) -> int:
        return len(self.vocabulary) + 2

    def encode_tokens(self, token_lists: Sequence[Sequence[str]]) -> np.ndarray:
        ids = np.zeros((len(token_lists), self.max_len), dtype=np.int32)
        typos, vocabulary = self._typos, self.vocabulary
        for row, tokens in enumerate(token_lists):
            if typos is not None:
                encoded = typos.ids_of(tokens[: self.max_len])
            else:
                encoded = [vocabulary.get(tok, OOV_ID) for tok in tokens[: self.max_len]]
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
                "correct_typos": self.correct_typos,
                "kept_words": self.kept_words,
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
            correct_typos=bool(data.get("correct_typos", False)),
            kept_words=list(data.get("kept_words", [])),
        )

    def save(self, path: Path) -> None:
        path.write_text(self.to_json(), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> SequenceEncoder:
        return cls.from_json(path.read_text(encoding="utf-8"))
