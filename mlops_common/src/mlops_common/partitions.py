"""The loop's datasets as Hive-partitioned parquet: `<dataset>/date=YYYY-MM-DD/hour=HH/*.parquet`.

The prediction log's two datasets, the outcomes and the labelled dispatches are each a folder
partitioned by the hour of one timestamp column (log time, outcome time, request time). pyarrow
(`partitioning="hive"`), DuckDB (`read_parquet('<dataset>/**/*.parquet', hive_partitioning =
true)`), Spark (`spark.read.parquet(<dataset>)`) and Feast's file source read such a folder as
it is; the partition folders only add `date` and `hour` columns, which no dataset has.

Why not a table format: Delta Lake (`deltalake`) was measured against this layout (see
model_serving/BENCHMARKS.md) and gives what is below for free, but Feast's feature logging
writes plain parquet files into its destination folder: files written there are invisible to a
Delta table, so the feature log could no longer be written by Feast (`PREDICTION_LOG_WRITER=feast`)
nor stay Feast's logging destination. Hence the few rules here, written by hand:

* **Atomic appends**: a writer writes each file under the dataset's hidden `.staging` folder
  and renames it into its partition once complete (`stage` + `publish`); readers, DuckDB globs
  and Spark skip hidden folders.
* **Compaction without a reader seeing a row twice or missing one** (`mlops_common.compaction`):
  a compacted file lists, in its parquet metadata (`REPLACES`), the files it holds; it is renamed
  into the partition first, the files it replaces are deleted after. `visible_files` leaves out
  every file a compacted file of its partition replaces, so at every moment each row is in
  exactly one visible file; a reader whose file vanished between listing and opening (deleted
  by a compaction) lists again (`read_window`).
* **Partition pruning**: `window_partitions` lists only the hour folders a time range touches,
  so a reader opens no file outside its window whatever the history.

External readers (DuckDB, Spark, Feast) do not know `REPLACES`: during the instant between a
compacted file's rename and the deletion of its sources they may count those rows twice.
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

logger = logging.getLogger(__name__)

HOUR = timedelta(hours=1)
COMPACTED_PREFIX = "compacted-"
# Parquet key-value metadata of a compacted file: the JSON list of the file names it replaces.
REPLACES = b"prediction_log.replaces"
# A reader retries this often when files vanish under it (a compaction deleting its sources).
READ_ATTEMPTS = 5

# Files in flight: writers stage them here and rename them into place once complete; pyarrow
# datasets, DuckDB globs of `*.parquet`, Spark and Feast's file source skip hidden folders.
STAGING = ".staging"

T = TypeVar("T")


def hour_floor(moment: datetime) -> datetime:
    """The start of MOMENT's hour, in UTC."""
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def partition_path(folder: Path, hour: datetime) -> Path:
    """The partition folder of the hour starting at HOUR."""
    return folder / f"date={hour:%Y-%m-%d}" / f"hour={hour:%H}"


def partition_hour(partition: Path) -> datetime | None:
    """The start of the hour a partition folder holds; None for a folder of another shape."""
    try:
        day = date.fromisoformat(partition.parent.name.removeprefix("date="))
        hour = int(partition.name.removeprefix("hour="))
    except ValueError:
        return None
    if not partition.parent.name.startswith("date=") or not 0 <= hour < 24:
        return None
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def day_partitions(folder: Path) -> list[tuple[date, Path]]:
    """The `date=` folders of FOLDER with their day, oldest first."""
    found = []
    if folder.is_dir():
        for path in folder.glob("date=*"):
            try:
                found.append((date.fromisoformat(path.name.removeprefix("date=")), path))
            except ValueError:
                continue
    return sorted(found)


def hour_partitions(folder: Path) -> list[tuple[datetime, Path]]:
    """Every hour partition of FOLDER with its start, oldest first."""
    found = []
    for _, day in day_partitions(folder):
        for path in day.glob("hour=*"):
            hour = partition_hour(path)
            if hour is not None:
                found.append((hour, path))
    return sorted(found)


def window_partitions(
    folder: Path, start: datetime | None = None, end: datetime | None = None
) -> list[Path]:
    """The existing hour partitions that can hold a time in [START, END) (open bounds: all).

    With both bounds it looks only at the folders of the hours in the range, so its cost does
    not grow with the history."""
    if start is None or end is None:
        first = None if start is None else hour_floor(start)
        return [
            path
            for hour, path in hour_partitions(folder)
            if (first is None or hour >= first) and (end is None or hour < end)
        ]
    found = []
    hour = hour_floor(start)
    while hour < end:
        path = partition_path(folder, hour)
        if path.is_dir():
            found.append(path)
        hour += HOUR
    return found


