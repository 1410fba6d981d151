"""Per-caller rate limit on the prediction routes, in requests and in tweets: a fixed one-minute window counted in
Redis, 429 + Retry-After past either allowance.

Tweets are counted because each answered tweet is a record Redis keeps for feedback: a batch of 1,000 tweets costs
1,000. A batch that does not fit in what is left of the allowance is refused whole and costs no tweets, so the
caller can still send a smaller one. Every request counts against the request limit, refused or invalid ones too.

A caller's first requests of a window in a gateway process are decided in Redis, exactly, whatever the other
processes counted. From that answer on the process keeps a ledger of the caller's window, decides at once from it and
sends its counts every SYNC_S in one pipeline, whose replies bring back what the other processes counted. A request
then costs no Redis round trip of its own; with several gateway processes a caller may exceed the limit by what the
other processes allow it within one sync, and with one process the ledger is exact.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from dataclasses import dataclass

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
SYNC_S = 0.05
KEY_PREFIX = "ratelimit:predict:"
RATE_LIMITED = {
    429: {"description": "Too many prediction requests or tweets for this API key or address; see Retry-After."}
}

# One call counts every request charged in the same event-loop turn. KEYS: each request's counters for this window
# (a hash: requests, tweets). ARGV: the request limit, the tweet allowance (0: tweets uncounted), the counters' TTL,
# then each request's tweets. Returns {verdict, requests, tweets} per key, flattened: verdict 0 allowed, 1 over the
# request limit, 2 over the tweet allowance; the counts are the key's totals after that request.
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
  local spent = tonumber(redis.call('HGET', key, 'tweets') or '0')
  if count > limit then
    verdict = 1
  elseif tweets > 0 and allowance > 0 then
    if spent + tweets > allowance then
      verdict = 2
    else
      spent = redis.call('HINCRBY', key, 'tweets', tweets)
    end
  end
  verdicts[3 * i - 2] = verdict
  verdicts[3 * i - 1] = count
  verdicts[3 * i] = spent
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


@dataclass
class _Ledger:
    """One caller's window as this process knows it: the totals Redis last reported (every process's), the counts
    sent and not yet answered, and the counts not sent yet."""

    requests: int = 0
    tweets: int = 0
    sending_requests: int = 0
    sending_tweets: int = 0
    unsent_requests: int = 0
    unsent_tweets: int = 0

    def charge(self, tweets: int, limit: int, allowance: int) -> tuple[int, int]:
        """The same verdict as _CHECK_SCRIPT's, from this ledger: (verdict, the count it was refused at)."""
        self.unsent_requests += 1
        requests = self.requests + self.sending_requests + self.unsent_requests
        if requests > limit:
            return _OVER_REQUESTS, requests
        if tweets > 0 and allowance > 0:
            spent = self.tweets + self.sending_tweets + self.unsent_tweets
            if spent + tweets > allowance:
                return _OVER_TWEETS, spent
            self.unsent_tweets += tweets
        return _ALLOWED, 0

    def heard(self, requests: int, tweets: int) -> None:
        # Replies may arrive out of order; within a window Redis's totals only grow.
        self.requests, self.tweets = max(self.requests, requests), max(self.tweets, tweets)

    def take_unsent(self) -> tuple[int, int]:
        counts = self.unsent_requests, self.unsent_tweets
        self.sending_requests, self.sending_tweets = self.sending_requests + counts[0], self.sending_tweets + counts[1]
        self.unsent_requests = self.unsent_tweets = 0
        return counts

    def sent(self, counts: tuple[int, int], totals: tuple[int, int] | None) -> None:
        """The answer to `take_unsent`'s counts: Redis's new totals, or None when they did not arrive (sent again)."""
        self.sending_requests -= counts[0]
        self.sending_tweets -= counts[1]
        if totals is None:
            self.unsent_requests += counts[0]
            self.unsent_tweets += counts[1]
        else:
            self.heard(*totals)


