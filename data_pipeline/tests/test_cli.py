"""The CLI: user mistakes exit with code 2 and one `Error:` line naming problem and fix
(log records, if any, go to stderr too; no traceback)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from data_pipeline.cli import app
from typer.testing import CliRunner


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """The CLI callback points logging at CliRunner's stream, closed after each call."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["generate", "--end-time", "yesterday"], "--end-time 'yesterday' is not an ISO-8601"),
        (["validate", "--run-id", "never-ingested"], "failed validation, nothing was published"),
        (
            ["materialize", "--end-time", "2026-11-20T12:00:00Z", "--engine", "flink"],
            "--engine 'flink' is not known",
        ),
        (
            ["materialize", "--end-time", "2026-11-20T12:00:00Z", "--engine", "spark"],
            "set FEAST_OFFLINE_STORE=spark",
        ),
        (["materialize", "--end-time", "2026-11-20T12:00:00Z"], "run feast-apply first"),
    ],
)
def test_user_errors_exit_2_with_one_line(data_env: Path, args: list[str], says: str) -> None:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, result.stderr
    assert says in errors[0]


def test_generate_prints_the_written_paths(data_env: Path) -> None:
    out = data_env / "out"
    result = CliRunner().invoke(
        app,
        [
            "generate",
            "--n-drivers",
            "6",
            "--days",
            "1",
            "--n-orders",
            "20",
            "--n-batch-requests",
            "5",
            "--end-time",
            "2026-11-20T12:00:00+00:00",
            "--output-dir",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.split() == [
        str(out / name)
        for name in (
            "driver_stats.parquet",
            "orders.parquet",
            "batch_requests.parquet",
            "generation_summary.json",
        )
    ]
