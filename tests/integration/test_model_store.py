"""The worker's model store in this process: each promotion swaps the new version in and lets the old one go.

Serving processes keep their long-lived objects out of the cycle collector (shared/heap.py). A model swapped out
must still be reclaimed, or every promotion would cost a worker one model's memory for good: the ONNX scorer
itself, or whatever loading a version (downloads, registry client) leaves behind.
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import weakref
from collections.abc import Iterator

import mlflow
import pytest
from mlflow import MlflowClient

from inference_worker.model_store import ModelStore
from tests.conftest import MODEL_SIGNING_KEY, Stack

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MODEL_NAME = "model-store-lstm"
PROMOTIONS = 4
# Objects one swap may leave behind (registry client caches and the like). A replaced model that stayed alive
# would leave its encoder, session and manifest: thousands.
MAX_OBJECTS_PER_SWAP = 1_000


def _live_objects() -> int:
    return len(gc.get_objects()) + gc.get_freeze_count()


@pytest.fixture
def registered_versions(stack: Stack, tiny_champion: dict) -> Iterator[list[str]]:
    champion = MlflowClient(stack.mlflow_url).get_model_version(
        tiny_champion["model_name"], tiny_champion["model_version"]
    )
    client = MlflowClient(stack.mlflow_url)
    with contextlib.suppress(mlflow.exceptions.MlflowException):
        client.create_registered_model(MODEL_NAME)
    # The champion's own signed files again: each version is as trusted as the champion.
    yield [
        str(client.create_model_version(MODEL_NAME, champion.source, run_id=champion.run_id).version)
        for _ in range(PROMOTIONS)
    ]
    gc.unfreeze()  # the store froze this test process's heap: give it back to the collector


def test_each_promotion_serves_the_new_version_and_releases_the_old_model(
    stack: Stack, registered_versions: list[str]
) -> None:
    client = MlflowClient(stack.mlflow_url)
    store = ModelStore(stack.mlflow_url, MODEL_NAME, "champion", MODEL_SIGNING_KEY)
    live_after_swap = []
    served: list[weakref.ref] = []
    for version in registered_versions:
        client.set_registered_model_alias(MODEL_NAME, "champion", version)
        assert store.refresh()
        assert store.current is not None and store.current.version == version
        assert len(store.current.model.predict_proba(["@united thank you!"])) == 1
        served.append(weakref.ref(store.current.model))
        live_after_swap.append(_live_objects())

    replaced_alive = [registered_versions[i] for i, ref in enumerate(served[:-1]) if ref() is not None]
    assert replaced_alive == [], f"scorers of replaced versions still alive: {replaced_alive}"
    # The first swap also loads what any model needs once (ONNX Runtime, the registry client); later ones must not grow.
    growth = [after - before for before, after in itertools.pairwise(live_after_swap[1:])]
    assert max(growth) < MAX_OBJECTS_PER_SWAP, f"objects left behind by each swap: {growth}"
