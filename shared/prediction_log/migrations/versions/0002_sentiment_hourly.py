"""The hourly rollup behind GET /stats/sentiment, filled from the predictions already logged.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sentiment_hourly",
        sa.Column("hour_start", sa.DateTime(timezone=False), nullable=False),
        sa.Column("model_version", sa.String(32), nullable=False),
        sa.Column("airline", sa.String(32), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("positive", sa.Integer(), nullable=False),
        sa.Column("flagged", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("hour_start", "model_version", "airline"),
    )
    predictions = sa.table(
        "predictions",
        sa.column("created_at", sa.DateTime()),
        sa.column("model_version", sa.String()),
        sa.column("airline", sa.String()),
        sa.column("label", sa.String()),
        sa.column("is_misprediction", sa.Boolean()),
    )
    rollup = sa.table(
        "sentiment_hourly",
        *(sa.column(name) for name in ("hour_start", "model_version", "airline", "count", "positive", "flagged")),
    )
    created_at = predictions.c.created_at
    if op.get_bind().dialect.name == "postgresql":
        hour = sa.func.date_trunc("hour", created_at)
    else:
        # The text SQLAlchemy itself stores for a DateTime on SQLite, so that the store's upserts hit these rows.
        hour = sa.func.strftime("%Y-%m-%d %H:00:00.000000", created_at)
    airline = sa.func.coalesce(predictions.c.airline, "")
    backfill = sa.select(
        hour,
        predictions.c.model_version,
        airline,
        sa.func.count(),
        sa.func.sum(sa.case((predictions.c.label == "positive", 1), else_=0)),
        sa.func.sum(sa.case((predictions.c.is_misprediction.is_(True), 1), else_=0)),
    ).group_by(hour, predictions.c.model_version, airline)
    op.execute(
        rollup.insert().from_select(
            ["hour_start", "model_version", "airline", "count", "positive", "flagged"], backfill
        )
    )


def downgrade() -> None:
    op.drop_table("sentiment_hourly")
