"""GET /health (the process is alive) and GET /ready (Redis with room to write, a worker and a model: says which is
missing)."""

from __future__ import annotations

import redis
from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from gateway.deps import PredictPathDep
from shared.schemas.api import Readiness
from shared.version import package_version

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str
    version: str


@router.get("/health", response_model=Health)
def health() -> Health:
    return Health(status="ok", version=package_version())


@router.get("/ready", response_model=Readiness, responses={503: {"model": Readiness}})
async def ready(path: PredictPathDep) -> JSONResponse:
    inference = path.client
    problems: list[str] = []
    workers: list[dict] = []
    redis_ok = True
    storage_full = False
    try:
        await inference.redis.ping()
        workers = await inference.live_workers()
    except (redis.RedisError, OSError) as exc:
        redis_ok = False
        problems.append(
            f"redis unreachable at {inference.redis.connection_pool.connection_kwargs.get('host', '?')}: "
            f"{exc.__class__.__name__}"
        )
    else:
        full_reason = await inference.storage_full_reason()
        storage_full = full_reason is not None
        if full_reason is not None:
            problems.append(full_reason)
    serving = [w for w in workers if w.get("model_version")]
    if redis_ok and not workers and not storage_full:
        # A full Redis refuses the workers' heartbeats too: the storage is then the cause, named above.
        problems.append("no inference worker is running")
    elif workers and not serving:
        problems.append(
            "inference workers are up but none has loaded a model: "
            + (workers[0].get("last_error") or "waiting for a champion in the registry")
        )
    registry_ok = all(w.get("registry_ok", True) for w in workers) if workers else None
    if registry_ok is False:
        problems.append(
            "model registry degraded (serving the last good model): "
            + next(w.get("last_error") or "" for w in workers if not w.get("registry_ok", True))
        )
    refused = [w for w in serving if w.get("registry_ok", True) and w.get("last_error")]
    if refused:
        # Still ready: the last good model serves. But a promoted version was refused and someone should know.
        problems.append("a new model version was refused (serving the last good one): " + refused[0]["last_error"])
    newest = max(serving, key=lambda w: int(w["model_version"]), default=None)
    body = Readiness(
        ready=redis_ok and bool(serving) and not storage_full,
        redis=redis_ok,
        workers=len(workers),
        model_loaded=bool(serving),
        model_name=newest.get("model_name") if newest else None,
        model_version=newest.get("model_version") if newest else None,
        embedding_type=newest.get("embedding_type") if newest else None,
        registry_ok=registry_ok,
        problems=problems,
    )
    return JSONResponse(body.model_dump(), status_code=200 if body.ready else 503)
