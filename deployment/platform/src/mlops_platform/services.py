"""What the local platform runs: each program's command line, port and health check."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from mlops_common.settings import (
    get_airflow_settings,
    get_mlflow_settings,
    get_prometheus_settings,
    get_redis_settings,
    get_serving_settings,
)

from mlops_platform.airflow_env import airflow_bin, airflow_environment
from mlops_platform.processes import (
    http_ok,
    mlflow_server_command,
    prometheus_command,
    pushgateway_command,
    redis_answers,
    redis_server_command,
)
from mlops_platform.state import state_dir

logger = logging.getLogger(__name__)

ONLINE_SERVICE = "online-service"
# The Celery application of Airflow's CeleryExecutor (the Celery provider).
CELERY_APP = "airflow.providers.celery.executors.celery_executor.app"


@dataclass(frozen=True)
class Service:
    """One supervised program and how to tell that it is up."""

    name: str
    command: list[str]
    health: Callable[[], bool]
    url: str
    port: int | None = None
    port_key: str | None = None
    start_timeout: float = 60
    stop_seconds: int = 20
    # Started by `up` (True) or on demand, e.g. the online service once a champion exists.
    autostart: bool = True
    # Variables for this program only, on top of the platform's environment.
    environment: tuple[tuple[str, str], ...] = ()


def is_healthy(service: Service) -> bool:
    """SERVICE's health check; a check that cannot connect (yet) means "not healthy"."""
    try:
        return service.health()
    except (OSError, ValueError, httpx.HTTPError) as error:
        logger.debug("%s health check: %s", service.name, error)
        return False


def _airflow_component_healthy(component: str) -> bool:
    response = httpx.get(f"{get_airflow_settings().url}/api/v2/monitor/health", timeout=3)
    response.raise_for_status()
    status: dict[str, Any] = response.json().get(component) or {}
    return bool(status.get("status") == "healthy")


def _redis() -> Service:
    settings = get_redis_settings()
    password = settings.password.get_secret_value() if settings.password else None
    return Service(
        name="redis",
        command=redis_server_command(
            settings.port,
            state_dir() / "redis",
            host=settings.host,
            persist=True,
            password=password,
        ),
        health=lambda: redis_answers(settings.host, settings.port, password),
        url=f"redis://{settings.host}:{settings.port}",
        port=settings.port,
        port_key="REDIS_PORT",
        start_timeout=20,
    )


def _mlflow() -> Service:
    mlflow = get_mlflow_settings()
    return Service(
        name="mlflow",
        command=mlflow_server_command(state_dir() / "mlflow", host=mlflow.host, port=mlflow.port),
        health=lambda: http_ok(f"{mlflow.resolved_tracking_uri}/health"),
        url=f"http://{mlflow.host}:{mlflow.port}",
        port=mlflow.port,
        port_key="MLFLOW_PORT",
        start_timeout=120,
    )


def _airflow() -> list[Service]:
    airflow = get_airflow_settings()
    return [
        Service(
            name="airflow-api-server",
            command=[airflow_bin(), "api-server"],
            health=lambda: _airflow_component_healthy("metadatabase"),
            url=airflow.url,
            port=airflow.port,
            port_key="AIRFLOW_PORT",
            start_timeout=180,
        ),
        Service(
            name="airflow-scheduler",
            command=[airflow_bin(), "scheduler"],
            health=lambda: _airflow_component_healthy("scheduler"),
            url=f"{airflow.url} (scheduler)",
            start_timeout=180,
            stop_seconds=40,
        ),
        Service(
            name="airflow-dag-processor",
            command=[airflow_bin(), "dag-processor"],
            health=lambda: _airflow_component_healthy("dag_processor"),
            url=f"{airflow.url} (dag processor)",
            start_timeout=180,
        ),
    ]


def celery_worker_name(index: int) -> str:
    """The Celery hostname of worker INDEX (1-based): distinct per worker on one machine."""
    return f"worker{index}@{socket.gethostname()}"


def _celery_worker_answers(name: str) -> bool:
    """Whether the Celery worker NAME answers a broadcast ping through the broker (Celery's
    own `inspect ping`, run in Airflow's environment: the platform does not import Airflow)."""
    done = subprocess.run(
        [
            str(Path(airflow_bin()).parent / "celery"),
            "--app",
            CELERY_APP,
            "inspect",
            "ping",
            "--destination",
            name,
            "--timeout",
            "3",
        ],
        env={**os.environ, **airflow_environment()},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done.returncode == 0 and name in done.stdout


def _celery() -> list[Service]:
    airflow = get_airflow_settings()
    if airflow.executor != "celery":
        return []
    workers = []
    for index in range(1, airflow.celery_workers + 1):
        name = celery_worker_name(index)
        workers.append(
            Service(
                name=f"airflow-celery-worker-{index}",
                # --skip-serve-logs: each worker would serve its logs on the same port (8793);
                # here the api-server reads them from the shared log folder.
                command=[
                    airflow_bin(),
                    "celery",
                    "worker",
                    "--celery-hostname",
                    name,
                    "--concurrency",
                    str(airflow.celery_worker_concurrency),
                    "--skip-serve-logs",
                ],
                health=lambda name=name: _celery_worker_answers(name),  # type: ignore[misc]
                url=f"celery {name}",
                # Recorded as the task instances' hostname (mlops_airflow.hostname).
                environment=(("MLOPS_WORKER_HOSTNAME", name),),
                start_timeout=180,
                stop_seconds=60,
            )
        )
    if airflow.flower:
        flower_url = f"http://{airflow.host}:{airflow.flower_port}"
        workers.append(
            Service(
                name="airflow-celery-flower",
                command=[airflow_bin(), "celery", "flower"],
                health=lambda: http_ok(f"{flower_url}/healthcheck"),
                url=flower_url,
                port=airflow.flower_port,
                port_key="AIRFLOW_FLOWER_PORT",
                start_timeout=120,
            )
        )
    return workers


def _prometheus() -> list[Service]:
    from mlops_platform.prometheus import config_path, prometheus_dir

    settings = get_prometheus_settings()
    gateway_url = f"http://{settings.host}:{settings.pushgateway_port}"
    return [
        Service(
            name="pushgateway",
            command=pushgateway_command(
                state_dir() / "pushgateway" / "metrics",
                host=settings.host,
                port=settings.pushgateway_port,
            ),
            health=lambda: http_ok(f"{gateway_url}/-/ready"),
            url=gateway_url,
            port=settings.pushgateway_port,
            port_key="PROMETHEUS_PUSHGATEWAY_PORT",
            start_timeout=30,
        ),
        Service(
            name="prometheus",
            command=prometheus_command(
                config_path(),
                prometheus_dir() / "data",
                host=settings.host,
                port=settings.port,
                retention=settings.retention,
            ),
            health=lambda: http_ok(f"{settings.url}/-/ready"),
            url=settings.url,
            port=settings.port,
            port_key="PROMETHEUS_PORT",
            start_timeout=60,
        ),
    ]


def _online_service() -> Service:
    serving = get_serving_settings()
    url = serving.url
    return Service(
        name=ONLINE_SERVICE,
        command=[str(Path(sys.executable).parent / "model-serving"), "serve"],
        health=lambda: http_ok(f"{url}/readyz"),
        url=url,
        port=serving.port,
        port_key="SERVING_PORT",
        start_timeout=120,
        autostart=False,
    )


def services() -> list[Service]:
    """The platform's programs, in start order, built from settings."""
    return [_redis(), _mlflow(), *_airflow(), *_celery(), *_prometheus(), _online_service()]


def service(name: str) -> Service:
    return next(program for program in services() if program.name == name)
