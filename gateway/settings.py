"""Gateway settings, from the environment."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, Field, PrivateAttr, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from gateway.api_keys import ApiKeyEntry, KeyRing, load_keys_file
from shared.promotion_gate import PromotionPolicySettings
from shared.settings import ServiceSettings


class GatewaySettings(ServiceSettings, PromotionPolicySettings):
    # A refused configuration is reported without echoing what it was given: the given values include the keys.
    model_config = SettingsConfigDict(hide_input_in_errors=True)

    service_name: str = "gateway"
    host: str = "127.0.0.1"
    # GATEWAY_PORT; PORT too, which platforms such as Cloud Run set for the one process of a container.
    port: int = Field(8000, validation_alias=AliasChoices("gateway_port", "port"))
    # Keys sent in the `X-API-Key` header. The defaults only work in a local/test environment.
    analyst_api_key: SecretStr = SecretStr("dev-analyst-key")
    admin_api_key: SecretStr = SecretStr("dev-admin-key")
    # Named keys beside those two (gateway/api_keys.py): a JSON list of {"name", "role", "key"}, inline or in a file.
    api_keys: list[ApiKeyEntry] = Field(default_factory=list)
    api_keys_file: Path | None = None
    # POST /feedback per key, in a one-minute window (0: unlimited): far above what a person flags, low enough that
    # one key cannot flood the stream alerting reads.
    feedback_rate_limit_per_minute: int = Field(240, ge=0)
    predict_timeout_s: float = 10.0
    # The HTTP edge (gateway/http_server.py): a request must be read (headers and body) within the read timeout,
    # so that a slowloris drip of header bytes cannot hold connections; headers over the cap are answered 431;
    # past `http_limit_concurrency` open connections or running requests, new requests are answered 503.
    http_request_read_timeout_s: float = Field(15.0, gt=0)
    http_max_header_bytes: int = Field(16 * 1024, ge=1024)
    http_keep_alive_timeout_s: int = Field(5, ge=1)
    http_limit_concurrency: int = Field(4096, ge=16)
    http_backlog: int = Field(2048, ge=16)
    # Processes serving the port (SO_REUSEPORT), each with its own event loop, coalescing and reply channel;
    # 0: from the core count (shared/process_counts.py: 1 up to two cores, then one per two cores).
    gateway_processes: int = Field(0, ge=0, le=64)
    # Peers whose X-Forwarded-For names the client (comma-separated addresses or networks, `*` for any peer):
    # empty trusts no one, so that a caller cannot pick the address its rate limit counts under.
    forwarded_allow_ips: str = ""
    retry_after_s: int = 5
    # Requests above this size are refused before their body is parsed.
    max_body_bytes: int = 512 * 1024
    cors_origins: list[str] = Field(default_factory=list)
    # Per caller (API key, else client address), in a one-minute window: requests, and tweets (a batch of 1,000
    # costs 1,000). The request limit at 0 turns both off; the tweet allowance at 0 leaves tweets uncounted.
    predict_rate_limit_per_minute: int = 6000
    predict_tweet_limit_per_minute: int = 6000
    # Retry-After when Redis is at its memory budget: room comes back as records expire, not within seconds.
    storage_full_retry_after_s: int = 60
    # A worker counts as alive while its heartbeat is this fresh.
    worker_heartbeat_max_age_s: float = 10.0
    # Coalescing of concurrent /predict requests into one prediction call (gateway/batching.py): a request waits at
    # most the window, and only while `predict_max_in_flight` calls are already out; at most this many tweets a call.
    predict_batch_window_ms: float = 2.0
    predict_max_batch_size: int = 64
    predict_max_in_flight: int = 4
    # Training job params may name data files only inside the training workers' data directory (their DATA_DIR).
    data_dir: Path = Path("/data")
    # POST /admin/training-jobs answers 429 past this many queued jobs of one family, or of all families.
    max_queued_jobs_per_family: int = Field(10, ge=1)
    max_queued_jobs: int = Field(20, ge=1)

    _key_ring: KeyRing = PrivateAttr()

    def named_keys(self) -> list[ApiKeyEntry]:
        """The entries of API_KEYS, then those of API_KEYS_FILE."""
        return list(self.api_keys) + (load_keys_file(self.api_keys_file) if self.api_keys_file else [])

    @model_validator(mode="after")
    def _build_key_ring(self) -> GatewaySettings:
        named = self.named_keys()
        for entry in named:
            if entry.name in ("analyst", "admin"):
                raise ValueError(
                    f"the API key name {entry.name!r} belongs to {entry.name.upper()}_API_KEY: choose another name"
                )
        self._key_ring = KeyRing(
            [
                ApiKeyEntry(name="analyst", role="analyst", key=self.analyst_api_key),
                ApiKeyEntry(name="admin", role="admin", key=self.admin_api_key),
                *named,
            ]
        )
        return self

    @property
    def key_ring(self) -> KeyRing:
        return self._key_ring

    def secrets_to_check(self) -> dict[str, SecretStr | None]:
        named = {f"api_keys[{entry.name}]": entry.key for entry in self.named_keys()}
        return {"analyst_api_key": self.analyst_api_key, "admin_api_key": self.admin_api_key, **named}


@lru_cache
def get_settings() -> GatewaySettings:
    return GatewaySettings()
