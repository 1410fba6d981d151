"""The predictions table and the indexes of the review queue, the trends and the filters.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "predictions",
        sa.Column("prediction_id", sa.String(64), primary_key=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("label", sa.String(8), nullable=False),
        sa.Column("probability_positive", sa.Float(), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=True),
        sa.Column("uncertainty", sa.Float(), nullable=False),
        sa.Column("model_name", sa.String(128), nullable=False),
        sa.Column("model_version", sa.String(32), nullable=False),
        sa.Column("request_id", sa.String(64), nullable=True),
        sa.Column("caller", sa.String(64), nullable=True),
        sa.Column("airline", sa.String(32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=False), nullable=False),
        sa.Column("feedback_label", sa.String(8), nullable=True),
        sa.Column("feedback_by", sa.String(64), nullable=True),
        sa.Column("feedback_at", sa.DateTime(timezone=False), nullable=True),
        sa.Column("is_misprediction", sa.Boolean(), nullable=True),
    )
    op.create_index("ix_predictions_uncertainty", "predictions", ["uncertainty", "prediction_id"])
    op.create_index("ix_predictions_created_at", "predictions", ["created_at", "prediction_id"])
    op.create_index("ix_predictions_model_version", "predictions", ["model_version", "created_at"])
    op.create_index("ix_predictions_airline", "predictions", ["airline", "created_at"])
    op.create_index("ix_predictions_feedback_at", "predictions", ["feedback_at"])


def downgrade() -> None:
    op.drop_table("predictions")
