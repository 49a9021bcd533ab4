"""The labelled orders go through the same point-in-time join as batch requests, so their ids
and times are read by the same exact rules (`feature_store.entity_rows`)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from mlops_common.errors import UserError
from training_pipeline.extract import read_orders


def _orders(path: Path, ids: pa.Array, times: pa.Array) -> Path:
    pq.write_table(
        pa.table({"driver_id": ids, "event_timestamp": times, "trip_completed": [1] * len(ids)}),
        path,
    )
    return path


def test_mixed_naive_and_offset_times_are_each_read_as_written(tmp_path: Path) -> None:
    path = _orders(
        tmp_path / "orders.parquet",
        pa.array([1002, 1001]),
        pa.array(["2026-11-05T10:00:00-08:00", "2026-11-05T10:00:00"]),
    )
    orders = read_orders(path)
    assert orders.event_timestamp.tolist() == [
        pd.Timestamp("2026-11-05T18:00:00Z"),
        pd.Timestamp("2026-11-05T10:00:00Z"),  # naive: UTC, not the offset above it
    ]
    assert str(orders.event_timestamp.dtype) == "datetime64[us, UTC]"


@pytest.mark.parametrize(
    ("ids", "times", "fragment"),
    [
        (pa.array([2**64 - 1], pa.uint64()), pa.array(["2026-11-05"]), "ids outside int64"),
        (pa.array([1001]), pa.array([1500], pa.timestamp("ns")), "finer than a microsecond"),
        (pa.array([1001]), pa.array(["2026-11-05T10:00:00+05"]), "'2026-11-05T10:00:00+05'"),
    ],
)
def test_an_inexact_order_is_refused_naming_the_file_and_row(
    tmp_path: Path, ids: pa.Array, times: pa.Array, fragment: str
) -> None:
    path = _orders(tmp_path / "orders.parquet", ids, times)
    with pytest.raises(UserError, match="row 1") as caught:
        read_orders(path)
    assert f"orders file {path}" in str(caught.value)
    assert fragment in str(caught.value)
