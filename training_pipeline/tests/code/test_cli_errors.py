"""A user-fixable problem ends the command with exit code 2 and one `Error: ...` line."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from mlops_common.settings import project_root

# Each case starts the real CLI (a fresh interpreter importing pandas, and more): seconds each.
pytestmark = pytest.mark.slow

CLI = project_root() / ".venv" / "bin" / "training-pipeline"


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CLI), *args], capture_output=True, text=True, timeout=300, check=False
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, result.stderr[-2000:]
    for fragment in fragments:
        assert fragment in errors[0]


def test_missing_orders_file(project_env: Path) -> None:
    result = run_cli("extract", "--run-id", "r1")
    assert_one_line_error(result, "orders.parquet not found", "data-pipeline generate")


def test_feature_repo_not_applied(small_data: Path) -> None:
    result = run_cli("extract", "--run-id", "r1")
    assert_one_line_error(result, "registry", "training-pipeline feast-apply")


@pytest.mark.parametrize(
    ("variable", "value", "fragment"),
    [
        ("TRAIN_TEST_SIZE", "1.5", "TRAIN_TEST_SIZE"),
        ("TRAIN_C", "lots", "TRAIN_C"),
    ],
)
def test_bad_configuration(
    project_env: Path, monkeypatch: pytest.MonkeyPatch, variable: str, value: str, fragment: str
) -> None:
    monkeypatch.setenv(variable, value)
    assert_one_line_error(
        run_cli("prepare", "--run-id", "r1"), "invalid training settings", fragment
    )


def test_a_step_run_before_its_input_exists_names_the_missing_step(project_env: Path) -> None:
    result = run_cli("train", "--run-id", "r1")
    assert_one_line_error(result, "train.parquet is missing", "training-pipeline prepare")
