"""Preparation keeps the training window, drops rows without features and splits by time."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
from training_pipeline.prepare import split_training_set

FEATURES = ["conv_rate", "acc_rate", "avg_daily_trips"]
END = datetime(2026, 11, 1, tzinfo=UTC)


def frame(rows: int = 300, days: float = 10) -> pd.DataFrame:
    """Orders in a shuffled time order (as the orders file may hold them), with ties."""
    rng = np.random.default_rng(1)
    minutes = rng.integers(0, int(days * 24 * 60), rows)
    minutes[:20] = minutes[20]  # ties on one timestamp
    data = pd.DataFrame(
        {
            "driver_id": np.arange(rows, dtype="int64"),
            "event_timestamp": pd.Timestamp(END) - pd.to_timedelta(minutes, unit="min"),
            "conv_rate": rng.uniform(0, 1, rows).astype("float32"),
            "acc_rate": rng.uniform(0, 1, rows).astype("float32"),
            "avg_daily_trips": rng.integers(0, 40, rows).astype("float64"),
            "trip_completed": rng.integers(0, 2, rows).astype("int64"),
        }
    )
    data.loc[[3, 7, 11], "acc_rate"] = np.nan
    return data


def split(data: pd.DataFrame, window_days: float = 30, test_size: float = 0.2) -> tuple:
    return split_training_set(data, FEATURES, window_days=window_days, test_size=test_size)


@pytest.mark.parametrize("test_size", [0.1, 0.2, 0.5])
def test_no_test_row_is_older_than_a_train_row(test_size: float) -> None:
    train, test, _, _ = split(frame(), test_size=test_size)
    assert test.event_timestamp.min() >= train.event_timestamp.max()
    assert len(test) == round((len(train) + len(test)) * test_size)
    # Nothing lost or repeated: every complete row is in exactly one split.
    assert sorted([*train.driver_id, *test.driver_id]) == sorted(
        frame().dropna(subset=FEATURES).driver_id
    )


def test_the_window_keeps_only_recent_orders() -> None:
    data = frame(days=10)
    train, test, outside, dropped = split(data, window_days=2)
    kept = pd.concat([train, test])
    newest = data.event_timestamp.max()
    assert kept.event_timestamp.min() >= newest - pd.Timedelta(days=2)
    assert outside == int((data.event_timestamp < newest - pd.Timedelta(days=2)).sum())
    assert outside + dropped + len(kept) == len(data)


def test_rows_with_null_features_are_dropped_and_counted() -> None:
    train, test, outside, dropped = split(frame())
    assert (outside, dropped) == (0, 3)
    assert len(train) + len(test) == 297
    assert not pd.concat([train, test])[FEATURES].isna().any().any()


def test_features_become_float64() -> None:
    train, test, _, _ = split(frame())
    assert (train[FEATURES].dtypes == "float64").all()
    assert (test[FEATURES].dtypes == "float64").all()


def test_the_split_depends_on_the_times_not_the_row_order() -> None:
    data = frame()
    shuffled = data.sample(frac=1, random_state=3).reset_index(drop=True)
    first, again = split(data), split(shuffled)
    assert set(first[1].driver_id) == set(again[1].driver_id)
    pd.testing.assert_frame_equal(split(data)[1], first[1])  # and re-runs are identical


def test_the_window_starts_where_the_relation_changed() -> None:
    data = frame(rows=600, days=10)
    change = pd.Timestamp(END) - pd.Timedelta(days=3)
    train, test, outside, _ = split_training_set(
        data, FEATURES, window_days=30, test_size=0.2, since=change.to_pydatetime(), min_rows=50
    )
    kept = pd.concat([train, test])
    assert kept.event_timestamp.min() >= change
    assert outside == int((data.event_timestamp < change).sum())
    assert test.event_timestamp.min() >= train.event_timestamp.max()


def test_a_change_with_too_few_rows_after_it_keeps_the_window() -> None:
    data = frame(rows=600, days=10)
    change = data.event_timestamp.max() - pd.Timedelta(minutes=30)  # a handful of rows after
    train, test, outside, _ = split_training_set(
        data, FEATURES, window_days=30, test_size=0.2, since=change.to_pydatetime(), min_rows=100
    )
    assert outside == 0
    assert len(train) + len(test) == len(data.dropna(subset=FEATURES))


def test_a_change_before_the_window_changes_nothing() -> None:
    data = frame(rows=600, days=10)
    change = pd.Timestamp(END) - pd.Timedelta(days=20)
    with_change = split_training_set(
        data, FEATURES, window_days=2, test_size=0.2, since=change.to_pydatetime(), min_rows=10
    )
    without = split(data, window_days=2)
    assert with_change[2] == without[2]
    pd.testing.assert_frame_equal(with_change[0], without[0])
