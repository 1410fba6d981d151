"""Alerting: consumes misprediction events; three within five minutes send one email report."""
