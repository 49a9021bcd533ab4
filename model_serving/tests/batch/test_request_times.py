"""Request files a user can write: every timestamp form the README promises (naive = UTC, `Z`,
offsets, mixed in one file, far future, far past), in csv and parquet, tricky column names and
ids. Each engine equals an independent row-by-row join (`brute_force_join`) on every row, or
the file is refused with one `Error:` line naming the row and the value; never a silent shift
or cast."""

from __future__ import annotations

import csv
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from batch_scoring.extract import extract_features
from batch_scoring.requests import load_requests
from mlops_common.errors import UserError
from mlops_common.paths import run_dir
from model_serving.cli import app
from typer.testing import CliRunner

ENGINES = ["sorted", "duckdb", "feast"]
TTL = timedelta(days=2)  # the feature view's ttl (checked against the registry in `case`)
FEATURES = ["conv_rate", "acc_rate", "avg_daily_trips"]
DRIVERS = range(1001, 1011)
START = datetime(2026, 11, 1, tzinfo=UTC)
# Feature rows far from today for two drivers: requests there must find them (or not) exactly.
FAR = [datetime(1905, 3, 1, 12, tzinfo=UTC), datetime(2400, 6, 1, 12, tzinfo=UTC)]
OFFSETS = [timedelta(hours=h, minutes=m) for h, m in [(-12, 0), (-8, 0), (-3, -30), (0, 0)]]
OFFSETS += [timedelta(hours=h, minutes=m) for h, m in [(5, 45), (9, 0), (14, 0)]]
TTL_US = TTL // timedelta(microseconds=1)
# Columns that are not reserved: they must pass through every engine unchanged.
PASSENGERS = ["created", "note", "hourly", "_private", "y", "select", 'we"ird', "a b"]


def _stats(rng: random.Random) -> list[dict]:
    """Feature rows: hourly-ish with jitter and µs parts, event-time ties broken by created,
    a gap longer than ttl, and rows in 1905 and 2400."""
    rows = []
    for driver in DRIVERS:
        at = START + timedelta(minutes=rng.randrange(0, 600))
        for _ in range(rng.randrange(20, 40)):
            at += timedelta(minutes=rng.choice([0, 7, 60, 60, 60, 61, 3 * 24 * 60]))
            at += timedelta(microseconds=rng.choice([0, 0, rng.randrange(1, 10**6)]))
            rows.append(_stat(rng, driver, at))
        if driver in (1001, 1002):
            rows += [_stat(rng, driver, far + timedelta(hours=h)) for far in FAR for h in (0, 5)]
    return rows


def _stat(rng: random.Random, driver: int, at: datetime) -> dict:
    created = at + timedelta(seconds=rng.randrange(1, 900), microseconds=rng.randrange(10**6))
    return {
        "driver_id": driver,
        "ts": micros(at),
        "created": micros(created),
        "conv_rate": float(np.float32(rng.random())),
        "acc_rate": float(np.float32(rng.random())),
        "avg_daily_trips": rng.randrange(0, 40),
    }


def _instants(rng: random.Random, stats: list[dict], n: int) -> list[tuple[int, datetime]]:
    """(driver, instant) pairs probing the join: exactly at rows, a µs either side, exactly at
    ttl and a µs past it, between rows, unknown drivers, far past and future, midnights."""
    out = []
    us = timedelta(microseconds=1)
    for _ in range(n):
        row = rng.choice(stats)
        at = EPOCH_DT + timedelta(microseconds=row["ts"])
        at += rng.choice([timedelta(0), us, -us, TTL, TTL + us, -timedelta(hours=2)])
        at += rng.choice([timedelta(0), timedelta(0), timedelta(minutes=rng.randrange(-90, 90))])
        driver = row["driver_id"] if rng.random() < 0.9 else rng.choice([999, 5000, 1011])
        out.append((driver, at))
    out += [(1001, datetime(2026, 11, 3, tzinfo=UTC)), (1002, datetime(2026, 11, 2, tzinfo=UTC))]
    out += [
        (1001, datetime(1, 1, 1, tzinfo=UTC)),
        (1002, datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)),
    ]
    out += [(1001, datetime(2262, 4, 12, tzinfo=UTC)), (1002, datetime(1677, 9, 21, tzinfo=UTC))]
    return out


EPOCH_DT = datetime(1970, 1, 1, tzinfo=UTC)


def micros(moment: datetime) -> int:
    """Exact epoch microseconds of an aware datetime (integer arithmetic, no float)."""
    return (moment - EPOCH_DT) // timedelta(microseconds=1)


