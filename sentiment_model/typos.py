"""Unknown words read as the vocabulary word one typo away: "amazng" as "amazing", "freindly" as "friendly".

A word-level model knows nothing of a token outside its vocabulary, so one dropped, doubled, swapped or wrong letter
turns a clear "great" into noise. The correction is symmetric-delete lookup (the SymSpell idea): every vocabulary
word is indexed under each string it becomes with one letter deleted, so the candidates of an unknown token come from
a few dictionary lookups, never a scan of the vocabulary. A real word the vocabulary lacks ("foil", "couch") is not a
typo of its neighbour ("fail", "coach"): the words listed as kept stay unknown.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence

# Shorter words are too close to each other: "bad" is one letter from "bed", "bag", "bar" and "dad".
MIN_LENGTH = 4
# Remembered answers, known words included; dropped when full so that odd input cannot grow memory without bound.
_MEMO_MAX = 100_000


def _deletes(word: str) -> list[str]:
    return [word[:i] + word[i + 1 :] for i in range(len(word))]


def _one_substitution_or_swap(a: str, b: str) -> bool:
    """Equal-length `a` and `b` that share a one-letter delete: true when one letter differs, or two adjacent ones
    are swapped (not when a letter moved further, as in "bday" and "days")."""
    differ = [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]
    if len(differ) == 1:
        return True
    return (
        len(differ) == 2
        and differ[1] == differ[0] + 1
        and a[differ[0]] == b[differ[1]]
        and a[differ[1]] == b[differ[0]]
    )


class TypoCorrector:
    """Token -> id through `vocabulary`; an unknown alphabetic token of 4+ letters takes the id of the most frequent
    word (the lowest id: ids are ranked by training frequency) one insertion, deletion, substitution or adjacent swap
    away, and `unknown_id` when there is none or the token is one of `kept_words`."""

    def __init__(self, vocabulary: dict[str, int], unknown_id: int, kept_words: Collection[str] = ()) -> None:
        self._unknown_id = unknown_id
        self._vocabulary = vocabulary
        self._kept = frozenset(kept_words)
        # A delete string -> the (id, word) pairs of the vocabulary words it comes from, most frequent first.
        index: dict[str, list[tuple[int, str]]] = defaultdict(list)
        for word, word_id in vocabulary.items():
            if len(word) >= MIN_LENGTH and word.isalpha():
                for deleted in set(_deletes(word)):
                    index[deleted].append((word_id, word))
        for pairs in index.values():
            pairs.sort()
        self._index = dict(index)
        self._known: dict[str, int] = dict(vocabulary)

    def corrected_among(self, words: Iterable[str]) -> list[str]:
        """Those of `words` that are outside the vocabulary and would be read as a vocabulary word."""
        return [word for word in words if word not in self._vocabulary and self._corrected(word) != self._unknown_id]

    def ids_of(self, tokens: Sequence[str]) -> list[int]:
        get = self._known.get
        return [get(token) or self._remember(token) for token in tokens]  # ids start at 1: `or` sees only misses

    def _remember(self, token: str) -> int:
        if len(self._known) > len(self._vocabulary) + _MEMO_MAX:
            self._known = dict(self._vocabulary)
        found = self._known[token] = self._corrected(token)
        return found

    def _corrected(self, token: str) -> int:
        if len(token) < MIN_LENGTH or not token.isalpha() or token in self._kept:
            return self._unknown_id
        index, vocabulary = self._index, self._vocabulary
        # The token lacks a letter: it is one of a longer word's deletes.
        longer = index.get(token)
        best_id = longer[0][0] if longer else None
        for deleted in _deletes(token):
            # The token has a letter too many.
            if len(deleted) >= MIN_LENGTH and (word_id := vocabulary.get(deleted)) is not None:
                best_id = word_id if best_id is None else min(best_id, word_id)
            # One letter wrong, or two swapped: both words lose a letter to the same string.
            for word_id, word in index.get(deleted, ()):
                if best_id is not None and word_id >= best_id:
                    break
                if _one_substitution_or_swap(token, word):
                    best_id = word_id
                    break
        return self._unknown_id if best_id is None else best_id
