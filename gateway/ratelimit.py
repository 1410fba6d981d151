"""Per-caller rate limit on the prediction routes: a fixed one-minute window counted in Redis, 429 + Retry-After."""

from __future__ import annotations

import hashlib
import logging
import time

import redis
import redis.asyncio as aioredis
from fastapi import HTTPException, Request, status

from gateway.deps import API_KEY_HEADER, SettingsDep, role_of_key
from gateway.settings import GatewaySettings
from shared.logging_setup import kv

log = logging.getLogger(__name__)

WINDOW_S = 60
KEY_PREFIX = "ratelimit:predict:"
RATE_LIMITED = {429: {"description": "Too many prediction requests for this API key or address; see Retry-After."}}


def caller_identity(request: Request, settings: SettingsDep) -> str:
    """A configured key counts for itself, whatever address it comes from; anyone else counts by address, so that
    sending made-up keys cannot buy a fresh allowance. Keys are hashed: Redis never holds one in clear."""
    api_key = request.headers.get(API_KEY_HEADER)
    if api_key and role_of_key(api_key, settings) is not None:
        return "key:" + hashlib.sha256(api_key.encode()).hexdigest()[:24]
    return "ip:" + (request.client.host if request.client else "unknown")


async def enforce_predict_rate_limit(request: Request, settings: GatewaySettings, redis_client: aioredis.Redis) -> None:
    """Async, on the event loop: a sync Redis call would cost a threadpool hop on every prediction request."""
    limit = settings.predict_rate_limit_per_minute
    if limit <= 0:
        return
    now = time.time()
    window = int(now // WINDOW_S)
    key = f"{KEY_PREFIX}{caller_identity(request, settings)}:{window}"
    try:
        async with redis_client.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, WINDOW_S + 5)
            count = int((await pipe.execute())[0])
    except (redis.RedisError, OSError) as exc:
        # Redis down: the route itself answers 503 with the reason; refusing here as well would only hide it.
        log.warning("rate limit not checked %s", kv(request_id=getattr(request.state, "request_id", None), error=exc))
        return
    if count > limit:
        retry_after = max(1, int((window + 1) * WINDOW_S - now) + 1)
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            f"rate limit of {limit} prediction requests per minute reached; retry in {retry_after} s",
            headers={"Retry-After": str(retry_after)},
        )
