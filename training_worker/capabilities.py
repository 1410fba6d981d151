"""Behavioural checks of a trained sentiment model (CheckList-style), shared by tests/model and the quality benchmark.

Three kinds, as in Ribeiro et al. (2020): minimum functionality (clear cases labelled right), invariance (noise that
must not flip a label: handles, URLs, hashtags, emoji, typos, another airline) and directional expectations (an
added complaint lowers the probability of "positive"; negating a negative lifts it out of confident negative).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import product

import numpy as np

ScoreFn = Callable[[Sequence[str]], np.ndarray]

AIRLINES = ("@united", "@delta", "@AirParadis", "@JetBlue")
SUBJECTS = ("the crew", "the flight", "the staff", "the service", "the pilot", "the check-in")
POSITIVE_ADJECTIVES = ("great", "friendly", "helpful", "amazing", "excellent", "wonderful", "fantastic", "lovely")
NEGATIVE_ADJECTIVES = ("rude", "terrible", "awful", "horrible", "useless", "late", "disgusting", "unprofessional")
COMPLAINTS = ("but they lost my bag", "but we waited 3 hours on the tarmac", "but my seat was broken")
NOISE = (" http://t.co/abc123", " #travel", " 😀", " @someone", " #avgeek ✈️")
# Typos people make: a dropped letter, a doubled one, a swap.
TYPOS = {"great": "grat", "friendly": "freindly", "helpful": "helpfull", "amazing": "amazng", "excellent": "excelent"}
CONFIDENT_NEGATIVE = 0.2


@dataclass(frozen=True)
class CapabilityResult:
    name: str
    cases: int
    failures: int
    examples: tuple[str, ...]

    @property
    def failure_rate(self) -> float:
        return self.failures / self.cases if self.cases else 0.0


def _statements(adjectives: Sequence[str]) -> list[str]:
    return [
        f"{airline} {subject} was {adjective}"
        for airline, subject, adjective in product(AIRLINES[:2], SUBJECTS, adjectives)
    ]


def _result(name: str, texts: Sequence[str], failed: np.ndarray) -> CapabilityResult:
    examples = tuple(text for text, bad in zip(texts, failed, strict=True) if bad)[:3]
    return CapabilityResult(name, len(texts), int(failed.sum()), examples)


def run_capabilities(score: ScoreFn, threshold: float) -> dict[str, CapabilityResult]:
    """Every check against one model: `score` maps raw tweets to the probability of "positive"."""
    positives, negatives = _statements(POSITIVE_ADJECTIVES), _statements(NEGATIVE_ADJECTIVES)
    results: dict[str, CapabilityResult] = {}
    p_pos, p_neg = score(positives), score(negatives)
    results["clear positive"] = _result("clear positive", positives, p_pos < threshold)
    results["clear negative"] = _result("clear negative", negatives, p_neg >= threshold)

    negated_positives = [t.replace(" was ", " was not ") for t in positives]
    results["negated positive is not positive"] = _result(
        "negated positive is not positive", negated_positives, score(negated_positives) >= threshold
    )
    negated_negatives = [t.replace(" was ", " was not ") for t in negatives]
    results["negated negative is not confidently negative"] = _result(
        "negated negative is not confidently negative", negated_negatives, score(negated_negatives) < CONFIDENT_NEGATIVE
    )

    labelled = positives + negatives
    expected = np.concatenate([p_pos >= threshold, p_neg >= threshold])
    for name, change in (
        ("noise (URL, hashtag, emoji, handle) keeps the label", lambda t, i: t + NOISE[i % len(NOISE)]),
        (
            "another airline keeps the label",
            lambda t, i: t.replace(AIRLINES[0], AIRLINES[2]).replace(AIRLINES[1], AIRLINES[3]),
        ),
    ):
        changed = [change(text, i) for i, text in enumerate(labelled)]
        results[name] = _result(name, changed, (score(changed) >= threshold) != expected)

    typo_cases = [(t, t.replace(word, typo)) for t in positives for word, typo in TYPOS.items() if f" {word}" in t]
    typo_texts = [typo for _, typo in typo_cases]
    results["typos keep a positive positive"] = _result(
        "typos keep a positive positive", typo_texts, score(typo_texts) < threshold
    )

    complained = [f"{t} {COMPLAINTS[i % len(COMPLAINTS)]}" for i, t in enumerate(positives)]
    results["an added complaint lowers the score"] = _result(
        "an added complaint lowers the score", complained, score(complained) >= p_pos
    )
    return results


def overall_failure_rate(results: dict[str, CapabilityResult]) -> float:
    cases = sum(r.cases for r in results.values())
    return sum(r.failures for r in results.values()) / cases if cases else 0.0


def table(results: dict[str, CapabilityResult]) -> str:
    lines = [f"{'capability':<55} {'cases':>6} {'failed':>7}  example of a failure"]
    for result in results.values():
        example = result.examples[0] if result.examples else ""
        lines.append(f"{result.name:<55} {result.cases:>6} {result.failure_rate:>7.1%}  {example}")
    lines.append(f"{'overall':<55} {sum(r.cases for r in results.values()):>6} {overall_failure_rate(results):>7.1%}")
    return "\n".join(lines)
