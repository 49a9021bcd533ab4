"""Bad request files fail the extract task with one message (file, column, example) and
write nothing; good csv and parquet files read the same."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from batch_scoring.requests import load_requests
from mlops_common.errors import UserError
from mlops_common.paths import run_dir
from model_serving.cli import app
from typer.testing import CliRunner


def _extract(requests: Path) -> tuple[int, str]:
    """Exit code and the one `Error: ...` line of `model-serving extract` (logs aside)."""
    result = CliRunner().invoke(
        app, ["extract", "--run-id", "bad", "--requests", str(requests)], catch_exceptions=False
    )
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error: ")]
    assert len(errors) <= 1, result.output
    return result.exit_code, errors[0] if errors else result.output


@pytest.mark.parametrize(
    ("name", "content", "column", "example"),
    [
        ("no_ts.csv", "driver_id\n1001\n", "event_timestamp", "found ['driver_id']"),
        (
            "bad_ts.csv",
            "driver_id,event_timestamp\n1001,2026-11-01T08:00:00Z\n1002,yesterday\n",
            "event_timestamp",
            "'yesterday' (row 2",
        ),
        (
            "text_id.csv",
            "driver_id,event_timestamp\nabc,2026-11-01T08:00:00Z\n",
            "driver_id",
            "'abc' (row 1",
        ),
        (
            "float_id.csv",
            "driver_id,event_timestamp\n1001,2026-11-01\n1001.5,2026-11-01\n",
            "driver_id",
            "'1001.5' (row 2",
        ),
        (
            "empty_id.csv",
            "driver_id,event_timestamp\n,2026-11-01T08:00:00Z\n",
            "driver_id",
            "missing values",
        ),
    ],
)
def test_bad_csv_fails_with_one_message_and_writes_nothing(
    feature_repo: Path, tmp_path: Path, name: str, content: str, column: str, example: str
) -> None:
    path = tmp_path / name
    path.write_text(content)
    code, output = _extract(path)
    assert code == 2
    assert output.startswith("Error: ")  # one line, no box
    assert str(path) in output
    assert repr(column) in output
    assert example in output
    assert not run_dir("model_serving", "bad").exists()


def test_unknown_format_is_refused(feature_repo: Path, tmp_path: Path) -> None:
    path = tmp_path / "requests.json"
    path.write_text("[]")
    code, output = _extract(path)
    assert code == 2
    assert "unknown format '.json'" in output
    assert not run_dir("model_serving", "bad").exists()


def test_wrong_column_type_in_parquet(feature_repo: Path, tmp_path: Path) -> None:
    path = tmp_path / "requests.parquet"
    pd.DataFrame({"driver_id": [1001], "event_timestamp": [3.5]}).to_parquet(path)
    code, output = _extract(path)
    assert code == 2
    assert "'event_timestamp' must hold timestamps" in output


def test_missing_file_names_the_fix(feature_repo: Path, tmp_path: Path) -> None:
    code, output = _extract(tmp_path / "nope.parquet")
    assert code == 2
    assert "does not exist" in output


def test_csv_and_parquet_read_the_same(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "driver_id": [1001, 1002],
            "event_timestamp": pd.to_datetime(["2026-11-01T08:00:00Z", "2026-11-01T09:30:00Z"]),
            "note": ["a", "b"],
        }
    )
    frame.to_parquet(tmp_path / "r.parquet")
    (tmp_path / "r.csv").write_text(
        "driver_id,event_timestamp,note\n1001,2026-11-01T08:00:00Z,a\n"
        "1002,2026-11-01 10:30:00+01:00,b\n"
    )
    from_parquet = load_requests(tmp_path / "r.parquet", ["driver_id"])
    from_csv = load_requests(tmp_path / "r.csv", ["driver_id"])
    pd.testing.assert_frame_equal(from_parquet, from_csv)
    assert str(from_csv.event_timestamp.dtype) == "datetime64[us, UTC]"


def test_naive_times_are_utc(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text("driver_id,event_timestamp\n1001,2026-11-01T08:00:00\n")
    frame = load_requests(path, ["driver_id"])
    assert frame.event_timestamp[0] == pd.Timestamp("2026-11-01T08:00:00Z")


def test_user_error_is_raised_for_library_callers(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text("id,event_timestamp\n1,2026-11-01\n")
    with pytest.raises(UserError, match="column 'driver_id' is missing"):
        load_requests(path, ["driver_id"])
