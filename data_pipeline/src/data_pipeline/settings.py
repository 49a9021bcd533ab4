"""Settings of the data pipeline: generated data locations and generator sizes."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from mlops_common.settings import cached_settings, settings_config
from pydantic import Field
from pydantic_settings import BaseSettings

from mlops_common import paths


class DataSettings(BaseSettings):
    """Where the generated data lives and how much the generator makes."""

    model_config = settings_config("DATA_")

    seed: int = 42
    n_drivers: int = Field(200, ge=5, description="Drivers 1001.. (1001-1005 always exist).")
    days: int = Field(7, ge=1, description="Length of the hourly statistics window.")
    end_time: datetime | None = Field(None, description="Window end (UTC); default current hour.")
    n_orders: int = Field(20_000, ge=10, description="Labelled orders for training.")
    n_batch_requests: int = Field(5_000, ge=1, description="Rows of the batch request file.")

    # The published files, where every pipeline finds them (`mlops_common.paths`).
    @property
    def driver_stats_path(self) -> Path:
        return paths.driver_stats_path()

    @property
    def orders_path(self) -> Path:
        return paths.orders_path()

    @property
    def batch_requests_path(self) -> Path:
        return paths.batch_requests_path()


@cached_settings
def get_data_settings() -> DataSettings:
    return DataSettings()


class LabelSettings(BaseSettings):
    """How `collect-labels` turns served dispatches with outcomes into training rows."""

    model_config = settings_config("LABELS_")

    window_hours: int = Field(
        24, ge=1, description="Requests served this far back from the run's time are labelled."
    )
    grace_seconds: int = Field(
        3600, ge=0, description="Outcomes later than the window's end plus this count as late."
    )
    retention_days: float = Field(
        90,
        ge=1,
        description="Labelled dispatches: days kept; never fewer than training's window needs.",
    )


@cached_settings
def get_label_settings() -> LabelSettings:
    return LabelSettings()


class TrainingWindowSettings(BaseSettings):
    """Training's window as label retention must respect it: the key of training's own
    settings (`TRAIN_WINDOW_DAYS`), read here because the data pipeline cannot import the
    training pipeline; the default is training's."""

    model_config = settings_config("TRAIN_")

    window_days: float = Field(7.0, gt=0, description="Training window (days).")


@cached_settings
def get_training_window_settings() -> TrainingWindowSettings:
    return TrainingWindowSettings()
