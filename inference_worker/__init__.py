"""Inference worker: serves the champion LSTM on the `inference` queue (`celery -A inference_worker worker`)."""

from inference_worker.celery_app import app

__all__ = ["app"]
