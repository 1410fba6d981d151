"""GET /predictions (the review queue) and GET /predictions/export: the prediction log, filtered and paged."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, status
from fastapi.responses import StreamingResponse
from sqlalchemy.exc import SQLAlchemyError

from gateway.deps import AdminRole, AnalystRole, PredictionLogDep, SettingsDep
from gateway.errors import LOG_DOWN, NEEDS_ADMIN, NEEDS_KEY, invalid_query, unavailable
from shared.prediction_log import InvalidCursor
from shared.prediction_log.export import csv_chunks, parquet_chunks
from shared.prediction_log.store import MAX_PAGE_SIZE
from shared.schemas.base import Label
from shared.schemas.prediction_log import Order, PredictionFilters, PredictionPage, QueryMoment

router = APIRouter(tags=["predictions"])

RESPONSES = {
    400: {"description": "The cursor is not one this log handed out for this order."},
    **NEEDS_KEY,
    **LOG_DOWN,
}


def prediction_filters(
    created_from: Annotated[
        QueryMoment | None, Query(alias="from", description="Logged at or after (ISO 8601).")
    ] = None,
    created_to: Annotated[QueryMoment | None, Query(alias="to", description="Logged before (ISO 8601).")] = None,
    label: Annotated[Label | None, Query(description="The predicted label.")] = None,
    model_version: Annotated[str | None, Query(max_length=32)] = None,
    flagged: Annotated[bool | None, Query(description="true: flagged wrong by an analyst; false: not.")] = None,
    airline: Annotated[str | None, Query(max_length=32, description="e.g. united, delta, airparadis.")] = None,
    q: Annotated[str | None, Query(min_length=1, max_length=200, description="Text contains (any case).")] = None,
) -> PredictionFilters:
    if created_from is not None and created_to is not None and created_from >= created_to:
        raise invalid_query("from", "from must be before to: pass an earlier from or a later to")
    return PredictionFilters(
        created_from=created_from,
        created_to=created_to,
        label=label,
        model_version=model_version,
        flagged=flagged,
        airline=airline,
        text_contains=q,
    )


FiltersDep = Annotated[PredictionFilters, Depends(prediction_filters)]


def _log_unreachable(settings: SettingsDep) -> HTTPException:
    return unavailable("the prediction log is unreachable", settings.retry_after_s)


@router.get("/predictions", response_model=PredictionPage, responses=RESPONSES)
def list_predictions(
    caller: AnalystRole,
    settings: SettingsDep,
    log: PredictionLogDep,
    filters: FiltersDep,
    order: Annotated[Order, Query(description="newest first, or nearest the threshold first.")] = "newest",
    cursor: Annotated[str | None, Query(max_length=512, description="next_cursor of the previous page.")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 50,
) -> PredictionPage:
    """Logged predictions with their feedback state. `order=uncertainty` puts those nearest the model's threshold
    first: the review queue where mistakes are likeliest. Pass `next_cursor` back as `cursor` for the next page."""
    try:
        rows, next_cursor = log.query(filters, order=order, cursor=cursor, limit=limit)
    except InvalidCursor as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from None
    except SQLAlchemyError as exc:
        raise _log_unreachable(settings) from exc
    return PredictionPage(predictions=rows, next_cursor=next_cursor)


_MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "parquet": "application/vnd.apache.parquet"}


@router.get(
    "/predictions/export",
    response_class=StreamingResponse,
    responses={
        **RESPONSES,
        **NEEDS_ADMIN,
        200: {"description": "The filtered range, oldest first, as CSV or Parquet."},
    },
)
def export_predictions(
    caller: AdminRole,
    settings: SettingsDep,
    log: PredictionLogDep,
    filters: FiltersDep,
    format: Annotated[Literal["csv", "parquet"], Query(description="csv or parquet.")] = "csv",
) -> StreamingResponse:
    """Every logged prediction in the filtered range, streamed (never held whole in memory): for other tools."""
    rows = log.iter_export(filters)
    chunks: Iterator[bytes] = csv_chunks(rows) if format == "csv" else parquet_chunks(rows)
    try:
        # The first chunk is read here, so that an unreachable database is a 503 rather than a cut-off body.
        first = next(chunks, b"")
    except SQLAlchemyError as exc:
        raise _log_unreachable(settings) from exc
    filename = f"predictions.{format}"
    return StreamingResponse(
        itertools.chain([first], chunks),
        media_type=_MEDIA_TYPES[format],
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
