"""The files one data pipeline run hands from task to task, under `run_dir(PIPELINE, run_id)`."""

from __future__ import annotations

from pathlib import Path

from mlops_common.paths import run_dir

PIPELINE = "data_pipeline"


def raw_dir(run_id: str) -> Path:
    """Where `ingest` lands a run's unvalidated batch and `validate` reads it."""
    return run_dir(PIPELINE, run_id) / "raw"


def validation_report_path(run_id: str) -> Path:
    """`validate`'s report: every check that failed, or `passed`."""
    return run_dir(PIPELINE, run_id) / "validation_report.json"
