"""The predict task: score extracted rows with the champion model (and, with
BATCH_SCORE_CHALLENGER, the challenger beside it), write output and summary."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from feature_store.point_in_time import HAS_FEATURES
from mlops_common.errors import UserError
from mlops_common.models import ModelLoadError, ScoringModel

from batch_scoring.run_files import (
    BatchSummary,
    ExtractReport,
    extract_report_path,
    features_path,
    predictions_path,
    summary_path,
    write_table,
)
from batch_scoring.settings import get_batch_settings
from mlops_common import champion as champion_models

logger = logging.getLogger(__name__)

PREDICTION = "prediction"
CHALLENGER_PREDICTION, CHALLENGER_VERSION = "challenger_prediction", "challenger_version"


def _ready(load: Callable[[], ScoringModel], role: str, fix: str) -> ScoringModel:
    """The model LOAD gives, tried on one row: a model that cannot score fails here, before
    any data is read, in one line naming ROLE and FIX."""
    try:
        model = load()
    except ModelLoadError as exc:
        raise UserError(f"the {role} cannot be scored: {exc}; {fix}") from exc
    model.predict(np.zeros((1, len(model.features))))
    logger.info("loaded %s %s (%s)", role, model.label, model.kind)
    return model


def load_champion() -> ScoringModel:
    """The champion resolved once and loaded, so the whole run scores with one version even if
    the alias moves meanwhile."""
    return _ready(
        champion_models.load_champion,
        "champion",
        "register it with a signature (the training pipeline does)",
    )


def load_challenger() -> ScoringModel | None:
    """The challenger (alias `challenger`) resolved once and loaded, or None when no version
    carries the alias."""
    from mlops_common.models import load_model
    from mlops_common.settings import get_mlflow_settings

    settings = get_mlflow_settings()
    uri = settings.resolved_tracking_uri
    found = champion_models.champion_or_none(uri, alias=settings.challenger_alias)
    if found is None:
        logger.info("no challenger to score beside the champion")
        return None
    return _ready(
        lambda: load_model(found, tracking_uri=uri),
        "challenger",
        "set BATCH_SCORE_CHALLENGER=false to score with the champion alone",
    )


def score(features: pa.Table, champion: ScoringModel) -> pa.Array:
    """Predictions for rows with features; null for the others (never dropped)."""
    champion.require_features(features.column_names)
    present = features.column(HAS_FEATURES).to_numpy(zero_copy_only=False)
    values = np.full(features.num_rows, np.nan)
    if present.any():
        rows = features.filter(features.column(HAS_FEATURES)).select(list(champion.features))
        matrix = np.column_stack(
            [column.to_numpy().astype(np.float64, copy=False) for column in rows.columns]
        )
        values[present] = champion.predict(matrix)
    return pa.array(values, mask=~present)


def _constant(value: str, rows: int) -> pa.Array:
    """VALUE on every row, dictionary-encoded: one string and an index per row (pandas reads
    it as a category); cheaper to build and write than a million copies."""
    return pa.DictionaryArray.from_arrays(
        pa.array(np.zeros(rows, dtype=np.int32)), pa.array([value], pa.string())
    )


def predict_batch(run_id: str, champion: ScoringModel | None = None) -> Path:
    """Score RUN_ID's extracted features with the champion; write predictions and summary."""
    started = time.perf_counter()
    source = features_path(run_id)
    if not source.exists():
        raise UserError(f"no extracted features at {source}; run `model-serving extract` first")
    champion = champion or load_champion()
    with_challenger = get_batch_settings().score_challenger
    if with_challenger and source.is_dir():
        raise UserError(
            "BATCH_SCORE_CHALLENGER=true is not supported with the spark engine; set it to false "
            "or BATCH_ENGINE to sorted, duckdb or feast"
        )
    challenger = load_challenger() if with_challenger else None
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
            .append_column("model_version", _constant(str(champion.version), features.num_rows))
            .append_column("run_id", _constant(run_id, features.num_rows))
        )
        if challenger is not None:
            output = output.append_column(
                CHALLENGER_PREDICTION, score(features, challenger)
            ).append_column(
                CHALLENGER_VERSION, _constant(str(challenger.version), features.num_rows)
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
        challenger_version=challenger.version if challenger is not None else None,
    )
    summary.write(summary_path(run_id))
    logger.info("batch summary: %s", summary)
    return target
