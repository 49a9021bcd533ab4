"""Training data preparation: drop rows without features, cast, split deterministically."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import pyarrow as pa
from mlops_common.errors import UserError
from mlops_common.files import write_parquet
from sklearn.model_selection import train_test_split

from training_pipeline.inputs import model_inputs
from training_pipeline.run_files import LABEL, Preparation, RunFiles
from training_pipeline.settings import get_train_settings

logger = logging.getLogger(__name__)


def split_training_set(
    frame: pd.DataFrame, features: list[str], *, seed: int, test_size: float
) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """(train, test, rows dropped): rows with a null feature dropped, features float64, a split
    stratified on the label and fixed by SEED."""
    complete = frame.dropna(subset=features).reset_index(drop=True)
    dropped = len(frame) - len(complete)
    complete[features] = model_inputs(complete, features)
    train, test = train_test_split(
        complete, test_size=test_size, random_state=seed, stratify=complete[LABEL]
    )
    return train.reset_index(drop=True), test.reset_index(drop=True), dropped


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
    train, test, dropped = split_training_set(
        frame, features, seed=settings.seed, test_size=settings.test_size
    )
    _write(train, files.train_split)
    _write(test, files.test_split)
    summary = Preparation(
        rows_in=len(frame),
        rows_dropped_null_features=dropped,
        train_rows=len(train),
        test_rows=len(test),
        seed=settings.seed,
        test_size=settings.test_size,
    )
    summary.write(files.preparation)
    logger.info(
        "dropped %d of %d rows with null features; %d train / %d test rows in %s",
        dropped,
        len(frame),
        len(train),
        len(test),
        files.root,
    )
    return summary
