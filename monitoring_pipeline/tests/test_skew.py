"""The skew comparison on its own (no services): what counts as differing, as missing on either
side, the tolerance, float32 values, and a sample that a re-run draws again."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
from monitoring_pipeline.skew import compare, measure_skew, window_seed

FEATURES = ["conv_rate", "avg_daily_trips"]


def test_each_kind_of_skew_is_counted_per_feature() -> None:
    nan = np.nan
    served = pd.DataFrame(
        {
            # equal, equal as float32, beyond the tolerance, missing served, missing offline,
            # missing on both sides (a driver without statistics anywhere: not skew)
            "conv_rate": np.array([0.5, 0.1, 0.30, nan, 0.7, nan], dtype="float32"),
            "avg_daily_trips": [10.0, 11.0, 12.0, nan, 14.0, nan],
        }
    )
    offline = pd.DataFrame(
        {
            "conv_rate": [0.5, 0.1, 0.31, 0.2, nan, nan],  # float64 from another reader
            "avg_daily_trips": [10.0, 11.0, 13.0, 13.0, nan, nan],
        }
    )
    figures = compare(served, offline, FEATURES, tolerance=1e-6)
    conv = figures["conv_rate"]
    assert conv.differing == pytest.approx(1 / 6)
    assert conv.missing_served == pytest.approx(1 / 6)
    assert conv.missing_offline == pytest.approx(1 / 6)
    assert conv.any == pytest.approx(3 / 6)
    trips = figures["avg_daily_trips"]
    assert trips.differing == pytest.approx(1 / 6)
    assert trips.any == pytest.approx(3 / 6)
    # A looser tolerance forgives 0.30 vs 0.31 but not a missing value.
    loose = compare(served, offline, FEATURES, tolerance=0.05)["conv_rate"]
    assert loose.differing == 0.0
    assert loose.any == pytest.approx(2 / 6)


def test_nothing_to_measure_gives_no_figures() -> None:
    empty = pd.DataFrame(columns=["driver_id", "log_timestamp", *FEATURES])
    assert measure_skew(empty, FEATURES, sample_rows=10, tolerance=0, gate=0.05, seed=1) is None
    one = pd.DataFrame(
        {
            "driver_id": [1],
            "log_timestamp": [pd.Timestamp.now(tz="UTC")],
            **{key: [1.0] for key in FEATURES},
        }
    )
    assert measure_skew(one, FEATURES, sample_rows=0, tolerance=0, gate=0.05, seed=1) is None


def test_a_window_samples_the_same_rows_every_run() -> None:
    start = datetime(2026, 12, 4, 10, tzinfo=UTC)
    served = pd.DataFrame({"driver_id": range(10_000)})
    first = served.sample(n=100, random_state=window_seed(start))
    again = served.sample(n=100, random_state=window_seed(start))
    later = served.sample(n=100, random_state=window_seed(start.replace(hour=11)))
    assert first.index.tolist() == again.index.tolist()
    assert first.index.tolist() != later.index.tolist()
