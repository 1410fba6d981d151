"""BERT base model resolution: the bundled MiniLM is found without a download; a missing model says what to do."""

from __future__ import annotations

from pathlib import Path

import pytest

from training_worker.families.bert import resolve_base_model


def test_bundled_minilm_resolves_to_the_wheel_folder() -> None:
    path = Path(resolve_base_model("bundled-minilm"))
    assert (path / "config.json").is_file()
    assert (path / "model.safetensors").is_file()


def test_a_local_folder_is_used_as_is() -> None:
    folder = resolve_base_model("bundled-minilm")
    assert resolve_base_model(folder) == folder


def test_an_unreachable_model_is_refused_with_a_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))  # an empty cache: nothing to find offline
    with pytest.raises(ValueError, match="neither a local model folder nor in the Hugging Face cache"):
        resolve_base_model("distilbert-base-uncased")


def test_the_bundled_mpnet_is_assembled_from_its_five_pieces(tmp_path: Path) -> None:
    from training_worker.families.bert import assembled_mpnet

    try:
        folder = assembled_mpnet(tmp_path)
    except ValueError as exc:  # the optional extra is not installed: the message says how to get it
        assert "scripts/install-mpnet.sh" in str(exc)
        return
    assert (folder / "config.json").is_file()
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(folder)
    assert (config.model_type, config.num_hidden_layers, config.hidden_size) == ("mpnet", 12, 768)


@pytest.mark.slow
def test_a_frozen_encoder_under_a_linear_head_is_logged_and_scores(tmp_path: Path) -> None:
    import mlflow

    from shared.training_params import BertParams
    from training_worker.datasets import load_dataset
    from training_worker.families import bert
    from training_worker.registered_models import load_verified
    from training_worker.splits import make_split
    from training_worker.tracking import FamilyContext, register

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    try:
        mlflow.set_experiment("frozen-bert-unit")
        split = make_split(load_dataset("bundled", 400), 42)
        with mlflow.start_run():
            result = bert.train(split, BertParams(frozen_encoder=True, max_length=32), FamilyContext(0.5, "k"))
        version = register(mlflow.MlflowClient(uri), result, "frozen-bert", "bert", split)
        loaded = load_verified("frozen-bert", version, "k", tmp_path / "download")
        scores = loaded.model.predict_proba(["@united thank you, the crew was wonderful!", "lost my bag, awful"])
    finally:
        mlflow.set_tracking_uri(None)
    assert result.tags["embedding_type"] == "bert-frozen"
    assert result.test_metrics["test_roc_auc"] > 0.7
    assert scores[0] > scores[1]
