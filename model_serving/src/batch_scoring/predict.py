"""The predict task: score extracted rows with the champion model, write output and summary."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from feature_store.point_in_time import HAS_FEATURES
from mlops_common.champion import resolve_champion
from mlops_common.errors import UserError
from mlops_common.models import ModelLoadError, load_model
from mlops_common.settings import get_mlflow_settings

from batch_scoring.run_files import (
    BatchSummary,
    ExtractReport,
    extract_report_path,
    features_path,
    predictions_path,
    summary_path,
    write_table,
)

logger = logging.getLogger(__name__)

PREDICTION = "prediction"


@dataclass(frozen=True)
class Champion:
    """The model behind the champion alias at load time, pinned to its version."""

    name: str
    version: str
    model: Any  # has predict(rows: float64 array in `inputs` order) -> scores
    inputs: list[str]  # feature columns in the signature's order
    source: str | None = None  # the logged model (`models:/m-<id>`), for Spark's spark_udf

    def require_inputs(self, columns: list[str]) -> None:
        """A UserError when COLUMNS (what the feature service served) lack one of the inputs."""
        missing = [name for name in self.inputs if name not in columns]
        if missing:
            raise UserError(
                f"{self.name} version {self.version} needs feature {missing[0]!r}, which "
                f"the feature service does not serve (it serves {columns}); "
                "retrain on the current feature service"
            )


def load_champion() -> Champion:
    """Resolve `models:/<name>@champion` to a version once and load that version (from the
    local model cache when it holds it), so the whole run scores with one model even if the
    alias moves meanwhile."""
    tracking_uri = get_mlflow_settings().resolved_tracking_uri
    version = resolve_champion(tracking_uri)
    try:
        model = load_model(version.source, tracking_uri=tracking_uri)
    except ModelLoadError as exc:
        raise UserError(
            f"{version.name} version {version.version} cannot be scored: {exc}; register it "
            "with a signature (the training pipeline does)"
        ) from exc
    inputs = list(model.input_names)
    # One row through predict now: a model that cannot score fails before any data is read.
    model.predict(np.zeros((1, len(inputs))))
    logger.info("loaded %s version %s (%s)", version.name, version.version, model.kind)
    return Champion(version.name, version.version, model, inputs, version.source)


def score(features: pa.Table, champion: Champion) -> pa.Array:
    """Predictions for rows with features; null for the others (never dropped)."""
    champion.require_inputs(features.column_names)
    present = features.column(HAS_FEATURES).to_numpy(zero_copy_only=False)
    values = np.full(features.num_rows, np.nan)
    if present.any():
        rows = features.filter(features.column(HAS_FEATURES)).select(champion.inputs)
        matrix = np.column_stack(
            [column.to_numpy().astype(np.float64, copy=False) for column in rows.columns]
        )
        values[present] = np.asarray(champion.model.predict(matrix), dtype="float64").ravel()
    return pa.array(values, mask=~present)


def _constant(value: str, rows: int) -> pa.Array:
    """VALUE on every row, dictionary-encoded: one string and an index per row (pandas reads
    it as a category); cheaper to build and write than a million copies."""
    return pa.DictionaryArray.from_arrays(
        pa.array(np.zeros(rows, dtype=np.int32)), pa.array([value], pa.string())
    )


def predict_batch(run_id: str, champion: Champion | None = None) -> Path:
    """Score RUN_ID's extracted features with the champion; write predictions and summary."""
    started = time.perf_counter()
    source = features_path(run_id)
    if not source.exists():
        raise UserError(f"no extracted features at {source}; run `model-serving extract` first")
    champion = champion or load_champion()
    data_started = time.perf_counter()
    if source.is_dir():  # the spark engine's features dataset: scored and written by Spark
        from batch_scoring.spark_engine import dataset_counts, score_spark

        target = score_spark(source, champion, run_id, predictions_path(run_id))
        rows, predicted = dataset_counts(target)
    else:
        features = pq.read_table(source)
        prediction = score(features, champion)
        output = (
            features.append_column(PREDICTION, prediction)
            .append_column("model_name", _constant(champion.name, features.num_rows))
            .append_column("model_version", _constant(champion.version, features.num_rows))
            .append_column("run_id", _constant(run_id, features.num_rows))
        )
        target = write_table(output, predictions_path(run_id))
        rows = output.num_rows
        predicted = int(pc.sum(features.column(HAS_FEATURES)).as_py() or 0)
    finished = time.perf_counter()
    predict_seconds, predict_data_seconds = finished - started, finished - data_started
    report_path = extract_report_path(run_id)
    extract = ExtractReport.read(report_path) if report_path.exists() else None
    seconds = predict_seconds + (extract.seconds if extract else 0.0)
    data_seconds = predict_data_seconds + (extract.data_seconds if extract else 0.0)
    summary = BatchSummary(
        run_id=run_id,
        output=str(target),
        requests_path=extract.requests_path if extract else None,
        engine=extract.engine if extract else None,
        rows_in=rows,
        rows_predicted=predicted,
        rows_without_features=rows - predicted,
        model_name=champion.name,
        model_version=champion.version,
        extract_seconds=extract.seconds if extract else None,
        predict_seconds=round(predict_seconds, 3),
        seconds=round(seconds, 3),
        rows_per_second=round(rows / seconds) if seconds > 0 else None,
        data_seconds=round(data_seconds, 3),
        data_rows_per_second=round(rows / data_seconds) if data_seconds else None,
    )
    summary.write(summary_path(run_id))
    logger.info("batch summary: %s", summary)
    return target
