"""Templates shared by every DAG render the same way for scheduled and API-triggered runs."""

from __future__ import annotations

import os
import subprocess
from datetime import UTC, datetime
from types import SimpleNamespace

import jinja2
import pytest
from mlops_airflow.orchestration import RUN_TIME
from mlops_common.settings import project_root

# Airflow renders task templates with StrictUndefined: a missing name is an error, not "".
ENV = jinja2.Environment(undefined=jinja2.StrictUndefined)
DUE = datetime(2026, 3, 4, 5, 0, tzinfo=UTC)


def test_run_time_is_the_logical_date_of_a_scheduled_run() -> None:
    logical = datetime(2026, 3, 4, 4, 0, tzinfo=UTC)
    rendered = ENV.from_string(RUN_TIME).render(
        logical_date=logical, dag_run=SimpleNamespace(run_after=DUE)
    )
    assert rendered == "2026-03-04T04:00:00+00:00"


@pytest.mark.parametrize("context", [{}, {"logical_date": None}], ids=["absent", "null"])
def test_run_time_falls_back_to_run_after_without_a_logical_date(context: dict) -> None:
    rendered = ENV.from_string(RUN_TIME).render(**context, dag_run=SimpleNamespace(run_after=DUE))
    assert rendered == "2026-03-04T05:00:00+00:00"


QUOTING = """
from mlops_airflow.orchestration import pipeline_task
try:
    pipeline_task("model_serving", "t", ["x", "{{ params.p or '' }}"])
    print("ACCEPTED")
except ValueError as error:
    print("REFUSED", error)
"""


def test_single_quotes_in_a_template_argument_are_refused_at_parse_time() -> None:
    # DAG parsing happens in Airflow's environment, not in this one.
    result = subprocess.run(
        [str(project_root() / ".venv-airflow" / "bin" / "python"), "-c", QUOTING],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
        env={**os.environ, "MLOPS_TASK_MODE": "local"},
    )
    output = result.stdout[-2000:] + result.stderr[-2000:]
    assert "REFUSED" in result.stdout, output
    assert "double quotes" in result.stdout, output
