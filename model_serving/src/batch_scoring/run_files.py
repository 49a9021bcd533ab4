"""The files one batch run hands from task to task, all under `run_dir("model_serving", run_id)`.

extract -> `features.parquet` + `extract.json` -> predict -> `predictions.parquet` +
`summary.json`. The JSON hand-offs are typed models with their reader and writer here; the
parquet files are written by `write_table` (one layout for both); both carry the join's
`has_features` column (`feature_store.point_in_time.HAS_FEATURES`: the row had every feature).
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
from mlops_common.files import write_parquet
from mlops_common.handoff import HandOff
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


class ExtractReport(HandOff):
    """`extract.json`: what extract joined, with which engine, and how long it took."""

    run_id: str
    requests_path: str
    engine: str
    rows_in: int
    rows_without_features: int
    seconds: float
    data_seconds: float  # read + join + write, without the registry set-up


class BatchSummary(HandOff):
    """`summary.json`: the run's result, its model and its figures (both tasks)."""

    run_id: str
    output: str
    requests_path: str | None
    engine: str | None
    rows_in: int
    rows_predicted: int
    rows_without_features: int
    model_name: str
    model_version: str
    extract_seconds: float | None
    predict_seconds: float
    seconds: float
    rows_per_second: int | None
    # join + predict + write only: without registry and model loading (fixed costs)
    data_seconds: float
    data_rows_per_second: int | None
    challenger_version: str | None = None  # scored beside the champion (BATCH_SCORE_CHALLENGER)


def _dictionary_columns(schema: pa.Schema) -> list[str]:
    """Columns worth dictionary encoding: ids, labels, flags. Features, predictions and
    request times are near-unique; trying a dictionary on them first costs ~40% of the write
    for a file a few percent smaller (make bench_batch)."""
    return [
        field.name
        for field in schema
        if pa.types.is_integer(field.type)
        or pa.types.is_string(field.type)
        or pa.types.is_boolean(field.type)
        or pa.types.is_dictionary(field.type)
    ]


def write_table(table: pa.Table, target: Path) -> Path:
    """Write TABLE atomically; equal tables give byte-identical files (fixed layout, no
    timestamps or pandas metadata in the file)."""
    return write_parquet(
        table.replace_schema_metadata(None),
        target,
        row_group_size=1 << 20,
        use_dictionary=_dictionary_columns(table.schema),
    )