def _render(rng: random.Random, at: datetime) -> str:
    """One way a user may write AT, chosen at random among the accepted forms."""
    forms = ["naive", "naive space", "Z", "Z fraction 9"]
    extreme = at.year in (1, 9999)
    if not extreme:
        forms += ["offset", "offset basic", "offset space"]
    if at.second == 0 and at.microsecond == 0:
        forms.append("minutes Z")
    if at.time() == datetime.min.time():
        forms.append("date")
    form = rng.choice(forms)
    fraction = f".{at.microsecond:06d}" if at.microsecond else ""
    if form == "date":
        return at.strftime("%Y-%m-%d").rjust(10, "0")
    if form.startswith("offset"):
        offset = rng.choice(OFFSETS)
        local = at.astimezone(timezone(offset))
        sign = "-" if offset < timedelta(0) else "+"
        hours, rest = divmod(abs(offset), timedelta(hours=1))
        colon = "" if form == "offset basic" else ":"
        zone = f"{sign}{hours:02d}{colon}{rest // timedelta(minutes=1):02d}"
        sep = " " if form == "offset space" else "T"
        return f"{_date(local)}{sep}{local:%H:%M:%S}{fraction}{zone}"
    if form == "minutes Z":
        return f"{_date(at)}T{at:%H:%M}Z"
    if form == "Z fraction 9":
        return f"{_date(at)}T{at:%H:%M:%S}.{at.microsecond:06d}000Z"
    sep = " " if form == "naive space" else "T"
    return f"{_date(at)}{sep}{at:%H:%M:%S}{fraction}" + ("Z" if form == "Z" else "")


def _date(at: datetime) -> str:
    return f"{at.year:04d}-{at.month:02d}-{at.day:02d}"  # strftime drops zeros of year 1


