"""Preparation drops rows without features and splits deterministically."""

from __future__ import annotations

import numpy as np
import pandas as pd
from training_pipeline.prepare import split_training_set

FEATURES = ["conv_rate", "acc_rate", "avg_daily_trips"]


def frame(rows: int = 300) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    data = pd.DataFrame(
        {
            "driver_id": np.arange(rows, dtype="int64"),
            "conv_rate": rng.uniform(0, 1, rows).astype("float32"),
            "acc_rate": rng.uniform(0, 1, rows).astype("float32"),
            "avg_daily_trips": rng.integers(0, 40, rows).astype("float64"),
            "trip_completed": rng.integers(0, 2, rows).astype("int64"),
        }
    )
    data.loc[[3, 7, 11], "acc_rate"] = np.nan
    return data


def test_rows_with_null_features_are_dropped_and_counted() -> None:
    train, test, dropped = split_training_set(frame(), FEATURES, seed=1, test_size=0.2)
    assert dropped == 3
    assert len(train) + len(test) == 297
    assert not set(train.driver_id) & set(test.driver_id)
    assert not pd.concat([train, test])[FEATURES].isna().any().any()


def test_features_become_float64() -> None:
    train, test, _ = split_training_set(frame(), FEATURES, seed=1, test_size=0.2)
    assert (train[FEATURES].dtypes == "float64").all()
    assert (test[FEATURES].dtypes == "float64").all()


def test_split_is_fixed_by_the_seed_and_stratified() -> None:
    first = split_training_set(frame(), FEATURES, seed=5, test_size=0.25)
    again = split_training_set(frame(), FEATURES, seed=5, test_size=0.25)
    other = split_training_set(frame(), FEATURES, seed=6, test_size=0.25)
    pd.testing.assert_frame_equal(first[1], again[1])
    assert set(first[1].driver_id) != set(other[1].driver_id)
    assert abs(first[0].trip_completed.mean() - first[1].trip_completed.mean()) < 0.02
