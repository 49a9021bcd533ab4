"""The operator factory: one DAG task = one pipeline CLI command, run locally or in an image.

DAG files call `pipeline_task(pipeline, task_id, [subcommand, args...])`; the CLI is the
pipeline's (`data_pipeline` -> `data-pipeline`). The mode comes from `MLOPS_TASK_MODE` (an
environment variable, not an Airflow Variable, so `airflow dags test` and the scheduler agree).
Building an operator reads settings only: no database or network access at DAG parse time.
Imported by DAG files in Airflow's environment; task code never imports this package.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from mlops_common.settings import (
    TaskSettings,
    get_mlflow_settings,
    get_task_settings,
    project_root,
)

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator

# Jinja for "the time this run stands for": the logical date, or for runs triggered with a null
# logical date (Airflow 3 API and UI; `logical_date` is then absent from the context, not None),
# the time the run was due. Never `now()` in task logic.
RUN_TIME = (
    "{{ (logical_date if logical_date is defined and logical_date else dag_run.run_after)"
    ".isoformat() }}"
)
RUN_ID = "{{ run_id }}"


def pipeline_cli(pipeline: str) -> str:
    """The console script of PIPELINE's package, which is also its image's entry point."""
    return pipeline.replace("_", "-")


def pipeline_task(
    pipeline: str,
    task_id: str,
    arguments: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    **operator_kwargs: Any,
) -> BaseOperator:
    """Build the operator that runs PIPELINE's CLI with ARGUMENTS (`[subcommand, args...]`).

    Containers mode: a DockerOperator in the pipeline's image with the shared artifact volume.
    Local mode: a BashOperator running the same command from the pipelines' virtualenv; a
    user error (exit code 2: bad input, a gate that refused the model) fails without retries.
    Arguments may hold Jinja templates (`RUN_ID`, `RUN_TIME`); both operators render them.

    Retries (MLOPS_TASK_RETRIES) with exponential backoff (MLOPS_TASK_RETRY_DELAY_SECONDS,
    doubling by MLOPS_TASK_RETRY_BACKOFF up to MLOPS_TASK_MAX_RETRY_DELAY_SECONDS): every task
    of the project is safe to retry, including after a SIGKILL mid-write (atomic files, Redis
    rows written whole and only newer ones, MLflow runs and registry versions found again by
    their tags; each pipeline's `test_killed_*` tests kill them and retry). A task that is not
    safe to retry must pass `retries=0` and say why in its DAG's docstring.
    """
    # Local mode shell-quotes the command before Airflow renders its templates, so a single
    # quote inside a template would be mangled; refused in both modes so DAG files stay portable.
    for argument in arguments:
        if "{{" in argument and "'" in argument:
            raise ValueError(f"task {task_id}: use double quotes inside the template {argument!r}")
    settings = get_task_settings()
    operator_kwargs.setdefault("retries", settings.retries)
    operator_kwargs.setdefault("retry_delay", timedelta(seconds=settings.retry_delay_seconds))
    operator_kwargs.setdefault("retry_exponential_backoff", settings.retry_backoff)
    operator_kwargs.setdefault(
        "max_retry_delay", timedelta(seconds=settings.max_retry_delay_seconds)
    )
    if settings.mode == "containers":
        return _docker_task(settings, pipeline, task_id, arguments, env or {}, operator_kwargs)
    command = [pipeline_cli(pipeline), *arguments]
    return _local_task(settings, task_id, command, env or {}, operator_kwargs)


def _local_task(
    settings: TaskSettings,
    task_id: str,
    command: Sequence[str],
    env: Mapping[str, str],
    kwargs: dict[str, Any],
) -> BaseOperator:
    from mlops_airflow.pipeline_command import PipelineCommandOperator

    executable = settings.venv / "bin" / command[0]
    bash_command = shlex.join([str(executable), *command[1:]])
    return PipelineCommandOperator(
        task_id=task_id,
        bash_command=bash_command,
        env=dict(env),
        append_env=True,
        cwd=str(project_root()),
        **kwargs,
    )


def container_environment(settings: TaskSettings) -> dict[str, str]:
    """What a task container needs to reach the platform and the shared artifact volume."""
    root = settings.container_artifact_root
    return {
        "MLOPS_TASK_MODE": "containers",
        "MLOPS_ARTIFACT_ROOT": f"{root}/runs",
        "MLOPS_DATA_DIR": f"{root}/data",
        "REDIS_HOST": settings.container_redis_host,
        "REDIS_PORT": str(settings.container_redis_port),
        "REDIS_TYPE": settings.container_redis_type,
        "REDIS_CLUSTER_NODES": settings.container_redis_cluster_nodes,
        "MLFLOW_TRACKING_URI": settings.container_mlflow_uri,
        "PROMETHEUS_PUSHGATEWAY_URL": settings.container_pushgateway_url,
        "MLFLOW_MODEL_NAME": get_mlflow_settings().model_name,
    }


def container_secrets(settings: TaskSettings) -> dict[str, str]:
    """The credentials a task container needs, passed as DockerOperator's private environment
    (not rendered in the task's templates or the UI); only those that are set and not empty."""
    secrets = {
        "REDIS_PASSWORD": settings.container_redis_password,
        "MLFLOW_TRACKING_PASSWORD": settings.container_mlflow_password,
    }
    found = {key: value.get_secret_value() for key, value in secrets.items() if value}
    if settings.container_mlflow_username:
        found["MLFLOW_TRACKING_USERNAME"] = settings.container_mlflow_username
    return found


def _docker_task(
    settings: TaskSettings,
    pipeline: str,
    task_id: str,
    arguments: Sequence[str],
    env: Mapping[str, str],
    kwargs: dict[str, Any],
) -> BaseOperator:
    from airflow.providers.docker.operators.docker import DockerOperator
    from docker.types import Mount

    return DockerOperator(
        task_id=task_id,
        image=settings.image_for(pipeline),
        # The image's entry point is the pipeline CLI: pass only its arguments.
        command=list(arguments),
        docker_url=settings.docker_url,
        network_mode=settings.docker_network,
        mounts=[
            Mount(
                target=settings.container_artifact_root,
                source=settings.artifact_volume,
                type="volume",
            )
        ],
        environment={**container_environment(settings), **env},
        private_environment=container_secrets(settings),
        mount_tmp_dir=False,
        auto_remove="success",
        force_pull=False,
        **kwargs,
    )
