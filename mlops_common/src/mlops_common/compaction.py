"""Compaction and retention of the partitioned datasets (`mlops_common.partitions`).

* `compact_partition`: a closed hour's small files (the online service flushes every few
  seconds: hundreds of files an hour) become one file, sorted by time. The compacted file is
  written to staging, renamed into the partition with the names of the files it holds in its
  metadata, and only then are those files deleted; readers leave out replaced files
  (`partitions.visible_files`), so a reader during a compaction sees each row exactly once.
  Running it again on a compacted partition does nothing; a crash between the rename and the
  deletions leaves the replaced files invisible, and the next run deletes them.
* `expire`: the day partitions older than a number of days are deleted (moved to the hidden
  staging folder first, so no reader lists a half-deleted day); never the current day's.
"""

from __future__ import annotations

import json
import logging
import shutil
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from mlops_common import partitions
from mlops_common.partitions import STAGING

logger = logging.getLogger(__name__)

# Row groups of the compacted file: big enough for fast scans, small enough that a time filter
# still skips most of an hour.
ROW_GROUP_ROWS = 64_000


@dataclass(frozen=True)
class Compaction:
    partition: str
    files_before: int
    rows: int


def compact_partition(partition: Path, sort_by: str | None = None) -> Compaction | None:
    """The visible files of PARTITION merged into one (sorted by SORT_BY when given); None when
    there was nothing to do (one visible file or none)."""
    files = partitions.visible_files(partition)
    leftovers = _replaced_leftovers(partition, files)
    if len(files) <= 1:
        for path in leftovers:  # a compaction that stopped after its rename
            path.unlink(missing_ok=True)
        return None
    # Files written before a column was added lack it: the union of the schemas keeps every
    # column (nulls where a file had none) instead of the first file's columns only.
    schema = pa.unify_schemas([pq.read_schema(path) for path in files])
    table = ds.dataset([str(f) for f in files], format="parquet", schema=schema).to_table()
    if sort_by is not None and sort_by in table.column_names:
        table = table.sort_by(sort_by)
    replaced = sorted(path.name for path in files) + sorted(path.name for path in leftovers)
    metadata = dict(table.schema.metadata or {})
    metadata[partitions.REPLACES] = json.dumps(replaced).encode()
    table = table.replace_schema_metadata(metadata)
    name = f"{partitions.COMPACTED_PREFIX}{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
    dataset_root = partition.parent.parent
    staged = dataset_root / STAGING / f"{name}.parquet"
    staged.parent.mkdir(parents=True, exist_ok=True)
    try:
        pq.write_table(table, staged, row_group_size=ROW_GROUP_ROWS)
        partitions.publish([(staged, partition / f"{name}.parquet")])
    finally:
        staged.unlink(missing_ok=True)
    for path in [*files, *leftovers]:
        path.unlink(missing_ok=True)
    logger.info("compacted %d files (%d rows) in %s", len(files), table.num_rows, partition)
    return Compaction(str(partition), len(files), table.num_rows)


def _replaced_leftovers(partition: Path, visible: list[Path]) -> list[Path]:
    """Files still in PARTITION that a compacted file there replaces (to delete)."""
    shown = {path.name for path in visible}
    return [path for path in sorted(partition.glob("*.parquet")) if path.name not in shown]


def compact(
    folder: Path, closed_before: datetime, sort_by: str | None = None, since: datetime | None = None
) -> list[Compaction]:
    """Compact every hour partition of FOLDER that ended by CLOSED_BEFORE (and started at or
    after SINCE, when given); the compactions done."""
    done = []
    for hour, path in partitions.hour_partitions(folder):
        if hour + partitions.HOUR > closed_before or (since is not None and hour < since):
            continue
        result = compact_partition(path, sort_by)
        if result is not None:
            done.append(result)
    return done


def expire(folder: Path, keep_from: date, now: datetime) -> list[str]:
    """Delete FOLDER's day partitions older than KEEP_FROM, never NOW's day; the days deleted."""
    today = partitions.hour_floor(now).date()
    deleted = []
    for day, path in partitions.day_partitions(folder):
        if day >= keep_from or day >= today:
            continue
        trash = folder / STAGING / f"expired-{path.name}-{uuid.uuid4().hex[:8]}"
        trash.parent.mkdir(parents=True, exist_ok=True)
        path.rename(trash)
        shutil.rmtree(trash, ignore_errors=True)
        deleted.append(day.isoformat())
    if deleted:
        logger.info("expired %d day(s) of %s: %s", len(deleted), folder, ", ".join(deleted))
    return deleted


def keep_from(now: datetime, days: float) -> date:
    """The oldest day a retention of DAYS keeps at NOW (the day NOW - DAYS falls in)."""
    return (partitions.hour_floor(now) - timedelta(days=days)).date()


def newest_hour(folder: Path) -> datetime | None:
    """The start of FOLDER's newest hour partition, None when it has none."""
    hours = partitions.hour_partitions(folder)
    return hours[-1][0] if hours else None
