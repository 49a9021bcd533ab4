"""Settings of the online service: where it listens, request limits, auth and refresh timing.

Read from the environment (prefix `SERVING_`) and `.env`; the defaults are safe for a local run
(loopback only, no API key). Redis and MLflow addresses come from the shared settings.
"""

from __future__ import annotations

from mlops_common.settings import ServingSettings, cached_settings, settings_config
from pydantic import Field, SecretStr, field_validator


class OnlineSettings(ServingSettings):
    """How the BentoML service behaves; one instance per process (see `get_online_settings`).
    Its address (SERVING_HOST, SERVING_PORT) is the runtime library's `ServingSettings`, which
    the local platform reads without importing the service."""

    model_config = settings_config("SERVING_")
    workers: int = Field(1, ge=1, description="Worker processes (each loads the model).")
    max_driver_ids: int = Field(1000, ge=1, description="Most candidate ids per request.")
    api_key: SecretStr | None = Field(
        None, description="When set, POST /inference requires header `X-API-Key: <key>`."
    )
    model_refresh_seconds: float = Field(
        30.0, gt=0, description="How often the champion alias is re-checked in MLflow."
    )
    model_start_timeout_seconds: float = Field(
        60.0, gt=0, description="How long start-up retries MLflow before giving up."
    )
    mlflow_request_timeout_seconds: int = Field(
        10, ge=1, description="Timeout of one MLflow HTTP call (start-up and re-checks)."
    )
    redis_connect_timeout_seconds: float = Field(
        0.25, gt=0, description="Connect timeout of the feature reads' Redis client."
    )
    access_log: bool = Field(True, description="One log line per inference request.")
    shadow_share: float = Field(
        1.0,
        ge=0.0,
        le=1.0,
        description="Share of answered requests the challenger (alias `challenger`, when one "
        "exists) also scores, off the request path, into the prediction log; 0 = never load "
        "a challenger.",
    )
    tracing_sample_rate: float = Field(
        0.0,
        ge=0.0,
        le=1.0,
        description="Share of requests traced by OpenTelemetry (0 = no spans). Raise it only "
        "with an exporter configured (BentoML's `tracing` settings): a span per request costs "
        "a third of an empty endpoint's throughput.",
    )
    request_timeout_seconds: float = Field(
        2.0,
        gt=0,
        description="An answer must start within this many seconds, else 504. Short on "
        "purpose: BentoML keeps one timer per request alive this long.",
    )
    max_body_bytes: int = Field(
        65_536, ge=1024, description="Largest POST /inference body; larger ones get 413."
    )
    bulk_max_requests: int = Field(
        10_000, ge=1, description="Most ranking requests in one bulk task."
    )
    bulk_max_body_bytes: int = Field(
        33_554_432, ge=1024, description="Largest bulk submission body; larger ones get 413."
    )
    gc_freeze: bool = Field(
        True,
        description="Move the start-up heap out of the garbage collector's reach "
        "(`gc.freeze()`), so full collections scan only what requests allocate.",
    )
    gc_thresholds: tuple[int, int, int] = Field(
        (7000, 20, 50),
        description="`gc.set_threshold` after start-up (JSON, e.g. `[700, 10, 10]`, Python's "
        "default). Higher than the default: every request keeps timers alive for "
        "SERVING_REQUEST_TIMEOUT_SECONDS, which at 700 set off a full collection about once "
        "a second.",
    )
    feature_batch_max: int = Field(
        64,
        ge=1,
        description="Most requests whose feature reads share one Redis call (standalone Redis; "
        "1 = one call per request).",
    )

    @field_validator("gc_thresholds")
    @classmethod
    def _positive_thresholds(cls, value: tuple[int, int, int]) -> tuple[int, int, int]:
        if min(value) < 1:
            raise ValueError("every GC threshold must be at least 1 (0 would turn collection off)")
        return value

    @field_validator("api_key")
    @classmethod
    def _no_blank_key(cls, value: SecretStr | None) -> SecretStr | None:
        """An empty SERVING_API_KEY means "no key", never "the empty string is the key"."""
        if value is not None and not value.get_secret_value().strip():
            return None
        return value


@cached_settings
def get_online_settings() -> OnlineSettings:
    return OnlineSettings()
