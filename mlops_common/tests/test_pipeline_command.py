"""Local-mode tasks: a user error (exit 2) fails at once, other failures stay retryable."""

from __future__ import annotations

import subprocess

import pytest

from mlops_common.settings import project_root

SCRIPT = """
import sys
from airflow.sdk.exceptions import AirflowException, AirflowFailException
from mlops_common.pipeline_command import PipelineCommandOperator
op = PipelineCommandOperator(task_id="t", bash_command="echo 'Error: bad'; exit " + sys.argv[1])
try:
    op.execute({})
    outcome = "success"
except AirflowFailException:
    outcome = "fail-without-retry"
except AirflowException:
    outcome = "retryable"
print("OUTCOME", outcome)
"""


@pytest.mark.parametrize(
    ("exit_code", "outcome"),
    [(0, "success"), (1, "retryable"), (2, "fail-without-retry"), (3, "retryable")],
)
def test_exit_code_decides_whether_airflow_retries(exit_code: int, outcome: str) -> None:
    result = subprocess.run(
        [str(project_root() / ".venv-airflow" / "bin" / "python"), "-c", SCRIPT, str(exit_code)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert f"OUTCOME {outcome}" in result.stdout, result.stdout[-2000:] + result.stderr[-2000:]
