"""The Models page's lifecycle panel under AppTest, against the real gateway, Redis and MLflow of the stack: the
challenger's figures beside the champion's, an admin's retire button, and the history that records it."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import redis
from mlflow import MlflowClient
from streamlit.testing.v1 import AppTest

from shared import model_lifecycle
from shared.schemas.lifecycle import Actor
from shared.shadow_stats import ShadowStore
from tests.conftest import ADMIN_KEY, Stack

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MakeApp = Callable[..., AppTest]


def test_an_admin_sees_the_challenger_beside_the_champion_and_retires_it(
    ready_gateway: str, stack: Stack, tiny_champion: dict, make_app: MakeApp
) -> None:
    client, redis_client = MlflowClient(stack.mlflow_url), redis.Redis.from_url(stack.redis_url)
    name = tiny_champion["model_name"]
    champion = model_lifecycle.current_version(client, name, "champion")
    source = client.get_model_version(name, tiny_champion["model_version"])
    challenger = str(client.create_model_version(name, source.source, run_id=source.run_id, tags=source.tags).version)
    offline = {"promoted": True, "reason": "promoted: a UI test's challenger"}
    model_lifecycle.challenge(client, redis_client, name, challenger, Actor(kind="person", name="ui-test"), offline)
    ShadowStore(redis_client).record_scored(name, challenger, ["ui-panel-a"], ["positive"], ["negative"], 1.5, 2.5, 60)
    try:
        app = make_app(ready_gateway, admin_api_key=ADMIN_KEY).run()
        app.switch_page("views/models.py").run()
        assert not app.exception
        assert {"Challenger in shadow", "Promotion history"} <= {str(s.value) for s in app.subheader}
        assert any(f"**v{challenger}** challenges champion **v{champion}**" in str(m.value) for m in app.markdown)
        [figures] = [f.value for f in app.dataframe if "live precision" in f.value.columns]
        assert figures["model"].tolist() == ["champion", "challenger"]
        assert figures["version"].tolist() == [champion, challenger]
        assert figures["latency p99"].tolist()[1].endswith(" ms")

        app.button(key="models_retire").click()
        app.run()
        assert any(f"retirement: v{challenger}" in str(s.value) for s in app.success)
        assert model_lifecycle.current_version(client, name, "challenger") is None
        [history] = [f.value for f in app.dataframe if "action" in f.value.columns and "by" in f.value.columns]
        latest = history.iloc[0]
        assert (latest["action"], latest["from"], latest["by"]) == ("retirement", challenger, "person: admin")
    finally:
        if model_lifecycle.current_version(client, name, "challenger") == challenger:
            model_lifecycle.retire(client, redis_client, name, challenger, Actor(kind="person", name="ui-test"), "end")
