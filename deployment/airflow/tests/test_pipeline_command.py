"""Local-mode tasks: a user error (exit 2) fails at once, other failures stay retryable."""

from __future__ import annotations

import json
import subprocess

from mlops_common.settings import project_root

SCRIPT = """
import json
from airflow.sdk.exceptions import AirflowException, AirflowFailException
from mlops_airflow.pipeline_command import PipelineCommandOperator
outcomes = {}
for code in (0, 1, 2, 3):
    op = PipelineCommandOperator(task_id="t", bash_command=f"echo 'Error: bad'; exit {code}")
    try:
        op.execute({})
        outcomes[code] = "success"
    except AirflowFailException:
        outcomes[code] = "fail-without-retry"
    except AirflowException:
        outcomes[code] = "retryable"
print("OUTCOMES", json.dumps(outcomes))
"""


def test_exit_code_decides_whether_airflow_retries() -> None:
    result = subprocess.run(
        [str(project_root() / ".venv-airflow" / "bin" / "python"), "-c", SCRIPT],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith("OUTCOMES ")]
    assert lines, result.stdout[-2000:] + result.stderr[-2000:]
    assert json.loads(lines[0].removeprefix("OUTCOMES ")) == {
        "0": "success",
        "1": "retryable",
        "2": "fail-without-retry",
        "3": "retryable",
    }
