"""A gateway response leaves in one write, its head with its body, on a real gateway process over loopback.

uvicorn writes a response's head and body separately; the gateway's transport (gateway/coalesced_transport.py)
sends both in one `writev`. The process's own count of write system calls (`syscw` in /proc/<pid>/io) tells the
two apart without tracing it.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.conftest import Stack, start_gateway

pytestmark = pytest.mark.integration

REQUESTS = 200


def _write_calls(pid: int) -> int:
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        name, value = line.split(":")
        if name == "syscw":
            return int(value)
    raise AssertionError("no syscw in /proc/<pid>/io")


@pytest.mark.skipif(not Path("/proc/self/io").exists(), reason="needs Linux's /proc/<pid>/io")
def test_each_response_is_one_write_and_arrives_whole(stack: Stack) -> None:
    # One process (its pid is the one serving) and warnings only (no access line written per request).
    process, url = start_gateway(stack, "gateway-writes", GATEWAY_PROCESSES="1", LOG_LEVEL="WARNING")
    try:
        with httpx.Client(base_url=url, timeout=10) as client:
            client.get("/no-such-route")  # the connection is open and every lazy import done
            before = _write_calls(process.pid)
            responses = [client.get("/no-such-route") for _ in range(REQUESTS)]
            after = _write_calls(process.pid)
            schema = client.get("/openapi.json")  # a larger body, after the timed ones
    finally:
        process.stop()
    assert [r.status_code for r in responses] == [404] * REQUESTS
    assert all(r.json() == {"detail": "Not Found"} for r in responses)
    assert schema.status_code == 200 and schema.json()["paths"]
    # Two writes per response without the coalescing transport; a little slack for writes of the process's own.
    assert after - before < 1.25 * REQUESTS, f"{after - before} write calls for {REQUESTS} responses"
