"""SIGKILL the inference worker under streaming traffic, start a new one: nothing accepted is lost or hangs.

Every request ends as an answer or a 503 with Retry-After within its timeout; calls the dead worker had read but
not acknowledged stay pending in the call stream's consumer group, and the new worker claims and answers them.
"""

from __future__ import annotations

import json
import time

import pytest
import redis

from local_stack.processes import wait_until
from shared import redis_keys
from shared.prediction_record import decode_record
from tests.conftest import start_inference_worker
from tests.reliability.conftest import FaultStack, record_fault, serve
from tests.reliability.traffic import Streamer

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# Generous: a replacement worker on a busy 2-core box needs up to ~70 s to import TensorFlow and load the model (23-72 s
# measured while other suites ran), and a held call must still be unexpired when it is claimed.
PREDICT_TIMEOUT_S = 60
CLAIM_AFTER_S = 5  # the inference worker's default CALL_CLAIM_AFTER_S


STREAM, GROUP = redis_keys.PREDICT_CALLS_STREAM, redis_keys.PREDICT_CALLS_GROUP


def pending_calls(client: redis.Redis) -> int:
    """Calls some worker read and has not acknowledged yet."""
    try:
        return int(client.xpending(STREAM, GROUP)["pending"])
    except redis.ResponseError:  # no group yet
        return 0


def held_request_ids(client: redis.Redis) -> set[str]:
    """Request ids of the calls a worker read and never acknowledged (the group's pending entries)."""
    held = set()
    for entry in client.xpending_range(STREAM, GROUP, min="-", max="+", count=10_000):
        for _id, fields in client.xrange(STREAM, min=entry["message_id"], max=entry["message_id"]):
            held.update(json.loads(fields[b"call"])["request_ids"])
    return held


def recorded_request_ids(client: redis.Redis) -> set[str]:
    """Request ids of the predictions workers recorded (each prediction is stored with its request's id)."""
    keys = list(client.scan_iter(match=redis_keys.PREDICTION_PREFIX + "*", count=1000))
    prefix = len(redis_keys.PREDICTION_PREFIX)
    records = zip(keys, client.mget(keys), strict=True) if keys else ()
    return {decode_record(key.decode()[prefix:], raw).request_id for key, raw in records if raw}


def serving_heartbeat(client: redis.Redis, pid: int) -> bool:
    """True once the worker process `pid` publishes a heartbeat naming a loaded model (it really serves)."""
    for key in client.scan_iter(match=redis_keys.INFERENCE_WORKER_HEARTBEAT_PREFIX + "*"):
        raw = client.get(key)
        if raw and key.decode().endswith(f":{pid}") and json.loads(raw).get("model_version"):
            return True
    return False


def test_sigkill_inference_worker_under_traffic(faults: FaultStack, fault_table) -> None:
    # Tweets uncounted: the rate limit would refuse most of the 1,000-tweet batches that keep the worker busy.
    served = serve(faults, "kill", PREDICT_TIMEOUT_S=str(PREDICT_TIMEOUT_S), PREDICT_TWEET_LIMIT_PER_MINUTE="0")
    broker = redis.Redis.from_url(faults.stack.redis_url)
    streamer = Streamer(served.url, singles=4, batches=3, batch_size=1000, timeout_s=PREDICT_TIMEOUT_S + 10, prefix="k")
    streamer.start()
    time.sleep(2)
    # Kill while the worker holds read-but-unacknowledged calls (big batches keep it busy most of the time).
    wait_until(lambda: pending_calls(broker) > 0, 20, "a call in flight", interval_s=0.005)
    served.worker.kill()  # SIGKILL to the whole process group: no warm shutdown, nothing acknowledged
    served.worker.popen.wait(10)
    held = {request_id for request_id in held_request_ids(broker) if request_id.startswith("k-")}
    restarted_at = time.monotonic()
    replacement = faults.service(start_inference_worker(faults.stack, name="kill-worker-2"))
    wait_until(lambda: serving_heartbeat(broker, replacement.pid), 120, "replacement worker", replacement, 0.2)
    restart_s = time.monotonic() - restarted_at
    # Past the claim delay and a few sweeps, so the held calls are claimed and answered.
    time.sleep(CLAIM_AFTER_S + 3)
    log = streamer.stop()

    counts = log.counts()
    lost = log.lost()
    slowest = max(o.seconds for o in log.outcomes)
    record_fault(
        fault_table,
        "inference worker SIGKILLed under /predict + /predict/batch",
        log.sent,
        counts["answered"],
        counts["explicit"],
        counts["lost"],
        f"{len(held)} request(s) held by the dead worker, claimed and answered by the new one (serving "
        f"{restart_s:.0f} s after start); slowest answer {slowest:.1f} s (timeout {PREDICT_TIMEOUT_S} s)",
    )
    assert counts["lost"] == 0, lost[:5]
    assert counts["answered"] > 0 and log.sent == counts["answered"] + counts["explicit"]
    assert slowest <= PREDICT_TIMEOUT_S + 5
    # The calls the dead worker held were answered by its replacement and reached their callers.
    assert held, "the kill caught no call in flight"
    outcomes = log.by_request_id()
    recorded = recorded_request_ids(broker)
    for request_id in held:
        assert outcomes[request_id].kind == "answered", outcomes[request_id]
        assert request_id in recorded, f"held call {request_id} was not answered again"
    assert pending_calls(broker) == 0
