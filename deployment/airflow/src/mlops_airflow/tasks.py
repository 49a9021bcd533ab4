"""Tasks that several DAGs run with the same command, built in one place.

`feast_apply_task` is the first task of all three pipelines' DAGs; `materialize_task` is the
load into Redis that both data DAGs end with (trigger param `engine` of the DAG).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlops_airflow.orchestration import RUN_ID, RUN_TIME, pipeline_task

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator

ENGINE_PARAM = "{{ params.engine }}"


def feast_apply_task(pipeline: str) -> BaseOperator:
    """`<cli> feast-apply` for PIPELINE: register the feature repo before the run reads it."""
    return pipeline_task(pipeline, "feast_apply", ["feast-apply", "--run-id", RUN_ID])


def materialize_task() -> BaseOperator:
    """`data-pipeline materialize` up to the run's time, with the DAG's `engine` param."""
    return pipeline_task(
        "data_pipeline",
        "materialize",
        ["materialize", "--run-id", RUN_ID, "--end-time", RUN_TIME, "--engine", ENGINE_PARAM],
    )
