"""Training data preparation: keep the training window, drop rows without features, cast,
and split by event time (the test set is the latest share, as the model will meet the
future)."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import pyarrow as pa
from mlops_common.errors import UserError
from mlops_common.files import write_parquet

from training_pipeline.inputs import model_inputs
from training_pipeline.run_files import LABEL, TIMESTAMP, Preparation, RunFiles
from training_pipeline.settings import get_train_settings

logger = logging.getLogger(__name__)


def split_training_set(
    frame: pd.DataFrame, features: list[str], *, window_days: float, test_size: float
) -> tuple[pd.DataFrame, pd.DataFrame, int, int]:
    """(train, test, rows outside the window, rows dropped for null features).

    Only rows within WINDOW_DAYS before the newest event time are kept (measured from the data,
    not the clock, so a re-run gives the same split). Rows are ordered by event time (ties keep
    the extract's order) and the latest TEST_SIZE share is the test set: no test row is older
    than a train row, so the gates judge a model on the most recent behaviour and never on
    rows older than what it was trained on.
    """
    times = pd.to_datetime(frame[TIMESTAMP], utc=True)
    recent = frame[times >= times.max() - pd.Timedelta(days=window_days)]
    outside = len(frame) - len(recent)
    complete = recent.dropna(subset=features)
    dropped = len(recent) - len(complete)
    ordered = complete.sort_values(TIMESTAMP, kind="stable").reset_index(drop=True)
    ordered[features] = model_inputs(ordered, features)
    n_test = max(1, round(len(ordered) * test_size))
    train, test = ordered.iloc[: len(ordered) - n_test], ordered.iloc[len(ordered) - n_test :]
    return train.reset_index(drop=True), test.reset_index(drop=True), outside, dropped


def _both_classes(split: pd.DataFrame, name: str, run_id: str) -> None:
    """A split with one class cannot be fitted or ranked: say which setting to change."""
    if split[LABEL].nunique() < 2:
        raise UserError(
            f"the {name} split of run {run_id!r} ({len(split)} rows) holds only one class of "
            f"{LABEL}; widen TRAIN_WINDOW_DAYS or change TRAIN_TEST_SIZE"
        )


def _write(frame: pd.DataFrame, target: Path) -> None:
    write_parquet(pa.Table.from_pandas(frame, preserve_index=False), target)


def prepare_splits(run_id: str) -> Preparation:
    """Split the run's validated training set into train/test parquet files."""
    settings = get_train_settings()
    files = RunFiles.of(run_id)
    if not files.validation_report().valid:
        raise UserError(
            f"the training set of run {run_id!r} failed validation ({files.validation}); fix the "
            "data and re-run `training-pipeline validate`"
        )
    frame = pd.read_parquet(files.require(files.training_set, "extract"))
    features = files.feature_names()
    train, test, outside, dropped = split_training_set(
        frame, features, window_days=settings.window_days, test_size=settings.test_size
    )
    _both_classes(train, "train", run_id)
    _both_classes(test, "test", run_id)
    _write(train, files.train_split)
    _write(test, files.test_split)
    summary = Preparation(
        rows_in=len(frame),
        rows_outside_window=outside,
        rows_dropped_null_features=dropped,
        train_rows=len(train),
        test_rows=len(test),
        window_days=settings.window_days,
        test_size=settings.test_size,
        train_end=str(train[TIMESTAMP].max()),
        test_start=str(test[TIMESTAMP].min()),
    )
    summary.write(files.preparation)
    logger.info(
        "%d of %d rows outside the %s-day window, %d dropped with null features; %d train / "
        "%d test rows (test from %s) in %s",
        outside,
        len(frame),
        settings.window_days,
        dropped,
        len(train),
        len(test),
        summary.test_start,
        files.root,
    )
    return summary
