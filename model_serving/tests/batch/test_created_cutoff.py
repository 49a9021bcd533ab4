"""The `created` cutoff (`BATCH_CREATED_CUTOFF`): with it on, every engine ignores feature rows
created after the request time and equals the reference rule that also requires
`created <= request time` on every row; off, every engine keeps today's rule."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from batch_scoring.extract import extract_features
from mlops_common.settings import reset_settings_cache

ENGINES = ["sorted", "duckdb", "feast"]
FEATURES = ["conv_rate", "acc_rate", "avg_daily_trips"]
TTL = timedelta(days=2)  # the feature view's ttl (checked against the registry below)
TTL_US = TTL // timedelta(microseconds=1)
START = datetime(2026, 11, 1, tzinfo=UTC)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
HOUR_US = 3600 * 10**6


def micros(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(microseconds=1)


def _stats(rng: random.Random) -> list[dict]:
    """Hourly rows created a few minutes late, with backfills (a whole day of one driver
    created days later), corrections (same event time, created later), rows without created,
    and one driver whose 100 latest rows were all backfilled (longer than the sorted engine's
    step bound)."""
    rows = []
    for driver in range(1001, 1013):
        backfill_day = rng.randrange(0, 6)
        for hour in range(24 * 7):
            ts = micros(START) + hour * HOUR_US + rng.choice([0, 0, rng.randrange(1, 10**9)])
            created: int | None = ts + rng.randrange(10**6, 900 * 10**6)
            if hour // 24 == backfill_day:
                created = ts + rng.randrange(2, 4) * 24 * HOUR_US
            if rng.random() < 0.03:
                created = None
            rows.append(_stat(rng, driver, ts, created))
            if rng.random() < 0.1:  # a correction of the same hour, known hours later
                rows.append(_stat(rng, driver, ts, ts + rng.randrange(1, 30) * HOUR_US))
    late = micros(START + timedelta(days=8))
    for hour in range(100):  # driver 1013: a long run of rows created after the requests
        ts = micros(START) + hour * 10 * 60 * 10**6
        created = late if hour >= 3 else ts + 10**6
        rows.append(_stat(rng, 1013, ts, created))
    return rows


def _stat(rng: random.Random, driver: int, ts: int, created: int | None) -> dict:
    return {
        "driver_id": driver,
        "ts": ts,
        "created": created,
        "conv_rate": float(np.float32(rng.random())),
        "acc_rate": float(np.float32(rng.random())),
        "avg_daily_trips": rng.randrange(0, 40),
    }


def _requests(rng: random.Random, stats: list[dict], n: int) -> list[tuple[int, int]]:
    """Requests right after rows (before and after they were created), at created times
    exactly, inside backfilled days, and at random."""
    out = []
    for _ in range(n):
        row = rng.choice(stats)
        base = row["created"] if row["created"] is not None and rng.random() < 0.3 else row["ts"]
        at = base + rng.choice([0, 0, 1, -1, rng.randrange(0, 3 * HOUR_US), 3 * 24 * HOUR_US])
        out.append((row["driver_id"], at))
    out += [(1013, micros(START) + h * HOUR_US) for h in range(1, 17)]
    out += [(999, micros(START) + HOUR_US)]
    return out


@pytest.fixture
def case(project_env: Path, write_stats_rows: Callable[[list[dict], Path], None]) -> dict:
    from data_pipeline.settings import get_data_settings
    from feature_store.apply import apply_repo
    from feature_store.store import get_store

    rng = random.Random(1919)
    stats = _stats(rng)
    write_stats_rows(stats, get_data_settings().driver_stats_path)
    apply_repo()
    assert get_store().get_feature_view("driver_stats").ttl == TTL
    requests = _requests(rng, stats, 1500)
    path = project_env / "requests.parquet"
    pq.write_table(
        pa.table(
            {
                "driver_id": pa.array([d for d, _ in requests], pa.int64()),
                "event_timestamp": pa.array([t for _, t in requests], pa.int64()).cast(
                    pa.timestamp("us", tz="UTC")
                ),
            }
        ),
        path,
    )
    return {"stats": stats, "requests": requests, "path": path}


def _answers(case: dict, engine: str, run_id: str) -> list[list | None]:
    rows = pq.read_table(extract_features(run_id, case["path"], engine)).to_pylist()
    assert [(r["driver_id"], micros(r["event_timestamp"])) for r in rows] == case["requests"]
    return [[r[f] for f in FEATURES] if r["has_features"] else None for r in rows]


def _expected(rows: list[dict | None]) -> list[list | None]:
    return [None if row is None else [row[f] for f in FEATURES] for row in rows]


@pytest.mark.parametrize("engine", ENGINES)
def test_cutoff_on_every_engine_equals_the_reference_with_created_before_the_request(
    case: dict, reference_join, engine: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with_cutoff = _expected(reference_join(case["stats"], case["requests"], TTL_US, cutoff=True))
    without = _expected(reference_join(case["stats"], case["requests"], TTL_US))
    changed = sum(a != b for a, b in zip(with_cutoff, without, strict=True))
    assert changed > 100, "the case must make the cutoff matter"
    assert sum(a is None for a in with_cutoff) > sum(a is None for a in without)

    monkeypatch.setenv("BATCH_CREATED_CUTOFF", "true")
    reset_settings_cache()
    assert _answers(case, engine, f"cutoff-{engine}") == with_cutoff

    monkeypatch.setenv("BATCH_CREATED_CUTOFF", "false")
    reset_settings_cache()
    assert _answers(case, engine, f"no-cutoff-{engine}") == without


def test_sorted_engine_hands_a_long_step_back_to_duckdb(
    case: dict, reference_join, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Driver 1013's requests step back past up to 97 rows, beyond the bound: the sorted
    engine joins through DuckDB instead, with the same answers."""
    import feature_store.point_in_time as point_in_time

    assert point_in_time.CUTOFF_MAX_STEPS < 97
    monkeypatch.setenv("BATCH_CREATED_CUTOFF", "true")
    reset_settings_cache()
    with caplog.at_level("INFO", logger="feature_store.point_in_time"):
        answers = _answers(case, "sorted", "long-step-back")
    assert "using the duckdb engine" in caplog.text
    expected = reference_join(case["stats"], case["requests"], TTL_US, cutoff=True)
    assert answers == _expected(expected)
    # and with a bound large enough, the sorted search itself gives them
    monkeypatch.setattr(point_in_time, "CUTOFF_MAX_STEPS", 200)
    caplog.clear()
    with caplog.at_level("INFO", logger="feature_store.point_in_time"):
        assert _answers(case, "sorted", "long-step-back-sorted") == _expected(expected)
    assert "using the duckdb engine" not in caplog.text
