"""Settings of the prediction log (prefix `PREDICTION_LOG_`): its writers, and the compaction and
retention of the log and the outcomes."""

from __future__ import annotations

from typing import Literal

from mlops_common.settings import cached_settings, settings_config
from pydantic import Field
from pydantic_settings import BaseSettings


class PredictionLogSettings(BaseSettings):
    """The prediction log of the online service and of batch scoring."""

    model_config = settings_config("PREDICTION_LOG_")

    enabled: bool = Field(True, description="Record every answered /inference request.")
    capacity: int = Field(
        50_000, ge=1, description="Answered requests buffered at most; beyond, new ones drop."
    )
    flush_rows: int = Field(10_000, ge=1, description="Write once this many requests wait.")
    flush_seconds: float = Field(5.0, gt=0, description="Write at least this often (seconds).")
    writer: Literal["arrow", "feast"] = Field(
        "arrow",
        description=(
            "arrow: the feature log's parquet written with pyarrow into the LoggingConfig's "
            "folder (what Feast's file store writes); feast: FeatureStore.write_logged_features."
        ),
    )
    retention_days: float = Field(
        30,
        ge=1,
        description="Prediction log (features and predictions): days kept; older days deleted.",
    )
    outcomes_retention_days: float = Field(
        30, ge=1, description="Outcomes: days kept; older days deleted."
    )
    compact_after_minutes: int = Field(
        10,
        ge=0,
        description="An hour's partitions are compacted this long after the hour ended "
        "(late flushes of the service and late outcome files land first).",
    )


@cached_settings
def get_prediction_log_settings() -> PredictionLogSettings:
    return PredictionLogSettings()
