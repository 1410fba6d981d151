"""The gateway's HTTP API as typed Python calls: one method per route, every failure turned into an `ApiError`."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, Literal

import httpx
from pydantic import TypeAdapter, ValidationError

from shared.families import TrainingFamily
from shared.schemas.alerts import AlertsOverview
from shared.schemas.api import ModelsOverview, PredictBatchResponse, Prediction, Readiness, TrainingJob
from shared.schemas.base import Label
from shared.schemas.drift import DriftOverview
from shared.schemas.events import FeedbackRecord
from shared.schemas.lifecycle import ChallengerStatus, LifecycleEvent, ModelHistory
from shared.schemas.prediction_log import Bucket, Order, PredictionFilters, PredictionPage, SentimentStats
from shared.schemas.retraining import RetrainingPolicyView

log = logging.getLogger(__name__)

API_KEY_HEADER = "X-API-Key"


class ApiError(Exception):
    """A call that did not succeed: `status` is None when the gateway could not be reached at all."""

    def __init__(self, message: str, status: int | None = None, retry_after_s: int | None = None, url: str = ""):
        super().__init__(message)
        self.message = message
        self.status = status
        self.retry_after_s = retry_after_s
        self.url = url

    @property
    def unreachable(self) -> bool:
        return self.status is None

    @property
    def auth_failed(self) -> bool:
        return self.status in (401, 403)

    @property
    def unavailable(self) -> bool:
        return self.status == 503


_JOBS = TypeAdapter(list[TrainingJob])
ExportFormat = Literal["csv", "parquet"]


def filter_params(filters: PredictionFilters) -> dict[str, str]:
    """The query parameters of `GET /predictions` and its export for `filters` (unset ones left out)."""
    values: dict[str, str | datetime | bool | None] = {
        "from": filters.created_from,
        "to": filters.created_to,
        "label": filters.label,
        "model_version": filters.model_version,
        "flagged": filters.flagged,
        "airline": filters.airline,
        "q": filters.text_contains,
    }
    return {name: _query_value(value) for name, value in values.items() if value is not None}


def _query_value(value: str | datetime | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def error_message(response: httpx.Response) -> str:
    """The most useful sentence in an error answer: the gateway's `message`, else its `detail`."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:300] or response.reason_phrase
    if isinstance(body, dict):
        if isinstance(body.get("message"), str) and body["message"]:
            return body["message"]
        detail = body.get("detail")
        if isinstance(detail, str):
            return detail
        if isinstance(detail, list):
            parts = []
            for item in detail:
                if isinstance(item, dict):
                    where = ".".join(str(p) for p in item.get("loc", [])[1:])
                    parts.append(f"{where}: {item.get('msg', '')}" if where else str(item.get("msg", "")))
            if parts:
                return "; ".join(parts)
    return str(body)[:300]


def _retry_after(response: httpx.Response) -> int | None:
    value = response.headers.get("Retry-After", "")
    return int(value) if value.isdigit() else None