def _write_csv(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    with path.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture
def case(project_env: Path, write_stats_rows: Callable[[list[dict], Path], None]) -> dict:
    """Generated feature rows applied as the offline store, and request rows over them."""
    from data_pipeline.settings import get_data_settings
    from feature_store.apply import apply_repo
    from feature_store.store import get_store

    rng = random.Random(19)
    stats = _stats(rng)
    write_stats_rows(stats, get_data_settings().driver_stats_path)
    apply_repo()
    assert get_store().get_feature_view("driver_stats").ttl == TTL
    instants = _instants(rng, stats, 600)
    texts = [_render(rng, at) for _, at in instants]
    return {"rng": rng, "stats": stats, "instants": instants, "texts": texts, "dir": project_env}


def _check_engine(path: Path, engine: str, case: dict, reference_join, extra: dict) -> int:
    """Run ENGINE on PATH; assert every row equals the reference; return the rows checked."""
    table = pq.read_table(extract_features(f"{engine}-{path.stem}", path, engine))
    expected = reference_join(
        case["stats"], [(d, micros(at)) for d, at in case["instants"]], TTL_US
    )
    got = table.to_pylist()
    assert len(got) == len(expected)
    with_features = 0
    for i, (row, want, (driver, at)) in enumerate(
        zip(got, expected, case["instants"], strict=True)
    ):
        assert row["driver_id"] == driver, i
        assert micros(row["event_timestamp"]) == micros(at), (i, case["texts"][i])
        for name, values in extra.items():
            assert row[name] == values[i], (i, name)
        if want is None:
            assert row["has_features"] is False, (i, case["texts"][i])
            assert all(row[f] is None for f in FEATURES), i
        else:
            with_features += 1
            assert row["has_features"] is True, (i, case["texts"][i])
            assert [row[f] for f in FEATURES] == [want[f] for f in FEATURES], (i, case["texts"][i])
    assert 0 < with_features < len(got)
    return len(got)


@pytest.mark.parametrize("engine", ENGINES)
def test_every_engine_equals_the_reference_on_mixed_request_files(
    case: dict, reference_join, engine: str
) -> None:
    """One csv with every form mixed row by row plus carried columns with tricky names; the
    same texts as a parquet string column; the same instants as a typed parquet column."""
    rng, instants, texts = case["rng"], case["instants"], case["texts"]
    assert len({t[-6:][0] for t in texts}) > 1  # forms really are mixed
    extra = {name: [f"{name}-{i}" for i in range(len(texts))] for name in PASSENGERS}
    header = ["driver_id", "event_timestamp", *PASSENGERS]
    rows = [
        [d, text, *(extra[n][i] for n in PASSENGERS)]
        for i, ((d, _), text) in enumerate(zip(instants, texts, strict=True))
    ]
    csv_path = _write_csv(case["dir"] / "mixed.csv", header, rows)
    strings = case["dir"] / "strings.parquet"
    pq.write_table(
        pa.table(
            {
                "driver_id": pa.array([d for d, _ in instants], pa.int64()),
                "event_timestamp": pa.array(texts),
                **{n: pa.array(v) for n, v in extra.items()},
            }
        ),
        strings,
    )
    typed = case["dir"] / "typed.parquet"
    pq.write_table(
        pa.table(
            {
                # uint32 ids: widened exactly
                "driver_id": pa.array([d for d, _ in instants], pa.uint32()),
                "event_timestamp": pa.array([micros(at) for _, at in instants], pa.int64()).cast(
                    pa.timestamp("us", tz="UTC")
                ),
            }
        ),
        typed,
    )
    checked = sum(
        _check_engine(path, engine, case, reference_join, extra if path != typed else {})
        for path in (csv_path, strings, typed)
    )
    assert checked == 3 * len(instants)
    del rng


def test_naive_rows_after_an_offset_row_stay_utc(project_env: Path, tmp_path: Path) -> None:
    """The issue's reproduction: a naive time below an offset one is UTC, not the offset's."""
    path = _write_csv(
        tmp_path / "r.csv",
        ["row_id", "driver_id", "event_timestamp"],
        [[0, 1002, "2026-11-05T10:00:00-08:00"], [1, 1001, "2026-11-05T10:00:00"]],
    )
    frame = load_requests(path, ["driver_id"])
    assert [micros(t.to_pydatetime()) for t in frame.event_timestamp] == [
        micros(datetime(2026, 11, 5, 18, tzinfo=UTC)),
        micros(datetime(2026, 11, 5, 10, tzinfo=UTC)),
    ]


def _extract(path: Path) -> tuple[int, str]:
    result = CliRunner().invoke(
        app, ["extract", "--run-id", "bad", "--requests", str(path)], catch_exceptions=False
    )
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, result.output
    assert not run_dir("model_serving", "bad").exists()
    return result.exit_code, errors[0]


BAD_TIMES = [
    "2026-11-05T10:00:00.1234567Z",  # finer than a microsecond
    "2026-13-01T00:00:00Z",
    "2026-02-30",
    "2026-11-05T25:00:00",
    "2026-11-05T10:00:00+24:00",
    "2026-11-05T10:00:00+05",  # hours-only offset: not among the accepted forms
    "10000-01-01T00:00:00Z",
    "0000-01-01T00:00:00",
    "0001-01-01T00:00:00+01:00",  # year 0 in UTC
    "yesterday",
    "1762329600",
    "2026/11/05 10:00",
    "2026-11-05T10:00:00 Z",
    "2026-11-05t10:00:00z",
]


@pytest.mark.parametrize("bad", BAD_TIMES)
def test_a_time_that_cannot_be_read_exactly_is_refused_in_one_line(case: dict, bad: str) -> None:
    rng, instants, texts = case["rng"], case["instants"], list(case["texts"])
    row = rng.randrange(len(texts))
    texts[row] = bad
    rows = [[d, t] for (d, _), t in zip(instants, texts, strict=True)]
    path = _write_csv(case["dir"] / "bad.csv", ["driver_id", "event_timestamp"], rows)
    code, line = _extract(path)
    assert code == 2
    assert str(path) in line
    assert "'event_timestamp'" in line
    assert f"{bad!r} (row {row + 1}," in line
    assert "accepted forms" in line


@pytest.mark.parametrize(
    ("column", "problem"),
    [
        (pa.array([1500, 10**18], pa.timestamp("ns", tz="UTC")), "finer than a microsecond"),
        (pa.array([0, 10**13], pa.timestamp("s")), "outside the years 0001-9999"),
        (pa.array([0, -(10**14)], pa.timestamp("ms", tz="UTC")), "outside the years 0001-9999"),
    ],
)
def test_typed_parquet_times_follow_the_same_rules(
    case: dict, column: pa.Array, problem: str
) -> None:
    path = case["dir"] / "typed_bad.parquet"
    pq.write_table(pa.table({"driver_id": pa.array([1001, 1002]), "event_timestamp": column}), path)
    code, line = _extract(path)
    assert code == 2
    assert problem in line
    assert "(row " in line


@pytest.mark.parametrize(
    ("ids", "shown"),
    [
        (pa.array([1001, 2**64 - 1], pa.uint64()), "18446744073709551615"),
        (pa.array([1001.0, 2.0**53 + 2]), "9007199254740994.0"),
        (pa.array([1001.0, 1001.5]), "1001.5"),
        (pa.array([True, False]), "True"),
        (pa.array(["1001", "9223372036854775808"]), "9223372036854775808"),
        (pa.array(["1001", "-9223372036854775809"]), "-9223372036854775809"),
        (pa.array(["1001", "1e3"]), "1e3"),
    ],
)
def test_ids_outside_int64_or_inexact_are_refused(case: dict, ids: pa.Array, shown: str) -> None:
    path = case["dir"] / "ids.parquet"
    times = pa.array(["2026-11-03T00:00:00Z"] * len(ids))
    pq.write_table(pa.table({"driver_id": ids, "event_timestamp": times}), path)
    code, line = _extract(path)
    assert code == 2
    assert "'driver_id'" in line
    assert shown in line


def test_exact_ids_are_read_without_a_cast_that_changes_them(tmp_path: Path) -> None:
    path = _write_csv(
        tmp_path / "ids.csv",
        ["driver_id", "event_timestamp"],
        [
            [" 1001", "2026-11-03"],
            ["+1002", "2026-11-03"],
            ["1003.0", "2026-11-03"],
            ["9223372036854775807", "2026-11-03"],
            ["-9223372036854775808", "2026-11-03"],
        ],
    )
    frame = load_requests(path, ["driver_id"])
    assert frame.driver_id.tolist() == [1001, 1002, 1003, 2**63 - 1, -(2**63)]
    assert str(frame.driver_id.dtype) == "int64"
    wide = tmp_path / "wide.parquet"
    pq.write_table(
        pa.table(
            {"driver_id": pa.array([2**63 - 1], pa.uint64()), "event_timestamp": ["2026-11-03"]}
        ),
        wide,
    )
    assert load_requests(wide, ["driver_id"]).driver_id.tolist() == [2**63 - 1]


RESERVED = [
    *FEATURES,
    "has_features",
    "prediction",
    "model_name",
    "model_version",
    "run_id",
    "__request_row",
    "__anything",
    "entity_row_id",
    "event_expire_timestamp",
    "rn",
    "driver_id_y",
    "event_timestamp_y",
    "created_y",
]


@pytest.mark.parametrize("column", RESERVED)
@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_colliding_column_is_refused_in_one_line(case: dict, column: str, suffix: str) -> None:
    path = case["dir"] / f"collide{suffix}"
    instants = case["instants"][:20]
    if suffix == ".csv":
        rows = [[d, t, "x"] for (d, _), t in zip(instants, case["texts"], strict=False)]
        _write_csv(path, ["driver_id", "event_timestamp", column], rows)
    else:
        pq.write_table(
            pa.table(
                {
                    "driver_id": [d for d, _ in instants],
                    "event_timestamp": case["texts"][:20],
                    column: ["x"] * 20,
                }
            ),
            path,
        )
    code, line = _extract(path)
    assert code == 2
    assert f"column {column!r} collides with" in line
    assert "rename it" in line


def test_a_repeated_csv_header_is_refused(case: dict) -> None:
    path = _write_csv(
        case["dir"] / "twice.csv",
        ["driver_id", "event_timestamp", "note", "note"],
        [[1001, "2026-11-03", "a", "b"]],
    )
    code, line = _extract(path)
    assert code == 2
    assert "column 'note' occurs twice" in line


@pytest.mark.parametrize("engine", ENGINES)
def test_engines_refuse_colliding_columns_from_library_callers(case: dict, engine: str) -> None:
    """Callers that build the request frame themselves get the same one-line refusal."""
    import pandas as pd
    from feature_store.layout import feature_service, service_sources
    from feature_store.point_in_time import join_duckdb, join_feast, join_sorted
    from feature_store.store import get_store

    store = get_store()
    service = feature_service(store, "driver_ranking")
    sources = service_sources(store, service)
    requests = pd.DataFrame(
        {
            "driver_id": [1001],
            "event_timestamp": pd.to_datetime(["2026-11-03"], utc=True),
            "conv_rate": [0.5],
        }
    )
    joins = {
        "sorted": lambda: join_sorted(requests, sources),
        "duckdb": lambda: join_duckdb(requests, sources),
        "feast": lambda: join_feast(requests, store, service, sources),
    }
    with pytest.raises(UserError, match="column 'conv_rate' collides with a feature"):
        joins[engine]()
