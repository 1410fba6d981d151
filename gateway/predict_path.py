"""The predict path of one gateway process: rate limit, worker check, coalescer, inference client.

Built once in the app's lifespan and injected into the predict routes (gateway/deps.py `PredictPathDep`). A tweet
goes one way through it: `PredictPath.predict` charges the caller's allowance, checks that a worker is alive, and
hands the texts to the coalescer (gateway/batching.py), which sends each batch as one call through the inference
client (gateway/inference_client.py).
"""

from __future__ import annotations

import contextlib

import redis
import redis.asyncio as aioredis
from fastapi import HTTPException, Request

from gateway import metrics
from gateway.api_keys import API_KEY_HEADER, caller_of_key
from gateway.batching import Coalescer
from gateway.errors import unavailable
from gateway.inference_client import InferenceClient, InferenceUnavailable, StorageFull
from gateway.ratelimit import PredictRateLimit
from gateway.settings import GatewaySettings
from shared.schemas.api import Prediction


class PredictPath:
    def __init__(self, settings: GatewaySettings, redis_client: aioredis.Redis) -> None:
        self.settings = settings
        self.client = InferenceClient(redis_client, settings.worker_heartbeat_max_age_s, settings.predict_timeout_s)
        self.rate_limit = PredictRateLimit(settings, redis_client)
        self.coalescer = Coalescer(
            self.client.predict,
            window_ms=settings.predict_batch_window_ms,
            max_batch_size=settings.predict_max_batch_size,
            max_in_flight=settings.predict_max_in_flight,
            observe=metrics.observe_coalesced,
        )

    async def predict(self, texts: list[str], request: Request) -> list[Prediction]:
        """One prediction per text, in order; 429 past the caller's allowance, 503 (with the reason) when no answer
        can be given now."""
        settings = self.settings
        try:
            # Called here rather than declared as a route dependency: FastAPI's dependency solving costs every
            # request more than the check itself.
            await self.rate_limit.charge(request, tweets=len(texts))
            workers = await self.client.live_worker_count()
        except StorageFull as exc:
            raise self._storage_full(str(exc)) from exc
        except (redis.RedisError, OSError) as exc:
            raise unavailable("Redis is unreachable", settings.retry_after_s) from exc
        if not workers:
            # A full Redis refuses worker heartbeats too: then the cause to name is the storage, not the workers.
            reason = await self.client.storage_full_reason()
            if reason is not None:
                raise self._storage_full(reason)
            # Fail fast rather than let the caller wait out the timeout for a worker that is not there.
            raise unavailable("no inference worker is running", settings.retry_after_s)
        caller = caller_of_key(request.headers.get(API_KEY_HEADER), settings)
        try:
            return await self.coalescer.predict(texts, request.state.request_id, caller.name if caller else None)
        except StorageFull as exc:
            raise self._storage_full(str(exc)) from exc
        except InferenceUnavailable as exc:
            raise unavailable(str(exc), settings.retry_after_s) from exc
        except (redis.RedisError, OSError) as exc:
            raise unavailable("Redis is unreachable", settings.retry_after_s) from exc

    async def charge_refused_body(self, request: Request) -> None:
        """A request whose body is refused still counts against the caller's request limit."""
        # A full Redis cannot count it: the 4xx that says what to fix is the more useful answer then.
        with contextlib.suppress(StorageFull):
            await self.rate_limit.charge(request, tweets=0)

    async def close(self) -> None:
        await self.rate_limit.close()
        await self.client.close()

    def _storage_full(self, reason: str) -> HTTPException:
        return unavailable(reason, self.settings.storage_full_retry_after_s)
