"""Drift of what inference serves: the reference saved with a model, the counts workers keep, the statistics shown."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from shared.schemas.alerts import MailedReport

PROBABILITY_BINS = 10  # equal-width bins of probability_positive over [0, 1]


class DriftReference(BaseModel):
    """The same statistics on the model's own test split, computed at training and signed into its manifest."""

    rows: int
    probability_histogram: list[float] = Field(
        ..., description=f"Share of test tweets in each of the {PROBABILITY_BINS} bins."
    )
    positive_share: float
    mean_text_chars: float
    oov_share: float | None = Field(None, description="Families with a vocabulary (the LSTM) only.")


class DriftCounts(BaseModel):
    """Sums over a window of served tweets; counts add up across workers."""

    predictions: int = 0
    positives: int = 0
    text_chars: int = 0
    tokens: int = 0
    oov_tokens: int = 0
    probability_counts: list[int] = Field(default_factory=lambda: [0] * PROBABILITY_BINS)

    def add(self, other: DriftCounts) -> DriftCounts:
        return DriftCounts(
            predictions=self.predictions + other.predictions,
            positives=self.positives + other.positives,
            text_chars=self.text_chars + other.text_chars,
            tokens=self.tokens + other.tokens,
            oov_tokens=self.oov_tokens + other.oov_tokens,
            probability_counts=[a + b for a, b in zip(self.probability_counts, other.probability_counts, strict=True)],
        )


class VersionDriftCounts(BaseModel):
    model_name: str
    model_version: str
    counts: DriftCounts
    reference: DriftReference | None = None


class WorkerDrift(BaseModel):
    """One inference process's rolling window, published beside its heartbeat (and expiring with it)."""

    worker_id: str
    window_s: float
    updated_at: datetime
    versions: list[VersionDriftCounts] = Field(default_factory=list)


class DriftStats(BaseModel):
    """GET /stats/drift, one served version: the rolling statistics of its live traffic, its reference beside."""

    model_name: str
    model_version: str
    workers: int
    window_s: float
    predictions: int
    oov_share: float | None = Field(None, description="Share of tokens the model's vocabulary does not know.")
    positive_share: float | None = None
    mean_text_chars: float | None = None
    probability_histogram: list[float] = Field(default_factory=list)
    psi: float | None = Field(
        None,
        description="Population stability index of probability_positive against the test split; null "
        "without a reference (versions trained before it was saved) or without traffic.",
    )
    reference: DriftReference | None = None


class DriftOverview(BaseModel):
    versions: list[DriftStats] = Field(default_factory=list)


class DriftReport(MailedReport):
    """One email about a served version whose PSI passed the threshold; stored before it is sent."""

    stats: DriftStats
    psi_threshold: float
