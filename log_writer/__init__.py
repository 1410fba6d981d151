"""The log writer: moves answered predictions and feedback verdicts from a Redis Stream into the prediction log."""
