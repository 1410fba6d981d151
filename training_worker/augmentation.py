"""The transfer set of a distilled student: augmented copies of the training tweets, as in Tang et al. (2019).

Each token is masked with probability `mask_p` or swapped for its nearest embedding neighbour with `swap_p`; then,
with probability `ngram_p`, only an n-gram (n from 1 to 5) of the result is kept. Only the teacher labels these
rows, so a swap that flips a word's sentiment ("good" -> "bad") is labelled for what it now says.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from sentiment_model.encoder import SequenceEncoder

MASK_TOKEN = "<mask>"  # not in any vocabulary: the student reads it as out-of-vocabulary, the teacher not at all
MASK_P, SWAP_P, NGRAM_P = 0.1, 0.1, 0.25
NEIGHBOUR_CANDIDATES = 5000


def nearest_neighbours(encoder: SequenceEncoder, matrix: np.ndarray, candidates: int = NEIGHBOUR_CANDIDATES) -> dict:
    """Each vocabulary token's nearest other token by cosine, among the `candidates` most frequent ones."""
    ids = np.array(sorted(encoder.vocabulary.values()))
    tokens = {index: token for token, index in encoder.vocabulary.items()}
    vectors = matrix[ids] / np.maximum(np.linalg.norm(matrix[ids], axis=1, keepdims=True), 1e-8)
    pool = vectors[:candidates]
    neighbours: dict[str, str] = {}
    for start in range(0, len(ids), 2048):
        similarity = vectors[start : start + 2048] @ pool.T
        rows = np.arange(similarity.shape[0])
        own = rows + start
        similarity[rows[own < len(pool)], own[own < len(pool)]] = -np.inf  # never one's own neighbour
        best = similarity.argmax(axis=1)
        for row, column in zip(rows, best, strict=True):
            neighbours[tokens[int(ids[start + row])]] = tokens[int(ids[column])]
    return neighbours


def augment(
    token_lists: Sequence[Sequence[str]], neighbours: dict[str, str], copies: int, seed: int
) -> list[list[str]]:
    """`copies` augmented versions of every token list, in order (all of copy 1, then all of copy 2, ...)."""
    rng = np.random.default_rng(seed)
    out: list[list[str]] = []
    for _ in range(copies):
        for tokens in token_lists:
            changed: list[str] = []
            for token in tokens:
                draw = rng.random()
                if draw < MASK_P:
                    changed.append(MASK_TOKEN)
                elif draw < MASK_P + SWAP_P and token in neighbours:
                    changed.append(neighbours[token])
                else:
                    changed.append(token)
            if len(changed) > 1 and rng.random() < NGRAM_P:
                n = int(rng.integers(1, min(5, len(changed)) + 1))
                start = int(rng.integers(0, len(changed) - n + 1))
                changed = changed[start : start + n]
            out.append(changed)
    return out


def teacher_text(tokens: Sequence[str]) -> str:
    """What the teacher reads for an augmented row: its tokens, masked ones left out."""
    return " ".join(token for token in tokens if token != MASK_TOKEN)
