"""Paths derived from settings, in one place. Nothing here creates directories."""

from __future__ import annotations

import re
from pathlib import Path

from mlops_common.settings import get_path_settings

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(value: str) -> str:
    """A file-system-safe form of VALUE (Airflow run ids hold ':' and '+')."""
    cleaned = _UNSAFE.sub("_", value).strip("._")
    if not cleaned:
        raise ValueError(f"{value!r} has no usable characters for a path name")
    return cleaned


def run_dir(pipeline: str, run_id: str) -> Path:
    """The hand-off directory of one pipeline run: ARTIFACT_ROOT/<pipeline>/<run id>."""
    return get_path_settings().artifact_root / safe_name(pipeline) / safe_name(run_id)


def driver_stats_path() -> Path:
    """The offline store: hourly driver statistics, the source of the Feast feature view."""
    return get_path_settings().data_dir / "driver_stats.parquet"


def orders_path() -> Path:
    """Labelled orders (driver_id, event_timestamp, trip_completed), training's entity rows."""
    return get_path_settings().data_dir / "orders.parquet"


def batch_requests_path() -> Path:
    """The default batch scoring request file (driver_id, event_timestamp)."""
    return get_path_settings().data_dir / "batch_requests.parquet"


def prediction_log_dir() -> Path:
    """The prediction log: served features (`features/`, Feast's feature logging, the
    destination of the feature service's LoggingConfig) and scores (`predictions/`), one row
    per request and candidate driver, joined by request id and driver id."""
    return get_path_settings().data_dir / "prediction_log"


def feature_log_dir() -> Path:
    return prediction_log_dir() / "features"


def scores_log_dir() -> Path:
    return prediction_log_dir() / "predictions"


def outcomes_dir() -> Path:
    """Outcomes of dispatches (trip completed or not), keyed by request id."""
    return get_path_settings().data_dir / "outcomes"


def labelled_dispatches_dir() -> Path:
    """Served dispatches with their outcome (`data-pipeline collect-labels`): training rows
    carrying the features the model was served."""
    return get_path_settings().data_dir / "labelled_dispatches"
