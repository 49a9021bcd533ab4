"""The hour-partitioned datasets: atomic appends split by hour, window-bounded listing, readers
that see each row exactly once while a compaction runs (threads and processes), retention that
spares the current day, and the layout read as it is by pyarrow and DuckDB."""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds
import pytest

from mlops_common import compaction, partitions

T0 = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
TIME = "log_timestamp"


def _batch(first: int, rows: int, at: datetime, step: timedelta = timedelta(seconds=1)) -> pa.Table:
    return pa.table(
        {
            "request_id": [f"r{first + i}" for i in range(rows)],
            TIME: pa.array([at + i * step for i in range(rows)], pa.timestamp("us", tz="UTC")),
        }
    )


def _ids(files: list[Path]) -> list[str]:
    if not files:
        return []
    table = ds.dataset([str(f) for f in files], format="parquet").to_table(columns=["request_id"])
    return table.column("request_id").to_pylist()


def _read_ids(folder: Path) -> list[str]:
    return partitions.read_window(folder, None, None, _ids)


def test_an_append_is_split_by_hour_and_a_rerun_replaces_its_files(tmp_path: Path) -> None:
    # 90 rows a minute apart from 00:30: 30 in hour 0, 60 in hour 1.
    table = _batch(0, 90, T0 + timedelta(minutes=30), timedelta(minutes=1))
    placed = partitions.append(table, tmp_path, TIME, "run-1")
    assert [str(p.relative_to(tmp_path)) for p in placed] == [
        "date=2026-12-01/hour=00/run-1.parquet",
        "date=2026-12-01/hour=01/run-1.parquet",
    ]
    partitions.append(table, tmp_path, TIME, "run-1")  # the same run again
    assert sorted(_read_ids(tmp_path)) == sorted(table.column("request_id").to_pylist())
    assert not [p for p in (tmp_path / partitions.STAGING).rglob("*") if p.is_file()]
    hour_one = partitions.dataset_files(tmp_path, T0 + timedelta(hours=1), T0 + timedelta(hours=2))
    assert len(_ids(hour_one)) == 60


def test_a_rerun_logged_in_another_hour_replaces_its_files_there(tmp_path: Path) -> None:
    partitions.append(_batch(0, 10, T0), tmp_path, TIME, "batch-run")
    partitions.append(_batch(100, 10, T0), tmp_path, TIME, "other-run")
    partitions.append(_batch(0, 10, T0 + timedelta(hours=5)), tmp_path, TIME, "batch-run")
    files = [p.relative_to(tmp_path).as_posix() for p in partitions.dataset_files(tmp_path)]
    assert files == [
        "date=2026-12-01/hour=00/other-run.parquet",
        "date=2026-12-01/hour=05/batch-run.parquet",
    ]


def test_a_window_lists_only_its_partitions_and_opens_no_other_file(tmp_path: Path) -> None:
    """Files outside the window are not parquet at all: a reader that opened one would fail."""
    for hour in range(48):
        partitions.append(_batch(hour * 10, 10, T0 + timedelta(hours=hour)), tmp_path, TIME)
    start, end = T0 + timedelta(hours=30), T0 + timedelta(hours=32)
    inside = partitions.dataset_files(tmp_path, start, end)
    assert {p.parent.relative_to(tmp_path).as_posix() for p in inside} == {
        "date=2026-12-02/hour=06",
        "date=2026-12-02/hour=07",
    }
    for path in tmp_path.rglob("*.parquet"):
        if path not in inside:
            path.write_bytes(b"not parquet: opened outside the window")
    assert sorted(partitions.read_window(tmp_path, start, end, _ids)) == sorted(
        f"r{i}" for i in range(300, 320)
    )


