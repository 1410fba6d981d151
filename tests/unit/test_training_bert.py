"""BERT base model resolution: the bundled MiniLM is found without a download; a missing model says what to do.
Fine-tuning batches group texts of similar length, and still cover every text once in a shuffled order."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from training_worker.families.bert import _batches, resolve_base_model


def test_training_batches_hold_similar_lengths_cover_every_text_once_and_come_shuffled() -> None:
    rng = np.random.default_rng(0)
    lengths = rng.integers(5, 60, size=2000).tolist()
    batches = _batches(lengths, 16, np.random.default_rng(1), bucket_batches=25)
    seen = np.concatenate(batches)
    assert sorted(seen.tolist()) == list(range(2000))
    # Padding waste: each batch pads to its longest text; random batches of 16 from 5..59 waste about 40 %.
    padded = sum(len(b) * max(lengths[i] for i in b) for b in batches)
    assert sum(lengths) / padded > 0.9
    # Not sorted overall: the order of batches is shuffled, so an epoch does not go from short to long tweets.
    longest = [max(lengths[i] for i in b) for b in batches]
    assert longest != sorted(longest)


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


def test_scoring_in_length_order_gives_each_text_its_own_score(tmp_path: Path) -> None:
    """Training's evaluation, the registered model's predict_proba and the frozen encoder's pooling all batch
    tweets by length: each text must still get its own score back."""
    from types import SimpleNamespace

    from sentiment_model.bert import MODEL_ARTIFACT, BertSentimentModel, mean_pooled
    from shared.training_params import BertParams
    from training_worker.families.bert import BUNDLED_MINILM, _Trainer

    trainer = _Trainer(resolve_base_model(BUNDLED_MINILM), BertParams(num_layers=1, max_length=32, batch_size=2))
    texts = [
        "the flight was great",
        "awful",
        "my bag was lost again and nobody at the desk would even look at me for an hour",
        "thanks for the upgrade, the crew was lovely",
        "late",
    ]
    _, together = trainer.evaluate(texts, [1, 0, 0, 1, 0])
    alone = [trainer.evaluate([text], [0])[1][0] for text in texts]
    np.testing.assert_allclose(together, alone, atol=1e-5)

    trainer.model.save_pretrained(tmp_path)
    trainer.tokenizer.save_pretrained(tmp_path)
    served = BertSentimentModel()
    served.load_context(SimpleNamespace(artifacts={MODEL_ARTIFACT: str(tmp_path)}, model_config={"max_length": 32}))
    np.testing.assert_allclose(served.predict_proba(texts), [served.predict_proba([t])[0] for t in texts], atol=1e-5)

    pooled = mean_pooled(served.model.bert, served.tokenizer, texts, 32, "cpu")
    one_by_one = np.concatenate([mean_pooled(served.model.bert, served.tokenizer, [t], 32, "cpu") for t in texts])
    np.testing.assert_allclose(pooled, one_by_one, atol=1e-5)
