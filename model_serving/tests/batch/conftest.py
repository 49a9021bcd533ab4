"""Fixtures for the batch tests: a tiny offline store with every point-in-time edge case."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from mlops_common.settings import reset_settings_cache
from mlops_testing import (
    ChampionModel,
    MlflowServer,
    prefer_installed_package,
    register_tiny_champion,
)

prefer_installed_package("model_serving")

T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
TTL = timedelta(days=2)  # the feature view's ttl; the tests check it against the registry
H = timedelta(hours=1)


def _row(driver: int, ts: datetime, conv: float, created: datetime | None = None) -> dict:
    return {
        "driver_id": driver,
        "event_timestamp": ts,
        "created": created or ts + timedelta(minutes=5),
        "conv_rate": conv,
        "acc_rate": 1 - conv,
        "avg_daily_trips": int(conv * 100),
    }


def driver_stats() -> pd.DataFrame:
    """Hourly stats with edge cases: a tie on event time broken by `created`, a single old
    record (ttl edges), a driver whose records start late, rows out of order."""
    rows = [_row(1001, T0 + i * H, 0.10 + i / 100) for i in range(6)]
    # Same event time as the 2h row, created later: Feast picks it (created is the tie breaker).
    rows.append(_row(1001, T0 + 2 * H, 0.77, created=T0 + 2 * H + timedelta(minutes=30)))
    rows.append(_row(1002, T0, 0.50))
    rows += [_row(1003, T0 + 24 * H + i * H, 0.30 + i / 100) for i in range(3)]
    rows += [_row(d, T0 + i * H, (d % 7) / 10 + i / 1000) for d in (1004, 1005) for i in range(48)]
    frame = pd.DataFrame(rows).sample(frac=1.0, random_state=3)  # order must not matter
    frame["conv_rate"] = frame["conv_rate"].astype("float32")
    frame["acc_rate"] = frame["acc_rate"].astype("float32")
    return frame.reset_index(drop=True)


def edge_requests() -> pd.DataFrame:
    """Request rows, each probing one rule of the point-in-time join."""
    rows = [
        (1001, T0 - H),  # before the driver's first record -> no features
        (1001, T0),  # exactly at a record (inclusive)
        (1001, T0 + 2 * H),  # tie on event time -> the later created row
        (1001, T0 + 2 * H + timedelta(minutes=30)),
        (1001, T0 + 3 * H),  # duplicate request
        (1001, T0 + 3 * H),
        (1002, T0 + TTL),  # exactly at ttl (inclusive) -> features
        (1002, T0 + TTL + timedelta(seconds=1)),  # past ttl -> no features
        (1003, T0 + 12 * H),  # before its first record, others have records -> none
        (1003, T0 + 30 * H),
        (9999, T0 + H),  # unknown driver -> no features
        (1005, T0 + 47 * H + timedelta(microseconds=1)),
    ]
    rows += [(1004 + i % 2, T0 + i * timedelta(minutes=37)) for i in range(60)]
    return pd.DataFrame(rows, columns=["driver_id", "event_timestamp"])


@pytest.fixture
def feature_repo(project_env: Path) -> Path:
    """The real feature repo applied to a registry in tmp, over the edge-case stats file."""
    from data_pipeline.settings import get_data_settings
    from feature_store.apply import apply_repo

    stats_path = get_data_settings().driver_stats_path
    stats_path.parent.mkdir(parents=True, exist_ok=True)
    driver_stats().to_parquet(stats_path, index=False)
    apply_repo()
    return stats_path


@pytest.fixture
def requests_file(feature_repo: Path) -> Path:
    """The edge requests as the default batch request file (parquet)."""
    from data_pipeline.settings import get_data_settings

    path = get_data_settings().batch_requests_path
    edge_requests().to_parquet(path, index=False)
    return path


@pytest.fixture
def stats_frame() -> pd.DataFrame:
    return driver_stats()


@pytest.fixture
def requests_frame() -> pd.DataFrame:
    return edge_requests()


# --- an independent reference for generated cases (test_request_times, test_created_cutoff) ---
def brute_force_join(
    stats: list[dict], requests: list[tuple[int, int]], ttl_us: int, cutoff: bool = False
) -> list[dict | None]:
    """Feast's rule in plain Python, one request at a time over every feature row: the row
    with the greatest (event time, created) such that event time <= t <= event time + ttl and,
    with the CUTOFF, created <= t (a row without created is never known). Times in µs."""
    answers: list[dict | None] = []
    for driver, at in requests:
        best = None
        for row in stats:
            if row["driver_id"] != driver or not row["ts"] <= at <= row["ts"] + ttl_us:
                continue
            if cutoff and (row["created"] is None or row["created"] > at):
                continue
            rank = (row["ts"], -(2**63) if row["created"] is None else row["created"])
            if best is None or rank > best[0]:
                best = (rank, row)
        answers.append(None if best is None else best[1])
    return answers


@pytest.fixture
def reference_join():
    return brute_force_join


def _write_stats_rows(rows: list[dict], path: Path) -> None:
    stamp = pa.timestamp("us", tz="UTC")
    table = pa.table(
        {
            "driver_id": pa.array([r["driver_id"] for r in rows], pa.int64()),
            "event_timestamp": pa.array([r["ts"] for r in rows], pa.int64()).cast(stamp),
            "created": pa.array([r["created"] for r in rows], pa.int64()).cast(stamp),
            "conv_rate": pa.array([r["conv_rate"] for r in rows], pa.float32()),
            "acc_rate": pa.array([r["acc_rate"] for r in rows], pa.float32()),
            "avg_daily_trips": pa.array([r["avg_daily_trips"] for r in rows], pa.int64()),
        }
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)


@pytest.fixture
def write_stats_rows() -> Callable[[list[dict], Path], None]:
    """Writes feature rows (`ts` and `created` in microseconds since the epoch, None allowed)
    as the offline store file at a path."""
    return _write_stats_rows


def _random_stats(rng: np.random.Generator, n: int) -> pd.DataFrame:
    start = pd.Timestamp("2026-10-01", tz="UTC")
    return pd.DataFrame(
        {
            "driver_id": rng.integers(1001, 1041, n),
            # whole hours, so that event-time ties are frequent (broken by `created`)
            "event_timestamp": start + pd.to_timedelta(rng.integers(0, 24 * 9, n), unit="h"),
            "conv_rate": rng.random(n).astype("float32"),
            "acc_rate": rng.random(n).astype("float32"),
            "avg_daily_trips": rng.integers(0, 40, n),
        }
    )


@pytest.fixture
def random_stats() -> Callable[[np.random.Generator, int], pd.DataFrame]:
    """N random hourly feature rows of 40 drivers over 9 days from 2026-10-01 (no `created`)."""
    return _random_stats


@pytest.fixture
def model_name(mlflow_env: MlflowServer, monkeypatch: pytest.MonkeyPatch) -> str:
    """A registered-model name of this test's own on the shared tracking server."""
    name = f"driver_ranking_{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("MLFLOW_MODEL_NAME", name)
    reset_settings_cache()
    return name


@pytest.fixture
def champion(model_name: str, mlflow_env: MlflowServer) -> ChampionModel:
    """The tiny champion, registered under this test's own model name."""
    return register_tiny_champion(mlflow_env.uri, model_name)
