"""The jobs view's cancel button under AppTest, against a real gateway process on a real Redis."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest
import redis
from streamlit.testing.v1 import AppTest

from tests.conftest import ADMIN_KEY, Stack, start_gateway
from tests.ui.conftest import TINY_CLASSICAL_JOB

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MakeApp = Callable[..., AppTest]
ADMIN = {"X-API-Key": ADMIN_KEY}


@pytest.fixture
def idle_gateway(stack: Stack) -> Iterator[str]:
    # A Redis database no training worker reads: a queued job stays queued until someone cancels it.
    redis_url = stack.redis_url.rsplit("/", 1)[0] + "/6"
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    process, url = start_gateway(stack, name="gateway-ui-cancel", REDIS_URL=redis_url)
    yield url
    process.stop()
    client.flushdb()


def _job_markdown(app: AppTest, job_id: str) -> str:
    return " ".join(str(m.value) for m in app.markdown if job_id[:8] in str(m.value) or "**" in str(m.value))


def test_the_cancel_button_cancels_a_queued_job(idle_gateway: str, stack: Stack, make_app: MakeApp) -> None:
    queued = httpx.post(
        idle_gateway + "/admin/training-jobs",
        json={"family": "classical", "params": TINY_CLASSICAL_JOB},
        headers=ADMIN,
        timeout=30,
    ).json()
    job_id = queued["job_id"]
    app = make_app(idle_gateway, stack, admin_api_key=ADMIN_KEY).run()
    app.switch_page("views/models.py").run()
    assert not app.exception
    assert "**queued**" in _job_markdown(app, job_id)

    app.button(key=f"job_cancel_{job_id}").click()
    app.run()
    assert not app.exception
    assert not [e.value for e in app.error if "cancel" in str(e.value).lower()]
    assert [s.value for s in app.success] == [f"Cancelled job `{job_id[:8]}`."]
    job = httpx.get(f"{idle_gateway}/admin/training-jobs/{job_id}", headers=ADMIN, timeout=10).json()
    assert job["state"] == "cancelled" and job["progress_message"] == "cancelled by an admin"
    assert "**cancelled**" in _job_markdown(app, job_id)
    # A finished job has nothing left to cancel.
    assert f"job_cancel_{job_id}" not in [button.key for button in app.button]
