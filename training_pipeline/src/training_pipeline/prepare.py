"""Training data preparation: drop rows without features, cast, split deterministically."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from mlops_common.errors import UserError
from mlops_common.files import atomic_path, read_json, write_json
from sklearn.model_selection import train_test_split

from training_pipeline.run_files import LABEL, RunFiles
from training_pipeline.settings import get_train_settings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Preparation:
    """How many rows went where."""

    rows_in: int
    rows_dropped_null_features: int
    train_rows: int
    test_rows: int
    seed: int
    test_size: float


def model_inputs(frame: pd.DataFrame, features: list[str]) -> pd.DataFrame:
    """The model's input columns, in the feature service's order, as float64.

    float64 everywhere (not the store's int64/float32) so the MLflow signature accepts the
    nulls a missing driver produces at serving time.
    """
    return frame[features].astype("float64")


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
    with atomic_path(target) as tmp:
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), tmp)


def prepare_splits(run_id: str) -> Preparation:
    """Split the run's validated training set into train/test parquet files."""
    settings = get_train_settings()
    files = RunFiles.of(run_id)
    if not read_json(files.require(files.validation, "validate")).get("valid"):
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
        len(frame), dropped, len(train), len(test), settings.seed, settings.test_size
    )
    write_json(files.preparation, asdict(summary))
    logger.info(
        "dropped %d of %d rows with null features; %d train / %d test rows in %s",
        dropped,
        len(frame),
        len(train),
        len(test),
        files.root,
    )
    return summary