def _slow_swap(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fault injection: a pause after each rename (the compacted file's, before the deletion of
    the files it replaces), so the readers surely meet that state and the one after it."""
    publish = partitions.publish

    def publish_then_pause(staged: Any) -> list[Path]:
        placed = publish(staged)
        time.sleep(0.2)
        return placed

    monkeypatch.setattr(partitions, "publish", publish_then_pause)


def _compact_while_reading(folder: Path, reads: list[Counter[str]]) -> None:
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            reads.append(Counter(_read_ids(folder)))
            time.sleep(0.005)

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for thread in threads:
        thread.start()
    try:
        done = compaction.compact(folder, T0 + timedelta(hours=4), TIME)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert len(done) == 3


def _small_files(folder: Path) -> Counter[str]:
    """Three closed hours of 40 small files each, and the open hour's two."""
    ids: Counter[str] = Counter()
    n = 0
    for hour in range(3):
        for minute in range(40):
            table = _batch(n, 25, T0 + timedelta(hours=hour, minutes=minute))
            partitions.append(table, folder, TIME)
            ids.update(table.column("request_id").to_pylist())
            n += 25
    for minute in range(2):
        table = _batch(n, 25, T0 + timedelta(hours=4, minutes=minute))
        partitions.append(table, folder, TIME)
        ids.update(table.column("request_id").to_pylist())
        n += 25
    return ids


def test_readers_in_threads_see_each_row_once_during_compaction(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = _small_files(tmp_path)
    _slow_swap(monkeypatch)
    reads: list[Counter[str]] = []
    _compact_while_reading(tmp_path, reads)
    reads.append(Counter(_read_ids(tmp_path)))
    assert len(reads) > 3
    assert all(read == expected for read in reads)
    # One file per compacted hour; the open hour untouched; again: nothing to do.
    counts = [len(list(p.glob("*.parquet"))) for _, p in partitions.hour_partitions(tmp_path)]
    assert counts == [1, 1, 1, 2]
    assert compaction.compact(tmp_path, T0 + timedelta(hours=4), TIME) == []


def _read_in_a_process(folder: str, stop: Any, queue: multiprocessing.Queue) -> None:
    while not stop.is_set():
        queue.put(sorted(_read_ids(Path(folder))))
        time.sleep(0.005)
    queue.put(None)


def test_readers_in_processes_see_each_row_once_during_compaction(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = _small_files(tmp_path)
    _slow_swap(monkeypatch)
    context = multiprocessing.get_context("fork")  # the readers run this module's function
    queue: multiprocessing.Queue = context.Queue()
    stop = context.Event()
    processes = [
        context.Process(target=_read_in_a_process, args=(str(tmp_path), stop, queue))
        for _ in range(2)
    ]
    for process in processes:
        process.start()
    results = [queue.get(timeout=120) for _ in processes]  # both are reading
    compaction.compact(tmp_path, T0 + timedelta(hours=4), TIME)
    stop.set()
    finished = 0
    while finished < len(processes):
        ids = queue.get(timeout=120)
        if ids is None:
            finished += 1
        else:
            results.append(ids)
    for process in processes:
        process.join(timeout=60)
    assert len(results) > len(processes)
    assert all(Counter(ids) == expected for ids in results)


def test_a_compaction_that_stopped_after_its_rename_hides_and_then_deletes_the_old_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = _small_files(tmp_path)
    partition = partitions.partition_path(tmp_path, T0)
    monkeypatch.setattr(Path, "unlink", lambda self, missing_ok=False: None)  # crash: no delete
    compaction.compact_partition(partition, TIME)
    monkeypatch.undo()
    assert len(list(partition.glob("*.parquet"))) == 41  # 40 replaced files and the new one
    assert Counter(_read_ids(tmp_path)) == expected
    compaction.compact_partition(partition, TIME)  # the next run deletes the leftovers
    assert len(list(partition.glob("*.parquet"))) == 1
    assert Counter(_read_ids(tmp_path)) == expected


def test_a_late_file_after_compaction_is_read_and_compacted_again(tmp_path: Path) -> None:
    expected = _small_files(tmp_path)
    compaction.compact(tmp_path, T0 + timedelta(hours=1), TIME)
    late = _batch(10_000, 5, T0 + timedelta(minutes=59))
    partitions.append(late, tmp_path, TIME)
    expected.update(late.column("request_id").to_pylist())
    assert Counter(_read_ids(tmp_path)) == expected
    compaction.compact(tmp_path, T0 + timedelta(hours=1), TIME)
    assert len(list(partitions.partition_path(tmp_path, T0).glob("*.parquet"))) == 1
    assert Counter(_read_ids(tmp_path)) == expected


def test_compaction_keeps_a_column_added_after_the_first_files(tmp_path: Path) -> None:
    partitions.append(_batch(0, 5, T0), tmp_path, TIME, "a-old")
    newer = _batch(5, 5, T0 + timedelta(minutes=1)).append_column(
        "challenger_score", pa.array([0.5] * 5)
    )
    partitions.append(newer, tmp_path, TIME, "b-new")
    compaction.compact(tmp_path, T0 + timedelta(hours=1), TIME)
    [merged] = partitions.dataset_files(tmp_path)
    table = ds.dataset(str(merged), format="parquet").to_table()
    assert table.column("challenger_score").to_pylist() == [None] * 5 + [0.5] * 5


def test_retention_deletes_old_days_and_never_the_current_one(tmp_path: Path) -> None:
    for day in range(5):
        partitions.append(_batch(day * 10, 10, T0 + timedelta(days=day)), tmp_path, TIME)
    now = T0 + timedelta(days=4, minutes=5)
    assert compaction.expire(tmp_path, (T0 + timedelta(days=2)).date(), now) == [
        "2026-12-01",
        "2026-12-02",
    ]
    # Even asked to keep nothing, the current day stays.
    compaction.expire(tmp_path, (now + timedelta(days=30)).date(), now)
    assert [day.isoformat() for day, _ in partitions.day_partitions(tmp_path)] == ["2026-12-05"]


def test_pyarrow_and_duckdb_read_the_layout_as_it_is(tmp_path: Path) -> None:
    import duckdb

    partitions.append(
        _batch(0, 120, T0 + timedelta(minutes=30), timedelta(minutes=1)), tmp_path, TIME
    )
    hive = ds.dataset(str(tmp_path), format="parquet", partitioning="hive").to_table()
    assert hive.num_rows == 120
    assert sorted(set(hive.column("hour").to_pylist())) == [0, 1, 2]
    rows = duckdb.sql(
        f"select cast(hour as int) as h, count(*) from read_parquet('{tmp_path}/**/*.parquet', "
        "hive_partitioning = true) group by h order by h"
    ).fetchall()
    assert rows == [(0, 30), (1, 60), (2, 30)]


@pytest.mark.spark
@pytest.mark.slow
def test_spark_reads_the_layout_as_it_is(spark_session: Any, tmp_path: Path) -> None:
    table = _batch(0, 120, T0 + timedelta(minutes=30), timedelta(minutes=1))
    partitions.append(table, tmp_path, TIME)
    (tmp_path / partitions.STAGING / "in-flight.parquet").write_bytes(b"half a file")
    frame = spark_session.read.parquet(str(tmp_path))
    counts = {(row["hour"], row["count"]) for row in frame.groupBy("hour").count().collect()}
    assert counts == {(0, 30), (1, 60), (2, 30)}
