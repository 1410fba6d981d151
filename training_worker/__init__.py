"""Training worker: runs the model families, tracks them in MLflow, registers and promotes by precision."""
