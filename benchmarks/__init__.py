"""Benchmarks: one script per question; `common/` holds what they share."""
