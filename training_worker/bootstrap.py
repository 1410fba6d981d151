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

# A fine-tuned MiniLM beside it makes a stronger teacher: about a minute on a GPU, ~10 min on 2 CPU cores (length-
# bucketed batches), so the bootstrap uses it by itself only where there is a GPU (`teacher` in --params otherwise).
BOOTSTRAP_BERT_TEACHER_PARAMS = {"dataset": "bundled", "epochs": 2, "batch_size": 32}
TEACHER_PARAMS = {"classical": BOOTSTRAP_TEACHER_PARAMS, "bert": BOOTSTRAP_BERT_TEACHER_PARAMS}

# A teacher must see the same held-out split as its student.
SPLIT_PARAMS = ("dataset", "max_rows", "seed", "validation_fraction", "test_fraction")


# A transformer teacher knows more than the training tweets show; a larger transfer set (more augmented copies, seen
# for more epochs) carries more of it into the student at the same serving cost (docs/training.md).
TRANSFORMER_STUDENT_PARAMS = {"augment_copies": 6, "epochs": 8}


def default_teacher(gpu: bool) -> str:
    return "bert+classical" if gpu else "classical"


def student_params(teacher: str) -> dict:
    """The bootstrap student's parameters for `teacher` ("classical", "bert", "bert+classical")."""
    params = {**BOOTSTRAP_PARAMS, "teacher": teacher}
    if "bert" in teacher.split("+"):
        params.update(TRANSFORMER_STUDENT_PARAMS)
    return params


def bootstrap_params(given: dict, gpu: bool) -> dict:
    """What `bootstrap --params` trains: the student for the teacher given (or this machine's default), with the
    given parameters over it."""
    return {**student_params(str(given.get("teacher", default_teacher(gpu)))), **given}


def teacher_jobs(student_params: dict) -> list[tuple[str, dict]]:
    """(family, params) of each teacher member the student needs that `teacher_versions` does not already name,
    on the student's split."""
    teacher = str(student_params.get("teacher", "none"))
    given = student_params.get("teacher_versions") or {}
    split = {k: student_params[k] for k in SPLIT_PARAMS if k in student_params}
    families = [] if teacher == "none" else teacher.split("+")
    return [(family, {**TEACHER_PARAMS[family], **split}) for family in families if family not in given]
