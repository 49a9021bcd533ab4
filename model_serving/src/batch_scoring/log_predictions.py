"""The log-predictions task: a batch run's predictions into the prediction log, in the same
shape as the online service's (features through Feast's feature logging, scores beside).

Each request row is its own request (`<run id>:<row>`) with one candidate, chosen when it
could be scored; `source` is `batch`. A run scored with BATCH_SCORE_CHALLENGER fills the log's
challenger columns too. The files are named after the run, so a re-run of the
task replaces them instead of logging the rows twice.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq
from feature_store.point_in_time import HAS_FEATURES
from mlops_common.errors import UserError
from mlops_common.paths import safe_name
from prediction_log.writer import LogBatch, open_writer

from batch_scoring.predict import CHALLENGER_PREDICTION, CHALLENGER_VERSION, PREDICTION
from batch_scoring.run_files import predictions_path

logger = logging.getLogger(__name__)


def _strings(column: object, rows: int) -> np.ndarray:
    values = column.cast("string").to_numpy(zero_copy_only=False)  # type: ignore[attr-defined]
    return np.asarray(values, dtype=object).reshape(rows)


def log_batch_predictions(run_id: str) -> int:
    """Log RUN_ID's predictions; the number of rows logged."""
    source = predictions_path(run_id)
    if not source.exists():
        raise UserError(f"no predictions at {source}; run `model-serving predict` first")
    writer = open_writer()
    table = pq.read_table(source)
    rows = table.num_rows
    features = tuple(writer.feature_names)
    missing = [name for name in features if name not in table.column_names]
    if missing:
        raise UserError(f"{source} lacks the feature columns {missing}; re-run the batch DAG")
    found = table.column(HAS_FEATURES).to_numpy(zero_copy_only=False).astype(bool)
    values = (
        np.column_stack(
            [pc.fill_null(table.column(n).cast("double"), np.nan).to_numpy() for n in features]
        )
        if rows
        else np.empty((0, len(features)))
    )
    score = pc.fill_null(table.column(PREDICTION), np.nan).to_numpy(zero_copy_only=False)
    challenger: dict[str, np.ndarray] = {}
    if CHALLENGER_PREDICTION in table.column_names:  # scored with BATCH_SCORE_CHALLENGER
        challenger_score = pc.fill_null(table.column(CHALLENGER_PREDICTION), np.nan)
        versions = _strings(table.column(CHALLENGER_VERSION), rows)
        challenger = {
            "challenger_score": np.asarray(
                challenger_score.to_numpy(zero_copy_only=False), dtype=np.float64
            ),
            "challenger_version": np.array(
                [v if f else None for v, f in zip(versions, found, strict=True)], dtype=object
            ),
        }
    logged_at = np.datetime64(datetime.now(UTC).replace(tzinfo=None), "us")
    batch = LogBatch(
        feature_names=features,
        request_id=np.array([f"{run_id}:{i}" for i in range(rows)], dtype=object),
        logged_at=np.full(rows, logged_at),
        driver_id=table.column("driver_id").to_numpy().astype(np.int64),
        values=values,
        found=found,
        score=np.asarray(score, dtype=np.float64),
        rank=found.astype(np.int32),
        chosen=found,
        model_name=_strings(table.column("model_name"), rows),
        model_version=_strings(table.column("model_version"), rows),
        source="batch",
        **challenger,
    )
    written = writer.write(batch, name=f"batch-{safe_name(run_id)}")
    logger.info("logged %d batch predictions of run %s", written, run_id)
    return written
