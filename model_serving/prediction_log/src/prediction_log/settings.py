"""Settings of the prediction log (prefix `PREDICTION_LOG_`), read by its writers."""

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


@cached_settings
def get_prediction_log_settings() -> PredictionLogSettings:
    return PredictionLogSettings()
