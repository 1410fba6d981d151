"""Per-caller rate limit on the prediction routes, in requests and in tweets: a fixed one-minute window counted in
Redis, 429 + Retry-After past either allowance.

Tweets are counted because each answered tweet is a record Redis keeps for feedback: a batch of 1,000 tweets costs
1,000. A batch that does not fit in what is left of the allowance is refused whole and costs no tweets, so the
caller can still send a smaller one. Every request counts against the request limit, refused or invalid ones too.
"""

from __future__ import annotations

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

# KEYS[1]: the caller's counters for this window (a hash: requests, tweets). ARGV: the request limit, the tweet
# allowance (0: tweets uncounted), the tweets of this request, the counters' TTL. Returns {verdict, count}:
# {0, requests} allowed, {1, requests} over the request limit, {2, tweets already spent} over the tweet allowance.
_CHECK_SCRIPT = """
local requests = redis.call('HINCRBY', KEYS[1], 'requests', 1)
if requests == 1 then
  redis.call('EXPIRE', KEYS[1], ARGV[4])
end
if requests > tonumber(ARGV[1]) then
  return {1, requests}
end
local tweets = tonumber(ARGV[3])
local allowance = tonumber(ARGV[2])
if tweets > 0 and allowance > 0 then
  local spent = tonumber(redis.call('HGET', KEYS[1], 'tweets') or '0')
  if spent + tweets > allowance then
    return {2, spent}
  end
  redis.call('HINCRBY', KEYS[1], 'tweets', tweets)
end
return {0, requests}
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
    """One per gateway process, on its asyncio Redis client: a sync call would cost a threadpool hop per request."""

    def __init__(self, settings: GatewaySettings, redis_client: aioredis.Redis) -> None:
        self.settings = settings
        self._check = redis_client.register_script(_CHECK_SCRIPT)

    async def charge(self, request: Request, tweets: int) -> None:
        """Counts one request carrying `tweets` tweets (0 for a body that failed validation). Raises a 429
        HTTPException past an allowance, StorageFull when Redis refuses the count for lack of memory."""
        settings = self.settings
        if settings.predict_rate_limit_per_minute <= 0:
            return
        now = time.time()
        window = int(now // WINDOW_S)
        key = f"{KEY_PREFIX}{caller_identity(request, settings)}:{window}"
        args = (settings.predict_rate_limit_per_minute, max(0, settings.predict_tweet_limit_per_minute), tweets)
        try:
            verdict, count = await self._check(keys=[key], args=[*args, WINDOW_S + 5])
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
