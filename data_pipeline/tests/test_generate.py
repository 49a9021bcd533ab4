"""The generator: deterministic, hourly, in range, with the documented label relation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from data_pipeline.generate import (
    completion_probability,
    floor_hour,
    generate,
    roc_auc,
)
from mlops_common.files import read_json

END = datetime(2026, 11, 20, 12, 34, 56, tzinfo=UTC)
SMALL = {"n_drivers": 60, "days": 7, "n_orders": 3000, "n_batch_requests": 40, "end_time": END}


def frames(out) -> dict[str, pd.DataFrame]:
    return {
        name: pd.read_parquet(getattr(out, name))
        for name in ("driver_stats", "orders", "batch_requests")
    }


def test_same_arguments_give_identical_files(data_env: Path) -> None:
    first = generate(**SMALL, seed=3, output_dir=data_env / "a")
    second = generate(**SMALL, seed=3, output_dir=data_env / "b")
    other = generate(**SMALL, seed=4, output_dir=data_env / "c")
    for name in ("driver_stats", "orders", "batch_requests"):
        assert getattr(first, name).read_bytes() == getattr(second, name).read_bytes()
        assert getattr(first, name).read_bytes() != getattr(other, name).read_bytes()


def test_a_driver_does_not_depend_on_how_many_others_are_generated(data_env: Path) -> None:
    few = pd.read_parquet(
        generate(**{**SMALL, "n_drivers": 10}, output_dir=data_env / "a").driver_stats
    )
    many = pd.read_parquet(generate(**SMALL, output_dir=data_env / "b").driver_stats)
    pd.testing.assert_frame_equal(few, many[many.driver_id < 1011].reset_index(drop=True))


def test_statistics_are_hourly_in_range_and_end_at_the_floored_hour(data_env: Path) -> None:
    data = frames(generate(**SMALL, output_dir=data_env))
    stats = data["driver_stats"]
    assert str(stats.event_timestamp.dt.tz) == "UTC"
    assert stats.conv_rate.dtype == "float32"
    assert stats.avg_daily_trips.dtype == "int64"
    assert stats.conv_rate.between(0, 1).all()
    assert stats.acc_rate.between(0, 1).all()
    assert (stats.avg_daily_trips >= 0).all()
    assert (stats.created > stats.event_timestamp).all()
    assert not stats.duplicated(["driver_id", "event_timestamp"]).any()
    assert (stats.event_timestamp.dt.minute == 0).all()
    assert stats.event_timestamp.max() == floor_hour(END)
    assert stats.driver_id.min() == 1001
    # 1001-1005 report every hour of the 7-day window.
    core = stats[stats.driver_id <= 1005].groupby("driver_id").size()
    assert core.to_dict() == dict.fromkeys(range(1001, 1006), 7 * 24)


def test_edge_rows_exist(data_env: Path) -> None:
    data = frames(generate(**SMALL, output_dir=data_env))
    stats, orders = data["driver_stats"], data["orders"]
    first = stats.groupby("driver_id").event_timestamp.min()
    before_first = orders.event_timestamp < orders.driver_id.map(first)
    assert before_first.sum() > 0, "orders before a driver's first record"
    gaps = stats.sort_values("event_timestamp").groupby("driver_id").event_timestamp.diff()
    assert (gaps > timedelta(days=2)).any(), "reporting gaps longer than the ttl"
    last = stats.groupby("driver_id").event_timestamp.max()
    assert (last < floor_hour(END) - timedelta(days=2)).any(), "drivers silent past the ttl"


def test_labels_follow_the_documented_relation(data_env: Path) -> None:
    out = generate(**SMALL, output_dir=data_env)
    summary = read_json(out.summary)
    data = frames(out)
    stats, orders = data["driver_stats"], data["orders"]
    assert set(orders.trip_completed.unique()) == {0, 1}
    # With the as-of values (point-in-time join, reported rows only) the documented probability
    # ranks the labels well; each driver's latest values barely do.
    joined = pd.merge_asof(
        orders.sort_values("event_timestamp"),
        stats.sort_values("event_timestamp"),
        on="event_timestamp",
        by="driver_id",
        tolerance=pd.Timedelta(hours=1),
    ).dropna()
    as_of = completion_probability(joined.conv_rate, joined.acc_rate, joined.avg_daily_trips)
    latest = (
        stats.sort_values("event_timestamp").groupby("driver_id").tail(1).set_index("driver_id")
    )
    stale = latest.loc[joined.driver_id]
    stale_p = completion_probability(stale.conv_rate, stale.acc_rate, stale.avg_daily_trips)
    assert roc_auc(joined.trip_completed, as_of) > 0.72
    assert roc_auc(joined.trip_completed, stale_p) < roc_auc(joined.trip_completed, as_of) - 0.15
    assert summary["true_probability_auc"] > 0.72
    assert summary["latest_value_auc"] < summary["true_probability_auc"] - 0.15


def test_probability_is_monotone_in_the_rates() -> None:
    grid = np.linspace(0, 1, 11)
    assert np.all(np.diff(completion_probability(grid, 0.7, 20)) > 0)
    assert np.all(np.diff(completion_probability(0.5, grid, 20)) > 0)
    assert np.all(np.diff(completion_probability(0.5, 0.7, np.arange(0, 50, 5))) < 0)


def test_roc_auc_matches_the_definition() -> None:
    assert roc_auc(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8])) == pytest.approx(0.75)


def test_default_output_goes_to_the_settings_paths(data_env: Path) -> None:
    from data_pipeline.settings import get_data_settings

    out = generate(end_time=END)
    assert out.driver_stats == get_data_settings().driver_stats_path
    assert out.driver_stats.is_file()
