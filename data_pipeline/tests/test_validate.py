"""Validation names each failed check and a bad batch never replaces the offline store."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from data_pipeline.ingest import ingest
from data_pipeline.run_files import raw_dir
from data_pipeline.validate import validate_and_publish
from mlops_common.errors import UserError
from mlops_common.files import read_json


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def negative_trips(frame: pd.DataFrame) -> pd.DataFrame:
    frame.loc[[3, 8, 13], "avg_daily_trips"] = -4
    return frame


def rate_above_one(frame: pd.DataFrame) -> pd.DataFrame:
    frame.loc[[2, 4], "acc_rate"] = np.float32(1.25)
    return frame


def null_driver_id(frame: pd.DataFrame) -> pd.DataFrame:
    frame["driver_id"] = frame["driver_id"].astype("Int64")
    frame.loc[[0], "driver_id"] = pd.NA
    return frame


def naive_timestamps(frame: pd.DataFrame) -> pd.DataFrame:
    frame["event_timestamp"] = frame["event_timestamp"].dt.tz_localize(None)
    return frame


def duplicate_keys(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.concat([frame, frame.iloc[[1, 2]]], ignore_index=True)


@pytest.mark.parametrize(
    ("corrupt", "column", "check", "rows"),
    [
        (negative_trips, "avg_daily_trips", "greater_than_or_equal_to(0)", 3),
        (rate_above_one, "acc_rate", "in_range(0.0, 1.0)", 2),
        (null_driver_id, "driver_id", "not_nullable", 1),
        (naive_timestamps, "event_timestamp", "dtype('datetime64[ns, UTC]')", None),
        (duplicate_keys, "driver_id+event_timestamp", "unique key", 4),
    ],
)
def test_bad_batch_is_rejected_and_the_offline_store_kept(
    published,
    corrupt: Callable[[pd.DataFrame], pd.DataFrame],
    column: str,
    check: str,
    rows: int | None,
) -> None:
    before = {path: digest(path) for path in (published.driver_stats, published.orders)}
    run_id = "bad-run"
    ingest(run_id, published.end)
    raw = raw_dir(run_id) / published.driver_stats.name
    frame = corrupt(pd.read_parquet(raw))
    total = len(frame)
    frame.to_parquet(raw, index=False)

    with pytest.raises(UserError) as failure:
        validate_and_publish(run_id)

    message = failure.value.message
    expected_rows = total if rows is None else rows
    assert f"{column} {check}: {expected_rows} rows" in message
    assert "nothing was published" in message
    assert {path: digest(path) for path in before} == before
    report = read_json(raw.parent.parent / "validation_report.json")
    assert report["passed"] is False
    assert any(p["column"] == column and p["rows"] == expected_rows for p in report["problems"])


def test_good_batch_is_published(data_env: Path) -> None:
    from data_pipeline.settings import get_data_settings

    ingest("good-run", pd.Timestamp("2026-11-20T12:00:00Z").to_pydatetime())
    published = validate_and_publish("good-run")
    settings = get_data_settings()
    assert set(published.values()) == {
        settings.driver_stats_path,
        settings.orders_path,
        settings.batch_requests_path,
    }
    assert digest(settings.driver_stats_path) == digest(
        raw_dir("good-run") / settings.driver_stats_path.name
    )
    report = read_json(raw_dir("good-run").parent / "validation_report.json")
    assert report == {"run_id": "good-run", "passed": True, "problems": []}


def test_missing_batch_is_a_user_error(data_env: Path) -> None:
    with pytest.raises(UserError, match=re.escape("driver_stats.parquet: (file) missing at")):
        validate_and_publish("never-ingested")
