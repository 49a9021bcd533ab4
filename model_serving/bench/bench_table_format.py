"""Table format bench: the loop's datasets as Hive-partitioned parquet with the project's own
staging and rename (`mlops_common.partitions`) against Delta Lake (`deltalake`, delta-rs).

The same prediction rows (PREDICTIONS_SCHEMA, partitioned by date and hour of the log time)
go through each, in one process, timed:

* write path: APPENDS appends of a flush as the online service writes them, at two sizes: a
  quiet service's five-second flush (250 rows: 50 requests x 5 candidates) and a loaded one's
  (50,000 rows: PREDICTION_LOG_FLUSH_ROWS requests x 5); median and p99 per append;
* compaction of one hour written as 720 small appends;
* read path: the monitor's read of the last hour of a history of HOURS hours (one file per
  hour, as compaction leaves it; Delta: one commit per hour), opening the table included.

Needs the `delta` dependency group: `uv sync --inexact --group delta` (`make bench_table_format`).

    .venv/bin/python model_serving/bench/bench_table_format.py [--hours 168] [--appends 200]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

END = datetime(2026, 12, 1, tzinfo=UTC)
RATE = 36_000  # requests an hour
CANDIDATES = 5


def predictions(rows: int, start: datetime, seconds: float, seed: int) -> pa.Table:
    from prediction_log import schema

    rng = np.random.default_rng(seed)
    first = np.datetime64(start.replace(tzinfo=None), "us")
    stamps = first + np.sort(rng.uniform(0, seconds * 1e6, rows)).astype("timedelta64[us]")
    return pa.table(
        {
            schema.REQUEST_ID: pa.array([f"{seed}-{i // CANDIDATES}" for i in range(rows)]),
            schema.DRIVER_ID: rng.integers(1001, 11001, rows),
            schema.LOGGED_AT: pa.array(stamps, pa.timestamp("us")).cast(pa.timestamp("us", "UTC")),
            schema.MODEL_NAME: pa.array(["driver_ranking"] * rows),
            schema.MODEL_VERSION: pa.array(["1"] * rows),
            schema.SCORE: rng.uniform(0, 1, rows),
            schema.RANK: pa.array(np.tile(np.arange(1, 6), rows // 5 + 1)[:rows], pa.int32()),
            schema.CHOSEN: pa.array(np.tile(np.arange(1, 6), rows // 5 + 1)[:rows] == 1),
            schema.SOURCE: pa.array(["online"] * rows),
            schema.CHALLENGER_VERSION: pa.nulls(rows, pa.string()),
            schema.CHALLENGER_SCORE: pa.nulls(rows, pa.float64()),
        },
        schema=schema.PREDICTIONS_SCHEMA,
    )


def with_partition_columns(table: pa.Table) -> pa.Table:
    """Delta partitions on columns of the data: date and hour of the log time."""
    times = table.column("log_timestamp")
    return table.append_column("date", pc.strftime(times, "%Y-%m-%d")).append_column(
        "hour", pc.strftime(times, "%H")
    )


class Hive:
    name = "hive parquet"

    def __init__(self, root: Path) -> None:
        self.root = root

    def append(self, table: pa.Table) -> None:
        from mlops_common import partitions

        partitions.append(table, self.root, "log_timestamp")

    def compact_hour(self, hour: datetime) -> None:
        from mlops_common import compaction, partitions

        compaction.compact_partition(partitions.partition_path(self.root, hour), "log_timestamp")

    def read_hour(self, start: datetime, end: datetime) -> int:
        from prediction_log.reader import read_predictions

        return read_predictions(self.root, start, end).num_rows


class Delta:
    name = "delta lake"

    def __init__(self, root: Path) -> None:
        self.root = root

    def append(self, table: pa.Table) -> None:
        from deltalake import write_deltalake

        write_deltalake(
            str(self.root),
            with_partition_columns(table),
            mode="append",
            partition_by=["date", "hour"],
        )

    def compact_hour(self, hour: datetime) -> None:
        from deltalake import DeltaTable

        DeltaTable(str(self.root)).optimize.compact(
            partition_filters=[("date", "=", f"{hour:%Y-%m-%d}"), ("hour", "=", f"{hour:%H}")]
        )

    def read_hour(self, start: datetime, end: datetime) -> int:
        import pyarrow.dataset as ds
        from deltalake import DeltaTable

        table = DeltaTable(str(self.root))
        dataset = table.to_pyarrow_dataset(
            file_pruning_predicate=[
                ("date", "=", f"{start:%Y-%m-%d}"),
                ("hour", "=", f"{start:%H}"),
            ]
        )
        stamp = pa.timestamp("us", tz="UTC")
        condition = (ds.field("log_timestamp") >= pa.scalar(start, stamp)) & (
            ds.field("log_timestamp") < pa.scalar(end, stamp)
        )
        return dataset.to_table(filter=condition).num_rows


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def bench(store_of: Callable[[str], Hive | Delta], hours: int, appends: int) -> None:
    """Write, compaction and read figures of one format (STORE_OF(name) gives a fresh table)."""
    for rows in (250, 50_000):
        store = store_of(f"write-{rows}")
        batches = [predictions(rows, END + timedelta(seconds=5 * i), 5, i) for i in range(appends)]
        times = sorted(timed(lambda b=b, s=store: s.append(b)) for b in batches)
        print(
            f"  append of {rows:>6,} rows: median {statistics.median(times) * 1e3:7.1f} ms"
            f"  p99 {times[int(len(times) * 0.99) - 1] * 1e3:7.1f} ms",
            flush=True,
        )
    store = store_of("compact")
    per_flush = RATE * CANDIDATES // 720
    for i in range(720):
        store.append(predictions(per_flush, END + timedelta(seconds=5 * i), 5, i))
    seconds = timed(lambda: store.compact_hour(END))
    print(f"  compaction of one hour (720 appends): {seconds:.2f} s", flush=True)
    store = store_of("read")
    for back in range(hours, 0, -1):
        store.append(predictions(RATE * CANDIDATES, END - timedelta(hours=back), 3600, back))
    start = END - timedelta(hours=1)
    reads = sorted(timed(lambda: store.read_hour(start, END)) for _ in range(5))
    print(
        f"  read of the last hour of {hours} h: median {statistics.median(reads):.3f} s "
        f"({store.read_hour(start, END):,} rows)",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=int, default=168, help="History for the read path.")
    parser.add_argument("--appends", type=int, default=200, help="Appends per write size.")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-table-format-"))
    try:
        for kind in (Hive, Delta):
            print(f"\n{kind.name}", flush=True)
            bench(lambda name, k=kind: k(tmp / f"{k.__name__}-{name}"), args.hours, args.appends)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