def replaced_by(path: Path) -> list[str]:
    """The file names the compacted file PATH replaces (its `REPLACES` metadata)."""
    metadata = pq.read_schema(path).metadata or {}
    return list(json.loads(metadata.get(REPLACES, b"[]")))


def visible_files(partition: Path) -> list[Path]:
    """The partition's complete data files, less those a compacted file there replaces."""
    files = sorted(partition.glob("*.parquet"))
    replaced: set[str] = set()
    for path in files:
        if path.name.startswith(COMPACTED_PREFIX):
            replaced.update(replaced_by(path))
    return [path for path in files if path.name not in replaced]


def dataset_files(
    folder: Path, start: datetime | None = None, end: datetime | None = None
) -> list[Path]:
    """The visible data files of the partitions that [START, END) touches."""
    return [path for part in window_partitions(folder, start, end) for path in visible_files(part)]


def read_window(
    folder: Path,
    start: datetime | None,
    end: datetime | None,
    read: Callable[[list[Path]], T],
) -> T:
    """READ applied to the files of [START, END) (`dataset_files`); listed and read again when a
    file vanished in between (a compaction replaced it), so the rows are each read once."""
    for attempt in range(READ_ATTEMPTS):
        try:
            return read(dataset_files(folder, start, end))
        except FileNotFoundError:
            if attempt == READ_ATTEMPTS - 1:
                raise
            logger.debug("a file of %s vanished while reading (compaction); reading again", folder)
            time.sleep(0.01 * (attempt + 1))
    raise AssertionError("unreachable")


def split_by_hour(table: pa.Table, column: str) -> list[tuple[datetime, pa.Table]]:
    """TABLE's rows grouped by the hour of COLUMN (a UTC timestamp), in time order."""
    if table.num_rows == 0:
        return []
    times = table.column(column)
    bounds = pc.min_max(times).as_py()
    first = hour_floor(bounds["min"])
    if hour_floor(bounds["max"]) == first:  # the common case, on the service's write path
        return [(first, table)]
    hours = pc.floor_temporal(times, unit="hour")
    starts = pc.unique(hours).to_pylist()
    return [
        (hour_floor(start), table.filter(pc.equal(hours, pa.scalar(start, hours.type))))
        for start in sorted(starts)
    ]


Staged = list[tuple[Path, Path]]  # (staged file, where it goes)


def stage(
    table: pa.Table,
    folder: Path,
    column: str,
    name: str,
    write: Callable[[pa.Table, Path], None] | None = None,
) -> Staged:
    """TABLE written under FOLDER's staging folder, one file per hour of COLUMN named NAME;
    the pairs to `publish`. WRITE(table, path) writes a file (default: `pq.write_table`)."""
    writer = write or (lambda part, path: pq.write_table(part, path))
    staging = folder / STAGING
    staging.mkdir(parents=True, exist_ok=True)
    staged: Staged = []
    try:
        for hour, part in split_by_hour(table, column):
            path = staging / f"{hour:%Y%m%d%H}-{name}.parquet"
            writer(part, path)
            staged.append((path, partition_path(folder, hour) / f"{name}.parquet"))
    except BaseException:
        discard(staged)
        raise
    return staged


def publish(staged: Iterable[tuple[Path, Path]]) -> list[Path]:
    """Rename staged files into their partitions (each appears whole); where they went."""
    placed = []
    for path, target in staged:
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, target)
        placed.append(target)
    return placed


def discard(staged: Iterable[tuple[Path, Path]]) -> None:
    """Remove staged files that will not be published."""
    for path, _ in staged:
        path.unlink(missing_ok=True)


def remove_other_hours(folder: Path, pattern: str, placed: list[Path]) -> None:
    """Delete the files matching PATTERN (a file name glob) in FOLDER's partitions other than
    PLACED: what a re-run that landed in other hours (a later log time) replaces. Run after the
    new files are in place, so the rows are never missing (for an instant they may be twice)."""
    keep = set(placed)
    for path in folder.glob(f"date=*/hour=*/{pattern}"):
        if path not in keep:
            path.unlink(missing_ok=True)


def append(table: pa.Table, folder: Path, column: str, name: str | None = None) -> list[Path]:
    """TABLE appended to the dataset FOLDER, partitioned by the hour of COLUMN: one file per hour
    named NAME (a re-run with the same NAME replaces its files, in whichever hours they are),
    else a fresh name."""
    staged = stage(table, folder, column, name or uuid.uuid4().hex)
    try:
        placed = publish(staged)
    finally:
        discard(staged)
    if name is not None:
        remove_other_hours(folder, f"{name}.parquet", placed)
    return placed
