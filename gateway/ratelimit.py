"""Per-caller rate limit on the prediction routes, in requests and in tweets: a fixed one-minute window counted in
Redis, 429 + Retry-After past either allowance.

Tweets are counted because each answered tweet is a record Redis keeps for feedback: a batch of 1,000 tweets costs
1,000. A batch that does not fit in what is left of the allowance is refused whole and costs no tweets, so the
caller can still send a smaller one. Every request counts against the request limit, refused or invalid ones too.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time

import redis
import redis.asyncio as aioredis
from fastapi import HTTPException, Request, status

from gateway.api_keys import API_KEY_HEADER, role_of_key
from gateway.inference_client import StorageFull
from gateway.settings import GatewaySettings
from shared.logging_setup import kv
from shared.storage_budget import is_out_of_memory, refused

log = logging.getLogger(__name__)

WINDOW_S = 60
KEY_PREFIX = "ratelimit:predict:"
RATE_LIMITED = {
    429: {"description": "Too many prediction requests or tweets for this API key or address; see Retry-After."}
}

# One call counts every request charged in the same event-loop turn. KEYS: each request's counters for this window
# (a hash: requests, tweets). ARGV: the request limit, the tweet allowance (0: tweets uncounted), the counters' TTL,
# then each request's tweets. Returns {verdict, count} per key, flattened: {0, requests} allowed, {1, requests} over
# the request limit, {2, tweets already spent} over the tweet allowance.
_CHECK_SCRIPT = """
local limit = tonumber(ARGV[1])
local allowance = tonumber(ARGV[2])
local verdicts = {}
for i, key in ipairs(KEYS) do
  local verdict, count = 0, redis.call('HINCRBY', key, 'requests', 1)
  if count == 1 then
    redis.call('EXPIRE', key, ARGV[3])
  end
  local tweets = tonumber(ARGV[3 + i])
  if count > limit then
    verdict = 1
  elseif tweets > 0 and allowance > 0 then
    local spent = tonumber(redis.call('HGET', key, 'tweets') or '0')
    if spent + tweets > allowance then
      verdict, count = 2, spent
    else
      redis.call('HINCRBY', key, 'tweets', tweets)
    end
  end
  verdicts[2 * i - 1] = verdict
  verdicts[2 * i] = count
end
return verdicts
"""
_ALLOWED, _OVER_REQUESTS, _OVER_TWEETS = 0, 1, 2


def caller_identity(request: Request, settings: GatewaySettings) -> str:
    """A configured key counts for itself, whatever address it comes from; anyone else counts by address, so that
    sending made-up keys cannot buy a fresh allowance. Keys are hashed: Redis never holds one in clear."""
    api_key = request.headers.get(API_KEY_HEADER)
    if api_key and role_of_key(api_key, settings) is not None:
        return "key:" + hashlib.sha256(api_key.encode()).hexdigest()[:24]
    return "ip:" + (request.client.host if request.client else "unknown")


class PredictRateLimit:
    """One per gateway process, on its asyncio Redis client. Requests charged in the same event-loop turn share one
    Redis call, so that under load the limit costs a round trip per burst rather than per request."""

    def __init__(self, settings: GatewaySettings, redis_client: aioredis.Redis) -> None:
        self.settings = settings
        self._check = redis_client.register_script(_CHECK_SCRIPT)
        self._waiting: list[tuple[str, int, asyncio.Future[tuple[int, int]]]] = []
        self._checks: set[asyncio.Task[None]] = set()  # the loop keeps only weak references to tasks

    def _verdict(self, key: str, tweets: int) -> asyncio.Future[tuple[int, int]]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[tuple[int, int]] = loop.create_future()
        if not self._waiting:
            loop.call_soon(self._start_check)
        self._waiting.append((key, tweets, future))
        return future

    def _start_check(self) -> None:
        task = asyncio.get_running_loop().create_task(self._check_waiting())
        self._checks.add(task)
        task.add_done_callback(self._checks.discard)

    async def _check_waiting(self) -> None:
        waiting, self._waiting = self._waiting, []
        settings = self.settings
        args = [settings.predict_rate_limit_per_minute, max(0, settings.predict_tweet_limit_per_minute), WINDOW_S + 5]
        try:
            flat = await self._check(keys=[key for key, _, _ in waiting], args=args + [t for _, t, _ in waiting])
        except Exception as exc:  # every request of the burst sees the error and decides for itself
            for _, _, future in waiting:
                if not future.done():
                    future.set_exception(exc)
            return
        for index, (_, _, future) in enumerate(waiting):
            if not future.done():
                future.set_result((int(flat[2 * index]), int(flat[2 * index + 1])))

    async def charge(self, request: Request, tweets: int) -> None:
        """Counts one request carrying `tweets` tweets (0 for a body that failed validation). Raises a 429
        HTTPException past an allowance, StorageFull when Redis refuses the count for lack of memory."""
        settings = self.settings
        if settings.predict_rate_limit_per_minute <= 0:
            return
        now = time.time()
        window = int(now // WINDOW_S)
        key = f"{KEY_PREFIX}{caller_identity(request, settings)}:{window}"
        try:
            verdict, count = await self._verdict(key, tweets)
        except (redis.RedisError, OSError) as exc:
            if is_out_of_memory(exc):
                raise StorageFull(refused("the request")) from exc
            # Redis down: the route itself answers 503 with the reason; refusing here as well would only hide it.
            log.warning("rate limit not checked %s", kv(request_id=_request_id(request), error=exc))
            return
        if verdict == _ALLOWED:
            return
        retry_after = max(1, int((window + 1) * WINDOW_S - now) + 1)
        if verdict == _OVER_REQUESTS:
            message = (
                f"rate limit of {settings.predict_rate_limit_per_minute} prediction requests per minute reached; "
                f"retry in {retry_after} s"
            )
        else:
            message = _tweets_refused(settings.predict_tweet_limit_per_minute, int(count), tweets, retry_after)
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, message, headers={"Retry-After": str(retry_after)})


def _tweets_refused(allowance: int, spent: int, tweets: int, retry_after: int) -> str:
    if tweets > allowance:
        return (
            f"this request has {tweets} tweets, more than the allowance of {allowance} tweets per minute: "
            f"send them in batches of at most {allowance}"
        )
    return (
        f"tweet allowance of {allowance} tweets per minute reached ({spent} sent in this minute, this request has "
        f"{tweets}): send at most {max(0, allowance - spent)} tweets now, or retry in {retry_after} s"
    )


def _request_id(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)
