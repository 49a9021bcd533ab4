"""`make compose_up`'s stages: the Celery workers join them only with the CeleryExecutor."""

from __future__ import annotations

import yaml
from mlops_platform.compose import CELERY_PROFILE, CELERY_WORKER, STAGES, stack_stages
from mlops_platform.compose_env import example_file


def test_the_celery_workers_start_beside_the_scheduler_only_with_the_celery_executor() -> None:
    local = stack_stages({"AIRFLOW_EXECUTOR": "LocalExecutor"})
    celery = stack_stages({"AIRFLOW_EXECUTOR": "CeleryExecutor"})

    assert stack_stages({}) == local == STAGES
    [with_workers] = [stage for stage in celery if CELERY_WORKER in stage]
    assert "airflow-scheduler" in with_workers
    assert [s for stage in celery for s in stage if s != CELERY_WORKER] == [
        s for stage in STAGES for s in stage
    ]


def test_the_worker_service_is_the_celery_profiles_with_replicas_podman_compose_reads() -> None:
    compose = yaml.safe_load((example_file().parent / "docker-compose.yml").read_text())
    worker = compose["services"][CELERY_WORKER]

    assert worker["profiles"] == [CELERY_PROFILE]
    # podman-compose creates `replicas` containers only with the mode written out.
    assert worker["deploy"]["mode"] == "replicated"
    assert worker["deploy"]["replicas"] == "${AIRFLOW_CELERY_WORKERS:-2}"