class GatewayClient:
    """A thin client: no state but where the gateway is, how long to wait, and the caller's key."""

    def __init__(self, base_url: str, timeout_s: float = 30.0, api_key: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self.api_key = api_key or None

    def with_key(self, api_key: str | None) -> GatewayClient:
        return GatewayClient(self.base_url, self.timeout_s, api_key)

    def _request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, str] | None = None,
        ok: tuple[int, ...] = (200,),
        timeout_s: float | None = None,
    ) -> httpx.Response:
        url = self.base_url + path
        headers = {API_KEY_HEADER: self.api_key} if self.api_key else {}
        try:
            response = httpx.request(
                method, url, json=json, params=params, headers=headers, timeout=timeout_s or self.timeout_s
            )
        except httpx.TimeoutException as exc:
            raise ApiError(
                f"the gateway at {self.base_url} did not answer within {timeout_s or self.timeout_s:g} s", url=url
            ) from exc
        except httpx.HTTPError as exc:
            raise ApiError(f"cannot reach the gateway at {self.base_url} ({exc.__class__.__name__})", url=url) from exc
        if response.status_code not in ok:
            message = error_message(response)
            # The key never reaches a log: only the route and the status do.
            log.info("gateway answered %s %s -> %s", method, path, response.status_code)
            raise ApiError(message, response.status_code, _retry_after(response), url)
        return response

    @staticmethod
    def _parse(response: httpx.Response, parse: Any) -> Any:
        try:
            return parse(response.json())
        except (ValueError, ValidationError) as exc:
            raise ApiError(
                f"unexpected answer from {response.request.url.path}: {str(exc).splitlines()[0]}",
                response.status_code,
                url=str(response.request.url),
            ) from exc

    # --- health --------------------------------------------------------------------------------

    def health(self, timeout_s: float | None = None) -> None:
        """Raises ApiError when the gateway process is not answering."""
        self._request("GET", "/health", timeout_s=timeout_s)

    def ready(self) -> Readiness:
        response = self._request("GET", "/ready", ok=(200, 503))
        return self._parse(response, Readiness.model_validate)

    # --- predictions ---------------------------------------------------------------------------

    def predict(self, text: str) -> Prediction:
        return self._parse(self._request("POST", "/predict", json={"text": text}), Prediction.model_validate)

    def predict_batch(self, texts: list[str]) -> list[Prediction]:
        response = self._request("POST", "/predict/batch", json={"texts": texts})
        return self._parse(response, PredictBatchResponse.model_validate).predictions

    # --- feedback and alerts -------------------------------------------------------------------

    def send_feedback(self, prediction_id: str, correct_label: Label, comment: str | None = None) -> FeedbackRecord:
        body: dict[str, Any] = {"prediction_id": prediction_id, "correct_label": correct_label}
        if comment:
            body["comment"] = comment
        response = self._request("POST", "/feedback", json=body, ok=(200, 201))
        return self._parse(response, FeedbackRecord.model_validate)

    # --- the prediction log ---------------------------------------------------------------------

    def predictions(
        self, filters: PredictionFilters, order: Order = "uncertainty", cursor: str | None = None, limit: int = 20
    ) -> PredictionPage:
        params = {**filter_params(filters), "order": order, "limit": str(limit)}
        if cursor:
            params["cursor"] = cursor
        return self._parse(self._request("GET", "/predictions", params=params), PredictionPage.model_validate)

    def export_predictions(self, export_format: ExportFormat, filters: PredictionFilters) -> bytes:
        """The whole filtered range as one file (the gateway streams it; the UI hands it to the browser)."""
        params = {**filter_params(filters), "format": export_format}
        return self._request("GET", "/predictions/export", params=params).content

    def sentiment_stats(
        self, bucket: Bucket, created_from: datetime, created_to: datetime, airline: str | None = None
    ) -> SentimentStats:
        params = {"bucket": bucket, "from": created_from.isoformat(), "to": created_to.isoformat()}
        if airline:
            params["airline"] = airline
        return self._parse(self._request("GET", "/stats/sentiment", params=params), SentimentStats.model_validate)

    def alerts(self, limit: int = 200) -> AlertsOverview:
        return self._parse(self._request("GET", f"/alerts?limit={limit}"), AlertsOverview.model_validate)

    # --- training and models -------------------------------------------------------------------

    def queue_training_job(self, family: TrainingFamily, params: dict[str, Any]) -> TrainingJob:
        response = self._request(
            "POST", "/admin/training-jobs", json={"family": family, "params": params}, ok=(200, 201, 202)
        )
        return self._parse(response, TrainingJob.model_validate)

    def training_jobs(self) -> list[TrainingJob]:
        response = self._request("GET", "/admin/training-jobs")
        return self._parse(response, _JOBS.validate_python)

    def training_job(self, job_id: str) -> TrainingJob:
        return self._parse(self._request("GET", f"/admin/training-jobs/{job_id}"), TrainingJob.model_validate)

    def cancel_training_job(self, job_id: str) -> TrainingJob:
        response = self._request("DELETE", f"/admin/training-jobs/{job_id}")
        return self._parse(response, TrainingJob.model_validate)

    def models(self) -> ModelsOverview:
        return self._parse(self._request("GET", "/models"), ModelsOverview.model_validate)

    # --- the loop: retraining policy and drift ---------------------------------------------------

    def retraining_policy(self) -> RetrainingPolicyView:
        return self._parse(self._request("GET", "/admin/retraining-policy"), RetrainingPolicyView.model_validate)

    def set_retraining_paused(self, paused: bool) -> RetrainingPolicyView:
        response = self._request("POST", "/admin/retraining-policy", json={"paused": paused})
        return self._parse(response, RetrainingPolicyView.model_validate)

    def drift(self) -> DriftOverview:
        return self._parse(self._request("GET", "/stats/drift"), DriftOverview.model_validate)

    # --- the challenger, the history and an admin's moves ---------------------------------------

    def challenger(self) -> ChallengerStatus:
        return self._parse(self._request("GET", "/models/challenger"), ChallengerStatus.model_validate)

    def model_history(self, name: str) -> ModelHistory:
        return self._parse(self._request("GET", f"/models/{name}/history"), ModelHistory.model_validate)

    def move_model(self, name: str, action: str, reason: str | None = None) -> LifecycleEvent:
        """`action` is promote, retire or rollback (admin key)."""
        body = {"reason": reason} if reason else {}
        response = self._request("POST", f"/admin/models/{name}/{action}", json=body)
        return self._parse(response, LifecycleEvent.model_validate)
