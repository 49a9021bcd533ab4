"""The sorted engine (the default, no Feast import) writes exactly the training set Feast's
`get_historical_features` writes: same columns, dtypes, values, nulls and row order, byte for
byte, on the generator's data with the real feature repo applied to a real registry."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
from mlops_testing import RedisServer
from training_pipeline.extract import extract_training_set
from training_pipeline.run_files import RunFiles

pytestmark = [pytest.mark.integration, pytest.mark.slow]

FEATURES = ["conv_rate", "acc_rate", "avg_daily_trips"]


@pytest.fixture
def demo_data(project_env: Path, redis_env: RedisServer) -> Path:
    """The generator's default sizes (200 drivers, 7 days, 20,000 orders: what the demo trains
    on), with the feature repo applied."""
    from data_pipeline.generate import generate
    from feature_store.apply import apply_repo

    orders = generate(end_time=datetime(2026, 11, 1, tzinfo=UTC)).orders
    apply_repo()
    return orders


def _assert_same_training_set(sorted_run: str, feast_run: str, orders: Path) -> None:
    sorted_files, feast_files = RunFiles.of(sorted_run), RunFiles.of(feast_run)
    assert sorted_files.training_set.read_bytes() == feast_files.training_set.read_bytes()
    assert sorted_files.features.read_bytes() == feast_files.features.read_bytes()
    # What the bytes hold: the orders file's rows in its order, nulls where Feast has none.
    frame = pd.read_parquet(feast_files.training_set)
    expected = pd.read_parquet(orders)
    assert list(frame.columns) == ["driver_id", "event_timestamp", *FEATURES, "trip_completed"]
    assert (frame.driver_id.to_numpy() == expected.driver_id.to_numpy()).all()
    assert (frame.trip_completed.to_numpy() == expected.trip_completed.to_numpy()).all()
    assert 0 < frame.conv_rate.isna().sum() < len(frame)


def test_sorted_engine_writes_feasts_training_set(demo_data: Path) -> None:
    extract_training_set("feast", "feast")
    extract_training_set("sorted", "sorted")
    _assert_same_training_set("sorted", "feast", demo_data)
    frame = pd.read_parquet(RunFiles.of("sorted").training_set)
    assert len(frame) == 20_000
    assert frame.dtypes.astype(str).to_dict() == {
        "driver_id": "int64",
        "event_timestamp": "datetime64[ns, UTC]",
        "conv_rate": "float32",
        "acc_rate": "float32",
        "avg_daily_trips": "float64",  # Int64 with nulls, as Feast's to_df() gives it
        "trip_completed": "int64",
    }


def test_without_a_recorded_layout_the_sorted_engine_reads_the_registry(
    applied_repo: Path,
) -> None:
    """An apply by other means (no record of the layout): the layout comes from the registry,
    the training set is the same."""
    from feature_store.apply import applied_record_path, applied_sources

    applied_record_path().unlink()
    assert applied_sources("driver_ranking") is None
    extract_training_set("sorted", "sorted")
    extract_training_set("feast", "feast")
    _assert_same_training_set("sorted", "feast", applied_repo)


def test_labelled_dispatches_join_with_the_features_served_or_re_joined(
    demo_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Served dispatches with an outcome are training rows: with the values the model was
    served (default), or re-joined from the offline store as the orders are."""
    import pyarrow as pa
    from mlops_common.partitions import append
    from mlops_common.paths import labelled_dispatches_dir
    from mlops_common.settings import reset_settings_cache

    at = pd.Timestamp("2026-10-31T12:00:00Z")
    served = pd.DataFrame(
        {
            "driver_id": [1001, 1002],
            "event_timestamp": [at, at + pd.Timedelta(minutes=1)],
            "trip_completed": [1, 0],
            "request_id": ["a", "b"],
            "model_version": ["1", "1"],
            "source": ["served", "served"],
            "conv_rate": [0.125, 0.25],  # stale or not: what the model saw
            "acc_rate": [0.5, 0.75],
            "avg_daily_trips": [3.0, 4.0],
        }
    )
    append(
        pa.Table.from_pandas(served, preserve_index=False),
        labelled_dispatches_dir(),
        "event_timestamp",
        "run",
    )
    extract_training_set("log", "sorted")
    frame = pd.read_parquet(RunFiles.of("log").training_set)
    assert len(frame) == 20_002
    tail = frame.tail(2).reset_index(drop=True)
    assert tail[["driver_id", "trip_completed"]].to_dict("list") == {
        "driver_id": [1001, 1002],
        "trip_completed": [1, 0],
    }
    assert tail.conv_rate.tolist() == [0.125, 0.25]
    assert tail.avg_daily_trips.tolist() == [3.0, 4.0]

    monkeypatch.setenv("TRAIN_SERVED_FEATURES", "offline")
    reset_settings_cache()
    extract_training_set("offline", "sorted")
    rejoined = pd.read_parquet(RunFiles.of("offline").training_set).tail(2)
    stats = pd.read_parquet(__import__("mlops_common.paths", fromlist=["x"]).driver_stats_path())
    for row in rejoined.itertuples():
        known = stats[
            (stats.driver_id == row.driver_id) & (stats.event_timestamp <= row.event_timestamp)
        ]
        latest = known.sort_values("event_timestamp").iloc[-1]
        assert row.conv_rate == pytest.approx(float(latest.conv_rate))
        assert row.avg_daily_trips == float(latest.avg_daily_trips)
