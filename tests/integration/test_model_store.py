"""The worker's model store in this process: each promotion swaps the new version in and lets the old one go.

Serving processes keep their long-lived objects out of the cycle collector (shared/heap.py). A model swapped out
must still be reclaimed, or every promotion would cost a worker one model's memory for good.
"""

from __future__ import annotations

import gc
import itertools
from collections.abc import Iterator

import mlflow
import pytest
from mlflow import MlflowClient

from inference_worker.model_store import ModelStore
from tests.conftest import Stack

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MODEL_NAME = "model-store-lstm"
PROMOTIONS = 4
# Objects one swap may leave behind (registry client caches and the like: ~40-60 measured). A replaced tiny Keras
# model that stayed frozen left ~3,600 per swap.
MAX_OBJECTS_PER_SWAP = 1_000


def _live_objects() -> int:
    return len(gc.get_objects()) + gc.get_freeze_count()


@pytest.fixture
def registered_versions(stack: Stack, tiny_champion: dict) -> Iterator[list[str]]:
    champion = MlflowClient(stack.mlflow_url).get_model_version(
        tiny_champion["model_name"], tiny_champion["model_version"]
    )
    mlflow.set_tracking_uri(stack.mlflow_url)
    yield [str(mlflow.register_model(champion.source, MODEL_NAME).version) for _ in range(PROMOTIONS)]
    gc.unfreeze()  # the store froze this test process's heap: give it back to the collector


def test_each_promotion_serves_the_new_version_and_releases_the_old_model(
    stack: Stack, registered_versions: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The TensorFlow path: a Keras model is full of reference cycles, which only the collector can reclaim.
    monkeypatch.setenv("LSTM_FAST_PATH", "tf_function")
    client = MlflowClient(stack.mlflow_url)
    store = ModelStore(stack.mlflow_url, MODEL_NAME, "champion")
    live_after_swap = []
    for version in registered_versions:
        client.set_registered_model_alias(MODEL_NAME, "champion", version)
        assert store.refresh()
        assert store.current is not None and store.current.version == version
        assert len(store.current.model.predict_proba(["@united thank you!"])) == 1
        live_after_swap.append(_live_objects())

    # The first swap also loads what any model needs once (TensorFlow's own state); later ones must not grow.
    growth = [after - before for before, after in itertools.pairwise(live_after_swap[1:])]
    assert max(growth) < MAX_OBJECTS_PER_SWAP, f"objects left behind by each swap: {growth}"
