"""The alerting process against a real Redis and a real SMTP server: delivery, SMTP outages, SIGKILL and restart."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import redis

from local_stack.processes import ManagedProcess, free_port, start_redis, wait_until
from shared import redis_keys
from shared.events import MISPREDICTIONS_STREAM, publish
from shared.schemas.alerts import AlertReport
from shared.schemas.base import utc_now
from shared.schemas.events import MispredictionEvent
from tests.conftest import SmtpSink, alerting_env
from tests.factories import make_misprediction

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[tuple[str, redis.Redis]]:
    """A Redis for this test alone: its stream and reports start empty."""
    process, url = start_redis(tmp_path / "redis")
    client = redis.Redis.from_url(url)
    yield url, client
    client.close()
    process.stop()


def flag(client: redis.Redis, text: str, seconds_ago: float = 0) -> MispredictionEvent:
    """What the gateway publishes when an analyst corrects a prediction."""
    event = make_misprediction(
        text, text[:8], utc_now() - timedelta(seconds=seconds_ago), probability_positive=0.83, model_version="7"
    )
    publish(client, MISPREDICTIONS_STREAM, event)
    return event


def wait_alerting_up(client: redis.Redis, process: ManagedProcess) -> None:
    wait_until(lambda: client.exists(redis_keys.ALERTING_HEARTBEAT), 30, "alerting heartbeat", process)


def reports(client: redis.Redis) -> list[AlertReport]:
    ids = [r.decode() for r in client.zrange(redis_keys.ALERT_REPORTS_INDEX, 0, -1)]
    return [AlertReport.model_validate_json(client.get(redis_keys.alert_report(r))) for r in ids]


def pending_count(client: redis.Redis) -> int:
    groups = client.xinfo_groups(MISPREDICTIONS_STREAM)
    return int(groups[0]["pending"]) if groups else 0


TWEETS = ["@united my bag is lost again", "@delta 4 hours on the tarmac", "@aa rebooked me onto a worse flight"]


def test_three_flags_send_one_report_over_smtp(own_redis, smtp_server: SmtpSink, alerting_process) -> None:
    url, client = own_redis
    process = alerting_process(alerting_env(url, smtp_server.port))
    wait_alerting_up(client, process)
    for tweet in TWEETS:
        flag(client, tweet)
    [message] = smtp_server.wait_for(1, timeout_s=20)
    assert message["Subject"] == "[Air Paradis] 3 mispredictions within 5 min — air-paradis-lstm v7"
    assert message["To"] == "ops@example.test, ml@example.test"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    for tweet in TWEETS:
        assert tweet in text and tweet in html
    assert "predicted: positive (probability positive 0.83) -> corrected: negative" in text
    wait_until(lambda: reports(client)[0].state == "sent", 10, "report marked sent")
    [report] = reports(client)
    assert report.delivered_via == "smtp" and report.attempts == 1
    assert pending_count(client) == 0  # every event acknowledged, because its report went out
    time.sleep(1.0)
    assert len(smtp_server.messages) == 1


def test_smtp_down_then_up_the_report_waits_and_arrives(own_redis, alerting_process) -> None:
    url, client = own_redis
    smtp_port = free_port()  # nothing listens there yet
    process = alerting_process(alerting_env(url, smtp_port))
    wait_alerting_up(client, process)
    for tweet in TWEETS:
        flag(client, tweet)
    wait_until(lambda: reports(client) and reports(client)[0].attempts >= 2, 20, "failed tries")
    [waiting] = reports(client)
    assert waiting.state == "retrying" and "SMTP" in (waiting.last_error or "")
    sink = SmtpSink(smtp_port).start()
    try:
        [message] = sink.wait_for(1, timeout_s=20)
        assert all(tweet in message.get_body(("plain",)).get_content() for tweet in TWEETS)
        wait_until(lambda: reports(client)[0].state == "sent", 10, "report marked sent")
        time.sleep(1.5)  # longer than the retry cap: a second copy would have come by now
        assert len(sink.messages) == 1
    finally:
        sink.stop()


def test_sigkill_with_a_report_stored_but_unsent_then_restart_delivers_it_once(own_redis, alerting_process) -> None:
    url, client = own_redis
    smtp_port = free_port()
    env = alerting_env(url, smtp_port)
    first = alerting_process(env)
    wait_alerting_up(client, first)
    for tweet in TWEETS:
        flag(client, tweet)
    # The kill point: the report is stored and its events acknowledged, but no SMTP server took it yet.
    wait_until(lambda: reports(client) and reports(client)[0].state == "retrying", 20, "report stored, not sent")
    first.kill()
    first.popen.wait(timeout=10)
    sink = SmtpSink(smtp_port).start()
    try:
        time.sleep(1.5)
        assert sink.messages == []  # the dead process sends nothing
        second = alerting_process(env)
        [message] = sink.wait_for(1, timeout_s=30)
        assert all(tweet in message.get_body(("plain",)).get_content() for tweet in TWEETS)
        wait_until(lambda: reports(client)[0].state == "sent", 10, "report marked sent", second)
        time.sleep(1.5)
        assert len(sink.messages) == 1 and len(reports(client)) == 1
    finally:
        sink.stop()


def test_sigkill_with_events_read_but_unreported_then_restart_recovers_them(
    own_redis, smtp_server: SmtpSink, alerting_process
) -> None:
    url, client = own_redis
    env = alerting_env(url, smtp_server.port)
    first = alerting_process(env)
    wait_alerting_up(client, first)
    flag(client, TWEETS[0])
    flag(client, TWEETS[1])
    # Read by the group but held in the window: pending, unacknowledged.
    wait_until(lambda: pending_count(client) == 2, 10, "two events delivered to the consumer", first)
    first.kill()
    first.popen.wait(timeout=10)
    # Restarted under another consumer name (a new container): it takes the dead one's pending events over.
    second = alerting_process({**env, "CONSUMER_NAME": "alerting-replacement"})
    wait_until(
        lambda: (
            client.get(redis_keys.ALERTING_HEARTBEAT) and b"replacement" in client.get(redis_keys.ALERTING_HEARTBEAT)
        ),
        30,
        "second alerting up",
        second,
    )
    flag(client, TWEETS[2])
    [message] = smtp_server.wait_for(1, timeout_s=20)
    assert all(tweet in message.get_body(("plain",)).get_content() for tweet in TWEETS)
    wait_until(lambda: pending_count(client) == 0, 10, "all acknowledged")
    time.sleep(1.0)
    assert len(smtp_server.messages) == 1


def test_without_smtp_host_the_report_lands_in_the_outbox(own_redis, tmp_path: Path, alerting_process) -> None:
    url, client = own_redis
    outbox = tmp_path / "outbox"
    process = alerting_process(alerting_env(url, None, OUTBOX_DIR=str(outbox)))
    wait_alerting_up(client, process)
    status = json.loads(client.get(redis_keys.ALERTING_HEARTBEAT))
    assert status["delivery"] == "outbox" and status["threshold"] == 3
    for tweet in TWEETS:
        flag(client, tweet)
    wait_until(lambda: list(outbox.glob("*.eml")), 20, "an .eml in the outbox", process)
    [eml] = list(outbox.glob("*.eml"))
    content = eml.read_text()
    assert all(tweet in content for tweet in TWEETS) and "Content-Type: text/html" in content
    wait_until(lambda: reports(client)[0].state == "sent", 10, "report marked sent")
    assert reports(client)[0].delivered_to == str(eml.resolve())


def test_slow_flags_send_nothing_and_are_acknowledged(own_redis, smtp_server: SmtpSink, alerting_process) -> None:
    url, client = own_redis
    process = alerting_process(alerting_env(url, smtp_server.port))
    wait_alerting_up(client, process)
    # Flagged 10 and 6 minutes ago and now: never three within five minutes.
    flag(client, TWEETS[0], seconds_ago=600)
    flag(client, TWEETS[1], seconds_ago=360)
    flag(client, TWEETS[2])
    wait_until(lambda: pending_count(client) == 1, 10, "old events acknowledged, the newest waiting", process)
    time.sleep(1.0)
    assert smtp_server.messages == [] and reports(client) == []


def test_a_redis_restart_loses_no_event(tmp_path: Path, smtp_server: SmtpSink, alerting_process) -> None:
    data_dir = tmp_path / "redis-aof"
    redis_process, url = start_redis(data_dir, persistent=True)
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    client = redis.Redis.from_url(url)
    process = alerting_process(alerting_env(url, smtp_server.port))
    try:
        wait_alerting_up(client, process)
        flag(client, TWEETS[0])
        flag(client, TWEETS[1])
        wait_until(lambda: pending_count(client) == 2, 10, "two events waiting in the window", process)
        redis_process.stop()
        time.sleep(2.0)  # alerting keeps failing to reach Redis meanwhile, and must not exit
        assert process.alive()
        redis_process, _ = start_redis(data_dir, port=port, persistent=True)
        flag(client, TWEETS[2])
        [message] = smtp_server.wait_for(1, timeout_s=30)
        assert all(tweet in message.get_body(("plain",)).get_content() for tweet in TWEETS)
        time.sleep(1.0)
        assert len(smtp_server.messages) == 1
    finally:
        client.close()
        redis_process.stop()
