"""The simulator's drift scenario and outcome files, against a real Redis and Feast registry
(the requests themselves run against the real service in `make demo_drift`)."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from data_pipeline.materialize import materialize
from data_pipeline.scenarios import ACC_SHIFT, CONV_SHIFT, TRIPS_SHIFT
from data_pipeline.simulate import (
    SimulationResult,
    _flush,
    apply_drift,
    latest_statistics,
)
from feature_store.apply import apply_repo
from feature_store.store import get_store
from mlops_common.errors import UserError
from mlops_common.paths import outcomes_dir
from prediction_log.outcomes import OUTCOME_SCHEMA

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_drift_is_published_and_served(published, redis_env) -> None:
    apply_repo()
    materialize(published.end)
    before = latest_statistics(published.driver_stats, published.end)
    assert len(before) > 0
    at = (published.end + timedelta(hours=1)).astimezone(published.end.tzinfo)
    rows_before = pq.read_metadata(published.driver_stats).num_rows

    after = apply_drift(published.driver_stats, at)

    assert pq.read_metadata(published.driver_stats).num_rows == rows_before + len(before)
    expected = np.clip(before["conv_rate"] + CONV_SHIFT, 0, 1)
    np.testing.assert_allclose(after["conv_rate"], expected.loc[after.index], rtol=1e-6)
    np.testing.assert_allclose(
        after["acc_rate"], np.clip(before["acc_rate"] + ACC_SHIFT, 0, 1).loc[after.index], rtol=1e-6
    )
    assert (after["avg_daily_trips"] == before["avg_daily_trips"] + TRIPS_SHIFT).all()
    # The online store serves the shifted statistics.
    store = get_store()
    ids = [int(i) for i in after.index[:10]]
    online = store.get_online_features(
        features=store.get_feature_service("driver_ranking"),
        entity_rows=[{"driver_id": i} for i in ids],
    ).to_dict()
    np.testing.assert_allclose(online["conv_rate"], after.loc[ids, "conv_rate"], rtol=1e-6)
    assert latest_statistics(published.driver_stats, at).equals(
        latest_statistics(published.driver_stats, at + timedelta(minutes=5))
    )


def test_no_statistics_within_the_ttl_is_a_clear_error(published) -> None:
    with pytest.raises(UserError, match="within the ttl"):
        latest_statistics(published.driver_stats, published.end + timedelta(days=30))


def test_outcomes_are_written_when_due(data_env) -> None:
    result = SimulationResult("sim-test", "stable")
    now = pd.Timestamp("2026-11-30T12:00:00Z")
    pending = [
        (10.0, {"request_id": "a", "driver_id": 1001, "outcome_timestamp": now,
                "trip_completed": 1}),
        (20.0, {"request_id": "b", "driver_id": 1002, "outcome_timestamp": now,
                "trip_completed": 0}),
    ]  # fmt: skip
    rest, part = _flush(pending, 15.0, "sim-test", 0, result)
    assert [row["request_id"] for _, row in rest] == ["b"]
    assert part == 1
    [written] = sorted(outcomes_dir().glob("*.parquet"))
    table = pq.read_table(written)
    assert table.schema == OUTCOME_SCHEMA
    assert table.column("request_id").to_pylist() == ["a"]
    rest, part = _flush(rest, 15.0, "sim-test", part, result, everything=True)
    assert rest == []
    assert (result.outcomes, result.completed) == (2, 1)
