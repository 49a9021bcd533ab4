"""Settings of the data pipeline: generated data locations and generator sizes."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from mlops_common.settings import cached_settings, get_path_settings, project_root
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class DataSettings(BaseSettings):
    """Where the generated data lives and how much the generator makes."""

    model_config = SettingsConfigDict(
        env_prefix="DATA_", env_file=project_root() / ".env", extra="ignore"
    )

    seed: int = 42
    n_drivers: int = Field(200, ge=5, description="Drivers 1001.. (1001-1005 always exist).")
    days: int = Field(7, ge=1, description="Length of the hourly statistics window.")
    end_time: datetime | None = Field(None, description="Window end (UTC); default current hour.")
    n_orders: int = Field(20_000, ge=10, description="Labelled orders for training.")
    n_batch_requests: int = Field(5_000, ge=1, description="Rows of the batch request file.")

    @property
    def driver_stats_path(self) -> Path:
        """The offline store: one parquet file of hourly driver statistics."""
        return get_path_settings().data_dir / "driver_stats.parquet"

    @property
    def orders_path(self) -> Path:
        """Labelled orders (driver_id, event_timestamp, trip_completed)."""
        return get_path_settings().data_dir / "orders.parquet"

    @property
    def batch_requests_path(self) -> Path:
        """Batch scoring requests (driver_id, event_timestamp)."""
        return get_path_settings().data_dir / "batch_requests.parquet"


@cached_settings
def get_data_settings() -> DataSettings:
    return DataSettings()
