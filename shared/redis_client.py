"""Redis connections that survive a Redis restart: retries with backoff, health checks, short timeouts."""

from __future__ import annotations

from typing import Any

import redis
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

_CONNECT_TIMEOUT_S = 2.0
_HEALTH_CHECK_INTERVAL_S = 10
_RETRIES = 3
_RETRY_ON = [redis.ConnectionError, redis.TimeoutError]
# Past this many commands in flight an asyncio caller waits for a free connection instead of failing at once.
_ASYNC_MAX_CONNECTIONS = 100


def _backoff() -> ExponentialBackoff:
    return ExponentialBackoff(cap=1.0, base=0.05)


def _options(socket_timeout_s: float) -> dict[str, Any]:
    return {
        "socket_connect_timeout": _CONNECT_TIMEOUT_S,
        "socket_timeout": socket_timeout_s,
        "health_check_interval": _HEALTH_CHECK_INTERVAL_S,
        "retry_on_error": _RETRY_ON,
    }


def connect(url: str, socket_timeout_s: float = 5.0) -> redis.Redis:
    return redis.Redis.from_url(url, retry=Retry(_backoff(), retries=_RETRIES), **_options(socket_timeout_s))


def connect_async(url: str, socket_timeout_s: float = 5.0) -> aioredis.Redis:
    """The asyncio client, with the same retries and timeouts as `connect`; a burst of concurrent requests queues
    for a connection (up to the socket timeout) rather than being refused by a full pool."""
    pool = aioredis.BlockingConnectionPool.from_url(
        url,
        max_connections=_ASYNC_MAX_CONNECTIONS,
        timeout=socket_timeout_s,
        retry=AsyncRetry(_backoff(), retries=_RETRIES),
        **_options(socket_timeout_s),
    )
    return aioredis.Redis.from_pool(pool)
