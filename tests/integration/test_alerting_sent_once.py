"""The one gap exactly-once delivery leaves: the alerting process SIGKILLed after the SMTP server took a report but
before the report was marked sent. A restart sends it again, once, as the same message (same Message-ID)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
import redis

from local_stack.processes import ManagedProcess, free_port, start_redis, wait_until
from shared import redis_keys
from shared.events import MISPREDICTIONS_STREAM, publish
from shared.schemas.alerts import AlertReport
from tests.conftest import alerting_env
from tests.factories import make_misprediction

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TWEETS = ["@united lost bag, day three", "@delta stuck at the gate for 2 h", "@aa cancelled with no notice"]


class HoldingSmtpSink:
    """A real SMTP server (aiosmtpd) that keeps each message it receives, then holds its "250 accepted" answer
    until the test releases it: the sender is then stopped between the server taking the mail and hearing so."""

    def __init__(self) -> None:
        self.port = free_port()
        self.messages: list[EmailMessage] = []
        self.received = threading.Event()
        self.release = threading.Event()
        self._controller = None

    def start(self) -> HoldingSmtpSink:
        from aiosmtpd.controller import Controller

        sink = self

        class Handler:
            async def handle_DATA(self, server, session, envelope) -> str:
                raw = envelope.original_content or envelope.content
                sink.messages.append(message_from_bytes(raw, policy=policy.default))
                sink.received.set()
                await asyncio.get_running_loop().run_in_executor(None, sink.release.wait, 30)
                return "250 Message accepted for delivery"

        self._controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        self.release.set()
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[tuple[str, redis.Redis]]:
    process, url = start_redis(tmp_path / "redis")
    client = redis.Redis.from_url(url)
    yield url, client
    client.close()
    process.stop()


@pytest.fixture
def holding_smtp() -> Iterator[HoldingSmtpSink]:
    sink = HoldingSmtpSink().start()
    yield sink
    sink.stop()


def flag(client: redis.Redis, number: int, text: str) -> None:
    publish(
        client,
        MISPREDICTIONS_STREAM,
        make_misprediction(text, number, analyst="alice"),
    )


def reports(client: redis.Redis) -> list[AlertReport]:
    ids = [r.decode() for r in client.zrange(redis_keys.ALERT_REPORTS_INDEX, 0, -1)]
    return [AlertReport.model_validate_json(client.get(redis_keys.alert_report(r))) for r in ids]


def test_sigkill_after_smtp_took_the_report_resends_it_once_with_the_same_message_id(
    own_redis, holding_smtp: HoldingSmtpSink, alerting_process
) -> None:
    url, client = own_redis
    env = alerting_env(url, holding_smtp.port)
    first: ManagedProcess = alerting_process(env)
    wait_until(lambda: client.exists(redis_keys.ALERTING_HEARTBEAT), 30, "alerting heartbeat", first)
    for number, tweet in enumerate(TWEETS):
        flag(client, number, tweet)
    assert holding_smtp.received.wait(20), "the report never reached the SMTP server:\n" + first.tail()
    # The kill point: the server has the whole message, the sender waits for its answer and has saved nothing.
    first.kill()
    first.popen.wait(timeout=10)
    holding_smtp.release.set()
    [stored] = reports(client)
    assert stored.state != "sent" and client.sismember(redis_keys.ALERT_REPORTS_UNSENT, stored.report_id)

    second = alerting_process(env)
    wait_until(lambda: len(holding_smtp.messages) >= 2, 30, "the report sent again after the restart", second)
    wait_until(lambda: reports(client)[0].state == "sent", 10, "report marked sent", second)
    time.sleep(1.5)  # longer than the retry cap: a third copy would have come by now
    original, duplicate = holding_smtp.messages  # at most one duplicate
    assert original["Message-ID"] == duplicate["Message-ID"] == f"<{stored.report_id}@alerting.air-paradis>"
    assert original["X-Air-Paradis-Report-Id"] == duplicate["X-Air-Paradis-Report-Id"] == stored.report_id
    assert original.get_body(("plain",)).get_content() == duplicate.get_body(("plain",)).get_content()
    [sent] = reports(client)
    assert sent.report_id == stored.report_id and sent.attempts == stored.attempts + 1
    assert not client.sismember(redis_keys.ALERT_REPORTS_UNSENT, stored.report_id)
