"""Per-key limit on POST /feedback: a fixed one-minute window counted in Redis, 429 + Retry-After past it.

Flags are what alert emails are made of, so one key cannot flag faster than FEEDBACK_RATE_LIMIT_PER_MINUTE.
Counted per key name (each configured key has its own), after authentication: unknown keys never reach Redis.
"""

from __future__ import annotations

import time

import redis
from fastapi import HTTPException, status

from gateway.api_keys import Caller

WINDOW_S = 60
KEY_PREFIX = "ratelimit:feedback:"


def charge_feedback(client: redis.Redis, caller: Caller, limit_per_minute: int, now: float | None = None) -> None:
    """Counts one feedback request of `caller`; raises a 429 HTTPException past the limit (0: unlimited).
    Redis errors propagate: the route answers them as it answers its own."""
    if limit_per_minute <= 0:
        return
    now = time.time() if now is None else now
    window = int(now // WINDOW_S)
    key = f"{KEY_PREFIX}{caller.name}:{window}"
    with client.pipeline(transaction=True) as pipe:
        pipe.incr(key)
        pipe.expire(key, WINDOW_S + 5)
        count, _ = pipe.execute()
    if int(count) <= limit_per_minute:
        return
    retry_after = max(1, int((window + 1) * WINDOW_S - now) + 1)
    raise HTTPException(
        status.HTTP_429_TOO_MANY_REQUESTS,
        f"feedback rate limit of {limit_per_minute} requests per minute reached for the API key of "
        f"{caller.name!r}; retry in {retry_after} s",
        headers={"Retry-After": str(retry_after)},
    )
