"""The prediction log's tables, as SQLAlchemy maps them (migrations in shared/prediction_log/migrations/)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, Float, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class PredictionRow(Base):
    """One answered prediction and the feedback it received. Times are naive UTC in both SQLite and PostgreSQL."""

    __tablename__ = "predictions"

    prediction_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    label: Mapped[str] = mapped_column(String(8))
    probability_positive: Mapped[float] = mapped_column(Float)
    threshold: Mapped[float | None] = mapped_column(Float, nullable=True)
    # NOTE: stored rather than computed in the query, so that an index serves ORDER BY uncertainty.
    uncertainty: Mapped[float] = mapped_column(Float)
    model_name: Mapped[str] = mapped_column(String(128))
    model_version: Mapped[str] = mapped_column(String(32))
    request_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    caller: Mapped[str | None] = mapped_column(String(64), nullable=True)
    airline: Mapped[str | None] = mapped_column(String(32), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=False))
    feedback_label: Mapped[str | None] = mapped_column(String(8), nullable=True)
    feedback_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    feedback_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=False), nullable=True)
    is_misprediction: Mapped[bool | None] = mapped_column(Boolean, nullable=True)

    __table_args__ = (
        # Keyset pagination: each order's index ends with the primary key, its tie-breaker.
        Index("ix_predictions_uncertainty", "uncertainty", "prediction_id"),
        Index("ix_predictions_created_at", "created_at", "prediction_id"),
        Index("ix_predictions_model_version", "model_version", "created_at"),
        Index("ix_predictions_airline", "airline", "created_at"),
        Index("ix_predictions_feedback_at", "feedback_at"),
    )


class SentimentHourRow(Base):
    """Per hour (naive UTC, truncated), model version and airline: the predictions logged, how many were positive and
    how many are flagged wrong now. The store keeps it exact in the transactions that change `predictions`, so that
    the sentiment trend reads a row per hour instead of scanning every prediction of its range."""

    __tablename__ = "sentiment_hourly"

    hour_start: Mapped[datetime] = mapped_column(DateTime(timezone=False), primary_key=True)
    model_version: Mapped[str] = mapped_column(String(32), primary_key=True)
    # '' for a tweet addressing no airline: a primary key column cannot hold NULL.
    airline: Mapped[str] = mapped_column(String(32), primary_key=True)
    count: Mapped[int] = mapped_column(Integer)
    positive: Mapped[int] = mapped_column(Integer)
    flagged: Mapped[int] = mapped_column(Integer)
