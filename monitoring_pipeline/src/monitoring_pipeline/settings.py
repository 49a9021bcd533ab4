"""Settings of the monitoring pipeline (env prefix `MONITORING_`): windows, drift and live
accuracy thresholds, where reports go in MLflow."""

from __future__ import annotations

from mlops_common.settings import cached_settings, settings_config
from pydantic import Field
from pydantic_settings import BaseSettings

PIPELINE = "monitoring_pipeline"


class MonitoringSettings(BaseSettings):
    """How one monitoring run judges its window of served traffic."""

    model_config = settings_config("MONITORING_")

    experiment_name: str = Field(
        "driver_ranking_monitoring", description="MLflow experiment of the monitoring runs."
    )
    window_minutes: int = Field(60, ge=1, description="Length of the window one run judges.")
    drift_p_value: float = Field(
        0.05, gt=0, lt=1, description="A feature drifted when its KS test p-value is below this."
    )
    drift_share_threshold: float = Field(
        0.5, gt=0, le=1, description="Drift alarm when at least this share of features drifted."
    )
    min_rows: int = Field(
        30, ge=2, description="Fewest distinct served rows a window needs to judge drift."
    )
    min_live_roc_auc: float = Field(
        0.6, ge=0, le=1, description="Alarm when the live ROC AUC of the window is below this."
    )
    min_outcomes: int = Field(
        50, ge=2, description="Fewest joined outcomes (both classes) to compute live metrics."
    )
    outcome_grace_seconds: int = Field(
        3600, ge=0, description="Outcomes later than the window's end plus this count as late."
    )
    skew_sample_rows: int = Field(
        2000,
        ge=0,
        description="Served rows per window whose features are compared with the offline "
        "store's point-in-time values (training-serving skew); 0 = not measured.",
    )
    skew_tolerance: float = Field(
        1e-6,
        ge=0,
        description="A served and an offline value differ when they differ by more than this "
        "(relative and absolute).",
    )
    max_skew_share: float = Field(
        0.05,
        ge=0,
        le=1,
        description="The TrainingServingSkew alert fires when a feature's share of skewed "
        "sampled rows (differing or missing on one side) is above this.",
    )


@cached_settings
def get_monitoring_settings() -> MonitoringSettings:
    return MonitoringSettings()
