"""Where one batch run's files live: all under `run_dir("model_serving", run_id)`."""

from __future__ import annotations

from pathlib import Path

from mlops_common.paths import run_dir

PIPELINE = "model_serving"


def batch_dir(run_id: str) -> Path:
    return run_dir(PIPELINE, run_id) / "batch"


def features_path(run_id: str) -> Path:
    """Extract's hand-off to predict: request rows with their point-in-time features."""
    return batch_dir(run_id) / "features.parquet"


def extract_report_path(run_id: str) -> Path:
    return batch_dir(run_id) / "extract.json"


def predictions_path(run_id: str) -> Path:
    """The run's result: requests, features, prediction, model version, run id."""
    return batch_dir(run_id) / "predictions.parquet"


def summary_path(run_id: str) -> Path:
    return batch_dir(run_id) / "summary.json"
