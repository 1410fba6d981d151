"""The HTTP errors every route answers the same way."""

from __future__ import annotations

from fastapi import HTTPException, status


def unavailable(reason: str, retry_after_s: int) -> HTTPException:
    """503 naming what is unavailable, with a Retry-After the caller can wait out."""
    return HTTPException(
        status.HTTP_503_SERVICE_UNAVAILABLE,
        f"{reason}; retry in {retry_after_s} s",
        headers={"Retry-After": str(retry_after_s)},
    )
