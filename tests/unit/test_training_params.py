"""Training parameters: defaults per family, and errors that name the field to fix."""

from __future__ import annotations

import pytest

from shared.training_params import BertParams, ClassicalParams, LstmParams, ValidationError, validate_params


def test_each_family_parses_its_defaults() -> None:
    assert isinstance(validate_params("classical", {}), ClassicalParams)
    assert isinstance(validate_params("lstm", {"embedding": "glove"}), LstmParams)
    bert = validate_params("bert", {"num_layers": 2, "max_length": 32})
    assert isinstance(bert, BertParams) and bert.num_layers == 2


def test_unknown_family_is_refused_with_the_choices() -> None:
    with pytest.raises(ValueError, match="unknown family 'xgboost'"):
        validate_params("xgboost", {})


@pytest.mark.parametrize(
    ("family", "params", "field"),
    [
        ("lstm", {"epochs": 0}, "epochs"),
        ("lstm", {"embedding": "fasttext"}, "embedding"),
        ("classical", {"models": ["xgboost"]}, "models"),
        ("classical", {"cv_folds": 1}, "cv_folds"),
        ("bert", {"learning_rate": -1}, "learning_rate"),
        ("bert", {"unknown_knob": 1}, "unknown_knob"),
    ],
)
def test_bad_params_name_the_field(family: str, params: dict, field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        validate_params(family, params)
    assert field in {str(part) for error in caught.value.errors() for part in error["loc"]}


def test_feedback_since_is_a_utc_time_that_needs_include_feedback() -> None:
    params = validate_params("classical", {"include_feedback": True, "feedback_since": "2026-11-01"})
    assert params.model_dump(mode="json")["feedback_since"] == "2026-11-01T00:00:00Z"
    shifted = validate_params("lstm", {"include_feedback": True, "feedback_since": "2026-11-01T02:00:00+02:00"})
    assert shifted.feedback_since.isoformat() == "2026-11-01T00:00:00+00:00"


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"feedback_since": "2026-11-01"}, "set include_feedback to true as well"),
        ({"include_feedback": True, "feedback_since": "2999-01-01"}, "is in the future"),
        ({"include_feedback": True, "feedback_since": "last week"}, "valid datetime"),
    ],
)
def test_a_bad_feedback_since_names_the_field(params: dict, message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        validate_params("classical", params)
    error = caught.value.errors()[0]
    assert error["loc"] == ("feedback_since",) and message in error["msg"]
