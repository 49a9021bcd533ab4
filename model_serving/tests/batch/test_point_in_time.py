"""The batch extract with the fast point-in-time engines of `feature_store.point_in_time` (sorted
search, DuckDB ASOF) against Feast's offline store and a naive row-by-row join (the sorted
search's key layouts: `data_pipeline/tests/test_point_in_time.py`)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from batch_scoring.extract import extract_features

FEATURES = ["conv_rate", "acc_rate", "avg_daily_trips"]


def naive_join(stats: pd.DataFrame, requests: pd.DataFrame, ttl: timedelta) -> pd.DataFrame:
    """Feast's documented rule, row by row: the latest (event_timestamp, created) at or before
    the request time and no older than ttl (both ends inclusive); nothing otherwise."""
    rows = []
    for driver, at in zip(requests.driver_id, requests.event_timestamp, strict=True):
        candidates = stats[
            (stats.driver_id == driver)
            & (stats.event_timestamp <= at)
            & (stats.event_timestamp + ttl >= at)
        ].sort_values(["event_timestamp", "created"])
        if candidates.empty:
            rows.append(dict.fromkeys(FEATURES, np.nan))
        else:
            rows.append(candidates.iloc[-1][FEATURES].to_dict())
    return pd.DataFrame(rows, columns=FEATURES).astype("float64")


def _features(run_id: str, engine: str) -> pd.DataFrame:
    return pq.read_table(extract_features(run_id, engine=engine)).to_pandas()


def test_definitions_are_read_from_the_registry(feature_repo: Path) -> None:
    from feature_store.layout import feature_service, service_sources
    from feature_store.store import get_store

    store = get_store()
    [source] = service_sources(store, feature_service(store, "driver_ranking"))
    view = store.get_feature_view("driver_stats")
    assert source.path == feature_repo
    assert source.ttl == view.ttl == timedelta(days=2)
    assert source.created_field == "created"
    assert source.join_keys == {"driver_id": "driver_id"}
    assert [f.name for f in source.features] == FEATURES


FAST_ENGINES = ["sorted", "duckdb"]


@pytest.mark.parametrize("engine", FAST_ENGINES)
def test_fast_engine_equals_feast_on_edge_rows(
    requests_file: Path, requests_frame: pd.DataFrame, engine: str
) -> None:
    fast = _features("fast", engine)
    reference = _features("reference", "feast")
    pd.testing.assert_frame_equal(fast, reference)
    assert list(fast.columns) == ["driver_id", "event_timestamp", *FEATURES, "has_features"]
    assert len(fast) == len(requests_frame)  # nothing dropped, request order kept
    assert (fast.driver_id.to_numpy() == requests_frame.driver_id.to_numpy()).all()
    has = fast.has_features.tolist()
    assert has[0] is False  # before the driver's first record
    assert has[1] is True  # exactly at a record
    assert fast.conv_rate[2] == pytest.approx(0.77)  # event-time tie: later `created` wins
    assert fast.conv_rate[3] == pytest.approx(0.77)
    assert fast.iloc[4].equals(fast.iloc[5])  # duplicate requests, same answer
    assert has[6] is True  # exactly at ttl
    assert has[7] is False  # one second past ttl
    assert has[8] is False  # before this driver's first record
    assert has[10] is False  # unknown driver
    assert fast[~fast.has_features][FEATURES].isna().all().all()


@pytest.mark.parametrize("engine", FAST_ENGINES)
def test_fast_engine_equals_a_naive_join(
    requests_file: Path, stats_frame: pd.DataFrame, requests_frame: pd.DataFrame, engine: str
) -> None:
    fast = _features("fast", engine)
    expected = naive_join(stats_frame, requests_frame, timedelta(days=2))
    pd.testing.assert_frame_equal(fast[FEATURES].astype("float64"), expected, check_exact=True)


def test_rerun_gives_byte_identical_output(requests_file: Path) -> None:
    first = extract_features("same-run").read_bytes()
    second = extract_features("same-run").read_bytes()
    assert first == second


@pytest.mark.slow
def test_fast_engines_equal_feast_on_random_data(
    project_env: Path, random_stats: Callable[[np.random.Generator, int], pd.DataFrame]
) -> None:
    """Many drivers, duplicate event times, unordered rows, requests all over the window."""
    from data_pipeline.settings import get_data_settings
    from feature_store.apply import apply_repo

    rng = np.random.default_rng(7)
    n = 6000
    start = pd.Timestamp("2026-10-01", tz="UTC")
    stats = random_stats(rng, n)
    stats["created"] = stats.event_timestamp + pd.to_timedelta(rng.permutation(n), unit="s")
    # Ordered like the generator writes it: the sorted engine's no-sort path (the edge-case
    # file is shuffled and takes the other one).
    stats = stats.sort_values(["driver_id", "event_timestamp", "created"], ignore_index=True)
    settings = get_data_settings()
    settings.driver_stats_path.parent.mkdir(parents=True, exist_ok=True)
    stats.to_parquet(settings.driver_stats_path, index=False)
    m = 3000
    requests = pd.DataFrame(
        {
            "driver_id": rng.integers(1000, 1043, m),
            "event_timestamp": start
            + pd.to_timedelta(rng.integers(-3600, 3600 * 24 * 12, m), unit="s"),
        }
    )
    requests.to_csv(settings.batch_requests_path.with_suffix(".csv"), index=False)
    requests.to_parquet(settings.batch_requests_path, index=False)
    apply_repo()
    fast = _features("fast", "sorted")
    pd.testing.assert_frame_equal(fast, _features("reference", "feast"))
    pd.testing.assert_frame_equal(fast, _features("asof", "duckdb"))
    assert 0 < fast.has_features.sum() < m
    sample = rng.choice(m, 300, replace=False)
    expected = naive_join(stats, requests.iloc[sample], timedelta(days=2))
    pd.testing.assert_frame_equal(
        fast.iloc[sample][FEATURES].astype("float64").reset_index(drop=True), expected
    )
    from_csv = pq.read_table(
        extract_features("csv", settings.batch_requests_path.with_suffix(".csv"))
    ).to_pandas()
    pd.testing.assert_frame_equal(fast, from_csv)
