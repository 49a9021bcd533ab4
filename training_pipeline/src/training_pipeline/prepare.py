"""Training data preparation: keep the training window, drop rows without features, cast,
and split by event time (the test set is the latest share, as the model will meet the
future)."""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
from mlops_common.champion import relation_changed_at
from mlops_common.errors import UserError
from mlops_common.files import write_parquet

from training_pipeline.inputs import model_inputs
from training_pipeline.run_files import LABEL, TIMESTAMP, Preparation, RunFiles
from training_pipeline.settings import get_train_settings

logger = logging.getLogger(__name__)


def window_start(
    times: pd.Series, *, window_days: float, since: datetime | None, min_rows: int
) -> tuple[pd.Timestamp, str]:
    """Where the training window starts, and why.

    WINDOW_DAYS before the newest event time (measured from the data, not the clock, so a
    re-run gives the same window); later when the relation between features and outcomes
    changed inside it (SINCE, recorded by monitoring when the champion's live ROC AUC fell
    below its gate): rows from before a concept change teach the old relation, and a model fitted
    on them would be judged on the new one. A change with fewer than MIN_ROWS rows after it
    does not cut the window (too little to fit on: the window stays, and the log says so).
    """
    start = times.max() - pd.Timedelta(days=window_days)
    if since is None:
        return start, f"the last {window_days:g} days"
    cut = (
        pd.Timestamp(since).tz_convert("UTC")
        if pd.Timestamp(since).tzinfo
        else pd.Timestamp(since, tz="UTC")
    )
    if cut <= start:
        return start, f"the last {window_days:g} days (the relation changed before, at {cut})"
    after = int((times >= cut).sum())
    if after < min_rows:
        logger.warning(
            "the relation changed at %s but only %d rows follow it (< TRAIN_MIN_ROWS %d): "
            "training on the last %g days",
            cut,
            after,
            min_rows,
            window_days,
        )
        return start, f"the last {window_days:g} days ({after} rows since the change at {cut})"
    return cut, f"since the relation changed at {cut}"


def split_training_set(
    frame: pd.DataFrame,
    features: list[str],
    *,
    window_days: float,
    test_size: float,
    since: datetime | None = None,
    min_rows: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame, int, int]:
    """(train, test, rows outside the window, rows dropped for null features).

    Only rows within the window (`window_start`) are kept. Rows are ordered by event time (ties
    keep the extract's order) and the latest TEST_SIZE share is the test set: no test row is
    older than a train row, so the gates judge a model on the most recent behaviour and never
    on rows older than what it was trained on.
    """
    times = pd.to_datetime(frame[TIMESTAMP], utc=True)
    start, _ = window_start(times, window_days=window_days, since=since, min_rows=min_rows)
    recent = frame[times >= start]
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
    since = relation_changed_at() if settings.window_from_relation_change else None
    start, reason = window_start(
        pd.to_datetime(frame[TIMESTAMP], utc=True),
        window_days=settings.window_days,
        since=since,
        min_rows=settings.min_rows,
    )
    train, test, outside, dropped = split_training_set(
        frame,
        features,
        window_days=settings.window_days,
        test_size=settings.test_size,
        since=start.to_pydatetime(),  # resolved above: the same start, logged once
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
        window_start=str(start),
        window=reason,
        test_size=settings.test_size,
        train_end=str(train[TIMESTAMP].max()),
        test_start=str(test[TIMESTAMP].min()),
    )
    summary.write(files.preparation)
    logger.info(
        "%d of %d rows outside the window (%s), %d dropped with null features; %d train / "
        "%d test rows (test from %s) in %s",
        outside,
        len(frame),
        reason,
        dropped,
        len(train),
        len(test),
        summary.test_start,
        files.root,
    )
    return summary
