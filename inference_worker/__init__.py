"""Inference worker: serves the champion LSTM to the gateway over the call stream (`python -m inference_worker`)."""
