"""collect-labels: served dispatches with outcomes become training rows, once each; late,
duplicate, unknown and mismatched outcomes are counted; a malformed outcome file writes nothing.
Runs on a real Feast registry (the prediction log is written in Feast's logging schema)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from mlops_common.errors import UserError
from mlops_common.partitions import dataset_files, partition_hour, partition_path
from mlops_common.paths import labelled_dispatches_dir, outcomes_dir, scores_log_dir
from mlops_testing.files import opened_parquet_files, plant_unreadable_history

pytestmark = pytest.mark.integration

FEATURES = ("conv_rate", "acc_rate", "avg_daily_trips")
END = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
SERVED_AT = END - timedelta(hours=2)
# request -> (chosen driver, the other candidate)
REQUESTS = {"r1": (1001, 1011), "r2": (1002, 1012), "r3": (1003, 1013), "r4": (1004, 1014)}


@pytest.fixture
def served(project_env: Path) -> None:
    """Four answered requests in the prediction log, two candidates each, the first chosen."""
    from feature_store.apply import apply_repo
    from feature_store.store import get_store
    from prediction_log.writer import LogBatch, PredictionLogWriter

    apply_repo()
    ids = [(rid, driver) for rid, pair in REQUESTS.items() for driver in pair]
    n = len(ids)
    stamp = np.datetime64(SERVED_AT.replace(tzinfo=None), "us")
    batch = LogBatch(
        feature_names=FEATURES,
        request_id=np.array([rid for rid, _ in ids], dtype=object),
        logged_at=np.array([stamp + np.timedelta64(i, "s") for i in range(n)]),
        driver_id=np.array([driver for _, driver in ids], dtype=np.int64),
        values=np.array([[0.5, 0.25, float(driver % 100)] for _, driver in ids]),
        found=np.ones(n, dtype=bool),
        score=np.array([0.9, 0.1] * (n // 2)),
        rank=np.array([1, 2] * (n // 2), dtype=np.int32),
        chosen=np.array([True, False] * (n // 2)),
        model_name=np.array(["driver_ranking"] * n, dtype=object),
        model_version=np.array(["3"] * n, dtype=object),
        source="online",
    )
    PredictionLogWriter(get_store(), "driver_ranking", scores_log_dir()).write(batch)


def write_outcomes(name: str, rows: list[tuple[str, int, datetime, int]]) -> list[Path]:
    from prediction_log.outcomes import write_outcomes as write

    frame = pd.DataFrame(
        rows, columns=["request_id", "driver_id", "outcome_timestamp", "trip_completed"]
    )
    return write(pa.Table.from_pandas(frame, preserve_index=False), outcomes_dir(), name)


def labelled() -> pd.DataFrame:
    files = dataset_files(labelled_dispatches_dir())
    return pd.concat([pd.read_parquet(f) for f in files]) if files else pd.DataFrame()


@pytest.mark.usefixtures("served")
def test_labels_once_each_and_counts_what_is_not_joined() -> None:
    from data_pipeline.labels import collect_labels

    soon = SERVED_AT + timedelta(minutes=5)
    write_outcomes(
        "a",
        [
            ("r1", 1001, soon, 1),
            ("r1", 1001, soon + timedelta(minutes=1), 0),  # a duplicate: the first counts
            ("r2", 1999, soon, 1),  # names another driver than the chosen one
            # after the window's end + grace (1 h), within the hour after it that a run reads
            ("r3", 1003, END + timedelta(hours=1, minutes=45), 1),
            ("r4", 1004, soon, 0),
            ("nobody-asked", 1005, soon, 1),  # a request the log never saw
        ],
    )
    report = collect_labels("run-1", END)
    counts = report.counts
    assert (counts.joined, counts.duplicates, counts.late) == (2, 1, 1)
    assert (counts.unknown_request, counts.driver_mismatch) == (1, 1)
    assert report.written == 2
    rows = labelled().set_index("request_id")
    assert sorted(rows.index) == ["r1", "r4"]
    assert rows.loc["r1", "trip_completed"] == 1  # the earliest outcome, not the duplicate
    assert rows.loc["r4", "driver_id"] == 1004
    assert rows.loc["r4", "avg_daily_trips"] == 4.0  # the features as served
    assert set(rows["source"]) == {"served"}
    assert set(rows["model_version"]) == {"3"}
    assert (rows["event_timestamp"] < END).all()

    # The same run again replaces its own file; a later run adds nothing twice.
    assert collect_labels("run-1", END).written == 2
    again = collect_labels("run-2", END + timedelta(minutes=30))
    assert again.written == 0
    assert again.already_labelled == 2
    assert len(labelled()) == 2
    assert [p.name for p in dataset_files(labelled_dispatches_dir())] == ["run-1.parquet"]

    # A late outcome that now falls inside a later window's grace is labelled then, once.
    later = collect_labels("run-3", END + timedelta(hours=2))
    assert later.written == 1
    assert sorted(labelled()["request_id"]) == ["r1", "r3", "r4"]


@pytest.mark.usefixtures("served")
@pytest.mark.parametrize(
    ("rows", "problem"),
    [
        ([("r1", 1001, SERVED_AT, 2)], "trip_completed holds"),
        ([("r1", 1001, SERVED_AT, None)], "empty values"),
    ],
)
def test_a_malformed_outcome_file_is_named_and_nothing_is_written(rows: list, problem: str) -> None:
    from data_pipeline.labels import collect_labels

    write_outcomes("good", [("r4", 1004, SERVED_AT + timedelta(minutes=5), 1)])
    [bad] = write_outcomes("bad", rows)
    with pytest.raises(UserError, match=problem) as raised:
        collect_labels("run-1", END)
    assert str(bad) in str(raised.value)
    assert not labelled_dispatches_dir().exists() or not any(labelled_dispatches_dir().iterdir())


def test_the_command_names_the_bad_file_in_one_line(project_env: Path) -> None:
    import subprocess
    import sys

    partition = partition_path(outcomes_dir(), SERVED_AT)
    partition.mkdir(parents=True)
    (partition / "broken.parquet").write_bytes(b"not parquet")
    cli = Path(sys.executable).parent / "data-pipeline"
    done = subprocess.run(
        [str(cli), "collect-labels", "--run-id", "x", "--end-time", END.isoformat()],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 2
    assert "broken.parquet is not readable parquet" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.usefixtures("served")
def test_a_run_opens_only_the_partitions_of_its_window(monkeypatch: pytest.MonkeyPatch) -> None:
    """A week of history before the window and a day after it: the run opens none of it. Those
    files are not even parquet, so a reader that opened one would fail."""
    from data_pipeline.labels import collect_labels
    from mlops_common.paths import feature_log_dir

    write_outcomes("a", [("r1", 1001, SERVED_AT + timedelta(minutes=5), 1)])
    folders = [scores_log_dir(), feature_log_dir(), outcomes_dir(), labelled_dispatches_dir()]
    elsewhere = [END - timedelta(hours=50 + h) for h in range(7 * 24)]
    elsewhere += [END + timedelta(hours=3 + h) for h in range(24)]
    plant_unreadable_history(folders, elsewhere)

    opened = opened_parquet_files(monkeypatch)
    report = collect_labels("run-1", END)
    assert report.written == 1
    assert opened
    # Label window [END - 24 h, END); outcomes up to END + grace (1 h) + 1 h; known request ids
    # from one window plus the grace period before the window.
    earliest = END - timedelta(hours=24 + 24 + 1)
    for path in opened:
        hour = partition_hour(path.parent)
        assert hour is not None, path
        assert earliest <= hour < END + timedelta(hours=2), path
        assert path.name != "elsewhere.parquet"
