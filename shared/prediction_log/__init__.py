"""The durable prediction log: SQLAlchemy table, Alembic migrations, and the store every service reads it through."""

from shared.prediction_log.store import InvalidCursor, PredictionLog, database_url

__all__ = ["InvalidCursor", "PredictionLog", "database_url"]
