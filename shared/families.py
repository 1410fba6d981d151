"""The one list of model families: each name, its parameters and its registered model's default name.

A family `<name>` trains in `training_worker/families/<name>.py` (`train(split, params, context)`); adding one is
that module and one line below. Everything else (the job schema, validation, the CLI, the UI form, registered model
names) is derived from this list.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from shared.training_params import BertParams, ClassicalParams, CommonParams, LstmParams


@dataclass(frozen=True)
class FamilySpec:
    name: str
    params: type[CommonParams]
    registered_model: str


FAMILIES: dict[str, FamilySpec] = {
    spec.name: spec
    for spec in (
        FamilySpec("classical", ClassicalParams, "air-paradis-classical"),
        FamilySpec("lstm", LstmParams, "air-paradis-lstm"),
        FamilySpec("bert", BertParams, "air-paradis-bert"),
    )
}
FAMILY_NAMES = tuple(FAMILIES)
TrainingFamily = Literal[FAMILY_NAMES]  # type: ignore[valid-type]
