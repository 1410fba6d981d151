"""The promotion gate's periodic check: promotes or retires the served model's challenger on its shadow figures.

NOTE: it runs in the training worker's main process, beside the orphaned-job sweep: training owns promotion and the
registry's writes, its main process loads no model, and there is one per deployment, where inference workers
scale out and would need a leader. Several training workers are safe: each move re-checks under the model's lock.
"""

from __future__ import annotations

import logging
import threading

import redis
from mlflow import MlflowClient

from shared.logging_setup import kv
from shared.model_lifecycle import LifecycleConflict, challenger_status, promote, retire
from shared.promotion_gate import PromotionPolicySettings
from shared.schemas.lifecycle import Actor, GateVerdict

log = logging.getLogger(__name__)

GATE_POLICY = Actor(kind="policy", name="shadow promotion gate")


def apply_gate(
    client: MlflowClient,
    redis_client: redis.Redis,
    model_name: str,
    policy: PromotionPolicySettings,
    champion_alias: str,
) -> GateVerdict | None:
    """One check: None without a challenger; under the manual policy the verdict is only reported."""
    status = challenger_status(client, redis_client, model_name, policy, champion_alias)
    verdict, version = status.verdict, status.challenger_version
    if verdict is None or version is None or verdict.action == "wait" or policy.promotion_gate == "manual":
        return verdict
    figures = {
        "offline": status.offline,
        "shadow": status.figures.model_dump(mode="json") if status.figures else None,
    }
    move = promote if verdict.action == "promote" else retire
    try:
        move(
            client,
            redis_client,
            model_name,
            version,
            GATE_POLICY,
            verdict.reason,
            figures,
            champion_alias=champion_alias,
        )
    except LifecycleConflict as exc:  # an admin moved it meanwhile
        log.warning("gate move skipped %s", kv(model=model_name, version=version, reason=exc))
    return verdict


class GateLoop:
    """Applies the gate now and then every `gate_interval_s`, in a daemon thread of the worker's main process."""

    def __init__(
        self,
        client: MlflowClient,
        redis_client: redis.Redis,
        model_name: str,
        policy: PromotionPolicySettings,
        alias: str,
    ) -> None:
        self._args = (client, redis_client, model_name, policy, alias)
        self._interval_s = policy.gate_interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="promotion-gate", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            try:
                apply_gate(*self._args)
            except Exception:  # the loop must outlive a registry or Redis outage
                log.exception("promotion gate check failed %s", kv(model=self._args[2]))
