"""The transfer set of a distilled student: augmented copies of the training tweets, as in Tang et al. (2019).

Each token is masked with probability `mask_p` or swapped for its nearest embedding neighbour with `swap_p`; then,
with probability `ngram_p`, only an n-gram (n from 1 to 5) of the result is kept. Only the teacher labels these
rows, so a swap that flips a word's sentiment ("good" -> "bad") is labelled for what it now says.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

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


NEGATIONS = frozenset({"not", "no", "never", "nothing", "nobody", "none", "neither", "nor"})
# A negated negative ("not rude") is no praise, only no longer a complaint: uncertain, leaning negative.
NEGATED_NEGATIVE_TARGET = 0.35
NEGATED_POSITIVE_TARGET = 0.0
MIN_VALENCE = 1.5
# Airline names VADER scores as words ("united" is positive there): a name is no sentiment.
NOT_SENTIMENT = frozenset({"unite", "united", "delta", "virgin", "southwest", "jetblue", "american", "spirit"})


def polar_words(token_lists: Sequence[Sequence[str]], min_valence: float = MIN_VALENCE, min_count: int = 3) -> dict:
    """Training-vocabulary words whose VADER valence is strong (|valence| >= `min_valence`): word -> 1 or 0.

    VADER's lexicon (Hutto & Gilbert 2014, MIT) is read as data from the `vadersentiment` wheel, and its words
    lemmatised like the tweets, so "disappointed" and "disappoint" are one entry."""
    import importlib.util
    from collections import Counter

    from sentiment_model.preprocessing import preprocess

    spec = importlib.util.find_spec("vaderSentiment")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("negation counterfactuals need the `vadersentiment` package (VADER's lexicon)")
    lexicon = Path(next(iter(spec.submodule_search_locations))) / "vader_lexicon.txt"
    valence: dict[str, float] = {}
    for line in lexicon.read_text(encoding="utf-8").splitlines():
        word, score, *_ = line.split("\t")
        lemmas = preprocess(word)
        if (
            len(lemmas) == 1
            and len(lemmas[0]) > 2
            and lemmas[0].isalpha()
            and lemmas[0] not in NEGATIONS | NOT_SENTIMENT
        ):
            valence.setdefault(lemmas[0], float(score))
    counts = Counter(token for tokens in token_lists for token in tokens)
    return {
        word: int(score > 0)
        for word, score in valence.items()
        if abs(score) >= min_valence and counts[word] >= min_count
    }


def negation_counterfactuals(
    token_lists: Sequence[Sequence[str]], labels: Sequence[int], polar: dict[str, int]
) -> tuple[list[list[str]], np.ndarray]:
    """Tweets whose sentiment rests on one polar word, with "not" put before it, and what the negation makes of them.

    Real tweets rarely negate a complaint ("not rude"), so a model learns that "rude" is negative whatever comes
    before it; counterfactual copies (Kaushik et al. 2020) teach it what the "not" does. Only tweets with a single
    polar word, of the tweet's own label, and no negation yet are used, so the flip is the whole story.
    """
    rows: list[list[str]] = []
    targets: list[float] = []
    for tokens, label in zip(token_lists, labels, strict=True):
        if any(token in NEGATIONS for token in tokens):
            continue
        found = [i for i, token in enumerate(tokens) if token in polar]
        if len(found) != 1 or polar[tokens[found[0]]] != label:
            continue
        index = found[0]
        rows.append([*tokens[:index], "not", *tokens[index:]])
        targets.append(NEGATED_POSITIVE_TARGET if label == 1 else NEGATED_NEGATIVE_TARGET)
    return rows, np.asarray(targets, dtype=np.float32)