class PredictRateLimit:
    """One per gateway process, on its asyncio Redis client. First contacts charged in the same event-loop turn
    share one Redis call; later charges are decided from the ledger and their counts sent every SYNC_S."""

    def __init__(self, settings: GatewaySettings, redis_client: aioredis.Redis) -> None:
        self.settings = settings
        self._redis = redis_client
        self._check = redis_client.register_script(_CHECK_SCRIPT)
        self._waiting: list[tuple[str, int, asyncio.Future[tuple[int, int]]]] = []
        self._checks: set[asyncio.Task[None]] = set()  # the loop keeps only weak references to tasks
        self._window = 0
        self._ledgers: dict[str, _Ledger] = {}
        self._syncing: asyncio.Task[None] | None = None
        self._sync_failing = False

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
        ledgers = self._ledgers  # this window's: a reply arriving after the window turned seeds nothing current
        settings = self.settings
        args = [settings.predict_rate_limit_per_minute, max(0, settings.predict_tweet_limit_per_minute), WINDOW_S + 5]
        try:
            flat = await self._check(keys=[key for key, _, _ in waiting], args=args + [t for _, t, _ in waiting])
        except Exception as exc:  # every request of the burst sees the error and decides for itself
            for _, _, future in waiting:
                if not future.done():
                    future.set_exception(exc)
            return
        for index, (key, _, future) in enumerate(waiting):
            verdict, requests, tweets = (int(value) for value in flat[3 * index : 3 * index + 3])
            ledgers.setdefault(key, _Ledger()).heard(requests, tweets)
            if not future.done():
                future.set_result((verdict, tweets if verdict == _OVER_TWEETS else requests))

    async def charge(self, request: Request, tweets: int) -> None:
        """Counts one request carrying `tweets` tweets (0 for a body that failed validation). Raises a 429
        HTTPException past an allowance, StorageFull when Redis refuses a first contact for lack of memory."""
        settings = self.settings
        limit = settings.predict_rate_limit_per_minute
        if limit <= 0:
            return
        now = time.time()
        window = int(now // WINDOW_S)
        if window != self._window:
            self._window, self._ledgers = window, {}
        key = f"{KEY_PREFIX}{caller_identity(request, settings)}:{window}"
        ledger = self._ledgers.get(key)
        if ledger is not None:
            verdict, count = ledger.charge(tweets, limit, max(0, settings.predict_tweet_limit_per_minute))
            if self._syncing is None:
                self._syncing = asyncio.get_running_loop().create_task(self._sync_while_unsent())
        else:
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
            message = f"rate limit of {limit} prediction requests per minute reached; retry in {retry_after} s"
        else:
            message = _tweets_refused(settings.predict_tweet_limit_per_minute, count, tweets, retry_after)
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, message, headers={"Retry-After": str(retry_after)})

    async def _sync_while_unsent(self) -> None:
        try:
            while True:
                await asyncio.sleep(SYNC_S)
                if not await self.sync():
                    return
        finally:
            self._syncing = None

    async def sync(self) -> int:
        """Sends every ledger's unsent counts in one pipeline; returns how many callers' counts it sent."""
        if int(time.time() // WINDOW_S) != self._window:
            self._ledgers = {}  # a past window's counts no longer decide anything
        sent = [(key, ledger, ledger.take_unsent()) for key, ledger in self._ledgers.items() if ledger.unsent_requests]
        if not sent:
            return 0
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for key, _, (requests, tweets) in sent:
                    pipe.hincrby(key, "requests", requests)
                    pipe.hincrby(key, "tweets", tweets)
                    pipe.expire(key, WINDOW_S + 5)
                replies = await pipe.execute()
        except (redis.RedisError, OSError) as exc:
            for _, ledger, counts in sent:
                ledger.sent(counts, None)
            if not self._sync_failing:  # once per outage, not every SYNC_S
                log.warning("rate limit counts not sent, kept for the next sync %s", kv(callers=len(sent), error=exc))
            self._sync_failing = True
            return len(sent)
        self._sync_failing = False
        for index, (_, ledger, counts) in enumerate(sent):
            ledger.sent(counts, (int(replies[3 * index]), int(replies[3 * index + 1])))
        return len(sent)

    async def close(self) -> None:
        """Sends what is unsent, so that a process that stops leaves its counts to the others."""
        if self._syncing is not None:
            self._syncing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._syncing
        with contextlib.suppress(redis.RedisError, OSError):
            await self.sync()


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
