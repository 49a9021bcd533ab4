"""Schema and quality checks of the extracted training set, before anything learns from it."""

from __future__ import annotations

import logging

import pandas as pd
from mlops_common.errors import UserError
from pandas.api import types as ptypes

from training_pipeline.run_files import ENTITY, LABEL, TIMESTAMP, RunFiles, ValidationReport
from training_pipeline.settings import TrainSettings, get_train_settings

logger = logging.getLogger(__name__)


def check_training_set(
    frame: pd.DataFrame, features: list[str], settings: TrainSettings
) -> ValidationReport:
    """Check FRAME against the expected training-set schema and quality thresholds."""
    problems: list[str] = []
    expected = [ENTITY, TIMESTAMP, *features, LABEL]
    missing = [c for c in expected if c not in frame.columns]
    unexpected = [c for c in frame.columns if c not in expected]
    if missing:
        problems.append(f"missing columns {missing}")
    if unexpected:
        problems.append(f"unexpected columns {unexpected}")

    if ENTITY in frame and not ptypes.is_integer_dtype(frame[ENTITY]):
        problems.append(f"{ENTITY} has dtype {frame[ENTITY].dtype}, expected an integer")
    if TIMESTAMP in frame and not (
        ptypes.is_datetime64_any_dtype(frame[TIMESTAMP])
        and getattr(frame[TIMESTAMP].dt, "tz", None) is not None
    ):
        problems.append(f"{TIMESTAMP} has dtype {frame[TIMESTAMP].dtype}, expected UTC datetimes")
    null_share: dict[str, float] = {}
    for name in features:
        if name not in frame:
            continue
        column = frame[name]
        if not ptypes.is_numeric_dtype(column) or ptypes.is_bool_dtype(column):
            problems.append(f"feature {name} has dtype {column.dtype}, expected a number")
        share = float(column.isna().mean()) if len(frame) else 0.0
        null_share[name] = round(share, 6)
        if share > settings.max_null_share:
            problems.append(
                f"feature {name} is null in {share:.1%} of rows, above TRAIN_MAX_NULL_SHARE="
                f"{settings.max_null_share:.1%} (are the features materialized for the orders' "
                "period and the feature view's ttl long enough?)"
            )

    positive_rate: float | None = None
    if LABEL in frame:
        label = frame[LABEL]
        if label.isna().any():
            problems.append(f"{LABEL} is null in {int(label.isna().sum())} rows")
        values = set(label.dropna().unique().tolist())
        if not values <= {0, 1}:
            problems.append(f"{LABEL} holds values {sorted(values - {0, 1})[:5]}, expected 0/1")
        elif values != {0, 1}:
            problems.append(f"{LABEL} holds only {sorted(values)}: both outcomes are needed")
        if not label.dropna().empty and values <= {0, 1}:
            positive_rate = round(float(label.mean()), 6)
    if len(frame) < settings.min_rows:
        problems.append(f"only {len(frame)} rows, TRAIN_MIN_ROWS={settings.min_rows} are needed")
    return ValidationReport(
        rows=len(frame),
        columns=list(frame.columns),
        null_share=null_share,
        positive_rate=positive_rate,
        problems=problems,
    )


def validate_training_set(run_id: str) -> ValidationReport:
    """Validate the run's training set; write the report; raise UserError when it fails."""
    settings = get_train_settings()
    files = RunFiles.of(run_id)
    frame = pd.read_parquet(files.require(files.training_set, "extract"))
    report = check_training_set(frame, files.feature_names(), settings)
    report.write(files.validation)
    if not report.valid:
        raise UserError(
            f"training set of run {run_id!r} is invalid: {'; '.join(report.problems)} "
            f"(report: {files.validation})"
        )
    logger.info(
        "training set valid: %d rows, null share %s, positive rate %s",
        report.rows,
        report.null_share,
        report.positive_rate,
    )
    return report
