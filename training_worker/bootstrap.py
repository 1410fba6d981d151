"""What `python -m training_worker bootstrap` trains when the registry has no champion LSTM."""

from __future__ import annotations

# What `bootstrap` trains when the registry has no champion, on the bundled tweets, in a few minutes on CPU: a
# TF-IDF + LogisticRegression teacher, then a BiLSTM student of it, which serves better than either alone.
BOOTSTRAP_TEACHER_PARAMS = {"dataset": "bundled", "vectorizers": ["tfidf"], "models": ["logreg"], "grid": "default"}
BOOTSTRAP_PARAMS = {
    "dataset": "bundled",
    "embedding": "glove",
    "bidirectional": True,
    "lstm_units": 64,
    "epochs": 6,
    "unfreeze_embeddings_after": 2,
    "batch_size": 128,
    "learning_rate": 0.002,
    "teacher": "classical",
    "augment_copies": 2,
    "negation_counterfactuals": True,
}

# A teacher must see the same held-out split as its student.
SPLIT_PARAMS = ("dataset", "max_rows", "seed", "validation_fraction", "test_fraction")
