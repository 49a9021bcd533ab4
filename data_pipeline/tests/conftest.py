"""Fixtures of the data pipeline tests: a tiny deterministic batch, published and applied."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from mlops_common.settings import reset_settings_cache
from mlops_testing import prefer_installed_package

prefer_installed_package("data_pipeline")

END = datetime(2026, 11, 20, 12, tzinfo=UTC)
RUN_ID = "manual__2026-11-20T12:00:00+00:00"
SIZES = {
    "DATA_N_DRIVERS": "60",  # enough for late starters, churned drivers and reporting gaps
    "DATA_DAYS": "7",
    "DATA_N_ORDERS": "1500",
    "DATA_N_BATCH_REQUESTS": "50",
    "DATA_SEED": "7",
}


@pytest.fixture
def data_env(project_env: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Project paths in tmp_path and small generator sizes (also seen by CLI subprocesses)."""
    for key, value in SIZES.items():
        monkeypatch.setenv(key, value)
    reset_settings_cache()
    yield project_env
    reset_settings_cache()


@dataclass(frozen=True)
class Published:
    """The published batch of run RUN_ID, generated for END."""

    end: datetime
    run_id: str
    driver_stats: Path
    orders: Path
    batch_requests: Path


@pytest.fixture
def published(data_env: Path) -> Published:
    """A batch ingested for END, validated and published as the offline store."""
    from data_pipeline.ingest import ingest
    from data_pipeline.settings import get_data_settings
    from data_pipeline.validate import validate_and_publish

    ingest(RUN_ID, END)
    validate_and_publish(RUN_ID)
    settings = get_data_settings()
    return Published(
        END, RUN_ID, settings.driver_stats_path, settings.orders_path, settings.batch_requests_path
    )
