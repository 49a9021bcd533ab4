"""maintain-datasets: closed hours compacted to one file, a re-run does nothing more, old days
deleted per dataset, never the current day nor labelled dispatches in training's window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from mlops_common import partitions

NOW = datetime(2026, 12, 10, 10, 5, tzinfo=UTC)  # 5 minutes into hour 10


def _rows(column: str, at: datetime, n: int = 3) -> pa.Table:
    return pa.table(
        {
            "request_id": [f"{at:%d%H%M}-{i}" for i in range(n)],
            column: pa.array([at] * n, pa.timestamp("us", tz="UTC")),
        }
    )


@pytest.fixture
def history(project_env: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """Each dataset: two small files in each of the last 10 days' hour 12 (labels: only up to
    four days ago) and in the hours 8, 9 and 10 of today."""
    from data_pipeline.maintain import datasets
    from mlops_common.settings import reset_settings_cache

    monkeypatch.setenv("PREDICTION_LOG_RETENTION_DAYS", "3")
    monkeypatch.setenv("PREDICTION_LOG_OUTCOMES_RETENTION_DAYS", "5")
    monkeypatch.setenv("LABELS_RETENTION_DAYS", "1")
    monkeypatch.setenv("TRAIN_WINDOW_DAYS", "3")
    reset_settings_cache()
    folders = {}
    for dataset in datasets():
        folders[dataset.name] = dataset.folder
        newest = 4 if dataset.name == "labelled_dispatches" else 1
        hours = [NOW.replace(hour=12, minute=0) - timedelta(days=d) for d in range(newest, 11)]
        if dataset.name != "labelled_dispatches":
            hours += [NOW.replace(hour=h, minute=0) for h in (8, 9, 10)]
        for hour in hours:
            for minute in (1, 2):
                at = hour + timedelta(minutes=minute)
                partitions.append(
                    _rows(dataset.time_column, at), dataset.folder, dataset.time_column
                )
    return folders


def _days(folder: Path) -> list[str]:
    return [day.isoformat() for day, _ in partitions.day_partitions(folder)]


def _files_per_hour(folder: Path) -> dict[str, int]:
    return {
        f"{hour:%m-%d %H}": len(list(path.glob("*.parquet")))
        for hour, path in partitions.hour_partitions(folder)
    }


def test_compacts_closed_hours_and_keeps_what_retention_and_training_need(
    history: dict[str, Path],
) -> None:
    from data_pipeline.maintain import maintain_datasets

    before = {
        name: sorted(partitions.read_window(f, None, None, _ids)) for name, f in history.items()
    }
    results = {r.dataset: r for r in maintain_datasets("m-1", NOW)}

    # The log keeps 3 days back from now (Dec 7 on), the outcomes 5 (Dec 5 on).
    assert _days(history["predictions"]) == ["2026-12-07", "2026-12-08", "2026-12-09", "2026-12-10"]
    assert _days(history["features"]) == _days(history["predictions"])
    assert _days(history["outcomes"])[0] == "2026-12-05"
    # Labelled dispatches: LABELS_RETENTION_DAYS=1 would keep nothing here, but training's
    # window (3 days) before the newest labelled dispatch (Dec 6) reaches back to Dec 3.
    assert _days(history["labelled_dispatches"]) == [
        "2026-12-03",
        "2026-12-04",
        "2026-12-05",
        "2026-12-06",
    ]
    assert results["labelled_dispatches"].expired_days == ["2026-11-30", "2026-12-01", "2026-12-02"]

    # Hour 8 ended over ten minutes ago: one file. Hour 9 ended five minutes ago and hour 10 is
    # the current one: untouched.
    files = _files_per_hour(history["predictions"])
    assert (files["12-10 08"], files["12-10 09"], files["12-10 10"]) == (1, 2, 2)
    assert files["12-09 12"] == 1
    for name, folder in history.items():
        kept = sorted(partitions.read_window(folder, None, None, _ids))
        assert set(kept) <= set(before[name])
        assert len(kept) == len(set(kept))  # no row twice
    today = partitions.dataset_files(history["predictions"], NOW.replace(hour=0, minute=0), NOW)
    assert len(_ids(today)) == 18  # all of today's rows, once

    # Again at the same time: nothing more to do. An hour later, hour 9 is compacted too.
    again = maintain_datasets("m-2", NOW)
    assert all(r.compacted_hours == 0 and not r.expired_days for r in again)
    later = {r.dataset: r for r in maintain_datasets("m-3", NOW + timedelta(hours=1))}
    assert later["predictions"].compacted_hours == 1
    assert _files_per_hour(history["predictions"])["12-10 09"] == 1


def _ids(files: list[Path]) -> list[str]:
    import pyarrow.dataset as ds

    if not files:
        return []
    table = ds.dataset([str(f) for f in files], format="parquet").to_table(columns=["request_id"])
    return table.column("request_id").to_pylist()


def test_the_command_prints_one_line_per_dataset(history: dict[str, Path]) -> None:
    from data_pipeline.cli import app
    from typer.testing import CliRunner

    result = CliRunner().invoke(
        app, ["maintain-datasets", "--run-id", "m", "--now", NOW.isoformat()]
    )
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if " hour(s) compacted (" in line]
    assert [line.split(":")[0] for line in lines] == [
        "features",
        "predictions",
        "outcomes",
        "labelled_dispatches",
    ]
