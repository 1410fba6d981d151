"""The HTTP errors every route answers the same way."""

from __future__ import annotations

from fastapi import HTTPException, status
from fastapi.exceptions import RequestValidationError


def unavailable(reason: str, retry_after_s: int) -> HTTPException:
    """503 naming what is unavailable, with a Retry-After the caller can wait out."""
    return HTTPException(
        status.HTTP_503_SERVICE_UNAVAILABLE,
        f"{reason}; retry in {retry_after_s} s",
        headers={"Retry-After": str(retry_after_s)},
    )


# OpenAPI descriptions of the answers many routes share.
NEEDS_KEY = {401: {"description": "Missing or unknown X-API-Key (analyst or admin key needed)."}}
NEEDS_ADMIN = {
    401: {"description": "Missing or unknown X-API-Key."},
    403: {"description": "The key is not an admin key."},
}
REDIS_DOWN = {503: {"description": "Redis is unreachable; see Retry-After."}}
LOG_DOWN = {503: {"description": "The prediction log's database is unreachable; see Retry-After."}}
REGISTRY_DOWN = {503: {"description": "The MLflow model registry is unreachable."}}


def invalid_query(parameter: str, message: str) -> RequestValidationError:
    """A 422 for query parameters that are valid one by one but not together, shaped like every other 422 (a list of
    errors, and the `message` summary), as the OpenAPI schema says."""
    return RequestValidationError([{"loc": ("query", parameter), "msg": message, "type": "value_error"}])
