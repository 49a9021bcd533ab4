"""The sorted engine's search (`feature_store.point_in_time`) against Feast's rule row by row,
on every layout of its search key. The engines' equality with Feast's own join on real
registries is tested where they are used: `model_serving/tests/batch/test_point_in_time.py`
(request files) and `training_pipeline/tests/integration/test_extract_engines.py` (orders)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from feature_store.layout import ViewSource
from feature_store.point_in_time import _latest_rows


def _naive_rows(stats: pd.DataFrame, ids: np.ndarray, times: np.ndarray, ttl: int) -> list:
    """Per request: the row index Feast's rule picks (latest event time, then created), or None."""
    picked = []
    for driver, at in zip(ids, times, strict=True):
        rows = stats[(stats.driver_id == driver) & (stats.ts <= at) & (stats.ts + ttl >= at)]
        rows = rows.sort_values(["ts", "created"], kind="stable")
        picked.append(None if rows.empty else int(rows.index[-1]))
    return picked


@pytest.mark.parametrize(
    ("id_scale", "time_scale", "time_offset", "expected_path"),
    [
        (1, 1, 0, "dense ids"),
        (10**17, 1, 0, "sparse ids: index among distinct ids"),
        # 8 distinct ids x a stride of ~1e18 us: even ranks do not fit the key
        (10**13, 5 * 10**15, 0, "overflow"),
        # a narrow range, but times near int64's end: the partial sums could wrap
        (1, 1, 3 * 10**18, "overflow"),
    ],
)
def test_sorted_search_key_layouts(
    id_scale: int, time_scale: int, time_offset: int, expected_path: str
) -> None:
    """The search key is slot * time stride + time: dense ids use id - min(id), ids too
    sparse for that use their rank, and a key that would not fit int64 (or times beyond
    +-73,000 years) hands over to DuckDB. Unordered rows, event-time ties, unknown ids and
    ttl edges, against the rule row by row."""
    rng = np.random.default_rng(3)
    n, m, ttl = 400, 300, 50 * time_scale
    stats = pd.DataFrame(
        {
            "driver_id": rng.integers(1, 9, n) * id_scale,
            # few distinct times: many ties
            "ts": time_offset + rng.integers(0, 200, n) * time_scale,
            "created": rng.permutation(n),
        }
    )
    ids = rng.integers(0, 11, m) * id_scale  # 0, 9 and 10: ids without rows
    times = time_offset + rng.integers(-10, 260, m) * time_scale
    source = ViewSource(
        name="v",
        path=Path("unused"),
        timestamp_field="ts",
        created_field="created",
        ttl=timedelta(microseconds=ttl),
        join_keys={"driver_id": "driver_id"},
        features=(),
    )
    table = pa.table(
        {
            "driver_id": pa.array(stats.driver_id, pa.int64()),
            "ts": pa.array(stats.ts, pa.int64()).cast(pa.timestamp("us", tz="UTC")),
            "created": pa.array(stats.created, pa.int64()).cast(pa.timestamp("us", tz="UTC")),
        }
    )
    found = _latest_rows(table, source, ids.astype(np.int64), times.astype(np.int64))
    if expected_path == "overflow":
        assert found is None
        return
    assert found is not None
    assert found.to_pylist() == _naive_rows(stats, ids, times, ttl)
    assert 0 < found.null_count < m


@pytest.mark.parametrize(
    ("columns", "fragment"),
    [
        (["driver_id", "event_timestamp", "conv_rate"], "'conv_rate' collides with a feature"),
        (["driver_id", "event_timestamp", "has_features"], "'has_features' collides with a column"),
        (["driver_id", "event_timestamp", "rn"], "'rn' collides with a column the point-in-time"),
        (["driver_id", "event_timestamp", "__row"], "the join's own names"),
        (["driver_id", "event_timestamp", "driver_id_y"], "Feast's renamed columns"),
        (["driver_id", "event_timestamp", "driver_id"], "'driver_id' occurs twice"),
    ],
)
def test_entity_columns_that_would_break_the_join_are_refused(
    columns: list[str], fragment: str
) -> None:
    from feature_store.point_in_time import check_entity_columns
    from mlops_common.errors import UserError

    with pytest.raises(UserError, match=fragment):
        check_entity_columns(columns, ["conv_rate"], "orders file o.parquet")
    check_entity_columns(["driver_id", "event_timestamp", "trip_completed"], ["conv_rate"])
