"""The compose deployment run with podman: `make compose_up|compose_down|compose_status`.

`up` starts the services in dependency order and waits for each stage's health, because
podman-compose ignores `depends_on: condition: service_healthy` on podman before 4.6 (it logs
"Ignored ... condition check") and podman without systemd runs health checks only when asked
(`podman healthcheck run`). With Docker, `docker compose up -d` does the same by itself.
Restart policies work without systemd: podman's cleanup process restarts a container whose
main process died; `podman stop` and `podman kill` count as stops by the user (no restart).
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from mlops_common.errors import UserError
from mlops_common.settings import project_root

from mlops_platform.compose_env import ComposeSettings, ensure_env_file, read_env_file
from mlops_platform.processes import wait_for

logger = logging.getLogger(__name__)

PROJECT = "driver-ranking"
# One-shot services: they must exit 0 before the next stage starts.
ONE_SHOT = ("mlflow-init", "airflow-init")
# `up` order; every service of a stage starts at once, then the stage's health is awaited.
STAGES: tuple[tuple[str, ...], ...] = (
    ("postgres", "redis", "pushgateway", "prometheus"),
    ("mlflow",),
    ("mlflow-init", "airflow-init"),
    ("airflow-api-server", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer"),
    ("serving",),
)
# The CeleryExecutor's workers: the `celery` profile, started beside the scheduler when the env
# file sets AIRFLOW_EXECUTOR=CeleryExecutor (one container per replica).
CELERY_PROFILE = "celery"
CELERY_WORKER = "airflow-worker"
# Healthy only once a champion is registered: `up` starts it, the demo waits for it.
NEEDS_CHAMPION = ("serving",)
# The images `up` needs, by the names build_images.sh knows them.
IMAGES = {
    "data_pipeline": "data-pipeline",
    "training_pipeline": "training-pipeline",
    "model_serving": "model-serving",
    "monitoring_pipeline": "monitoring-pipeline",  # the monitoring DAG's task image
    "redis": "redis",
    "postgres": "postgres",
    "mlflow": "mlflow",
    "airflow": "airflow",
    "prometheus": "prometheus",
}


@dataclass(frozen=True)
class ServiceState:
    service: str
    container: str
    status: str  # podman's: running, exited, created, ...
    exit_code: int
    restarts: int
    health: str  # healthy, unhealthy, exited-0, none (no check), absent


def uses_celery(values: dict[str, str]) -> bool:
    """True when the env file's VALUES pick the CeleryExecutor (and so the `celery` profile)."""
    return values.get("AIRFLOW_EXECUTOR") == "CeleryExecutor"


def stack_stages(values: dict[str, str]) -> tuple[tuple[str, ...], ...]:
    """STAGES, with the Celery workers in the scheduler's stage when VALUES use Celery."""
    if not uses_celery(values):
        return STAGES
    return tuple(
        (*stage, CELERY_WORKER) if "airflow-scheduler" in stage else stage for stage in STAGES
    )


class ComposeStack:
    """The compose files and env file of the deployment, and podman to look at containers."""

    def __init__(self, settings: ComposeSettings) -> None:
        self.settings = settings
        self.root = project_root()
        deployment = self.root / "deployment"
        self.files = [deployment / "docker-compose.yml"]
        if settings.local_images:
            self.files.append(deployment / "docker-compose.local.yml")
        self.env_file = settings.env_file
        self.containers_conf = deployment / "containers" / "containers.conf"

    # --- commands -------------------------------------------------------------------------
    def _compose_command(self) -> list[str]:
        if self.settings.command:
            return shlex.split(self.settings.command)
        return [str(Path(sys.executable).parent / "podman-compose")]

    def compose(
        self, *args: str, profiles: Sequence[str] = (), timeout: float = 900
    ) -> subprocess.CompletedProcess[str]:
        """Run compose with the stack's files, env file and PROFILES; raise UserError when it
        fails."""
        files = [arg for path in self.files for arg in ("-f", str(path))]
        selected = [arg for profile in profiles for arg in ("--profile", profile)]
        command = [
            *self._compose_command(), *files, "--env-file", str(self.env_file), *selected, *args
        ]  # fmt: skip
        logger.debug("running %s", shlex.join(command))
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, check=False, env=self.env()
        )
        if result.returncode != 0:
            tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
            raise UserError(f"`compose {' '.join(args)}` failed ({result.returncode}):\n{tail}")
        return result

    def env(self) -> dict[str, str]:
        """Our environment with the project's podman settings (runc, ulimits)."""
        return {**os.environ, "CONTAINERS_CONF": str(self.containers_conf)}

    def podman(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["podman", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            env=self.env(),
        )

    def script(self, name: str, *args: str, timeout: float = 3600) -> None:
        """Run deployment/containers/NAME; its output goes to ours (builds print timings)."""
        path = self.root / "deployment" / "containers" / name
        result = subprocess.run(["bash", str(path), *args], timeout=timeout, check=False)
        if result.returncode != 0:
            raise UserError(f"deployment/containers/{name} {' '.join(args)} failed")

    def services(self) -> tuple[str, ...]:
        """The services of the env file's configuration (STAGES', and the Celery workers when
        it picks that executor); STAGES' while there is no env file yet."""
        values = read_env_file(self.env_file) if self.env_file.is_file() else {}
        return tuple(service for stage in stack_stages(values) for service in stage)

    # --- containers -----------------------------------------------------------------------
    def container_names(self) -> dict[str, list[str]]:
        """Service -> its containers' names (several for a service with replicas), for the
        stack's containers that exist."""
        result = self.podman(
            "ps", "-a", "--filter", f"label=com.docker.compose.project={PROJECT}",
            "--format", "json",
        )  # fmt: skip
        names: dict[str, list[str]] = {}
        for entry in json.loads(result.stdout or "[]"):
            service = entry.get("Labels", {}).get("com.docker.compose.service")
            if service:
                names.setdefault(service, []).append(entry["Names"][0])
        return {service: sorted(containers) for service, containers in names.items()}

    def state(self, service: str, container: str | None) -> ServiceState:
        """SERVICE's container state; runs its health check (podman has no scheduler here)."""
        if container is None:
            return ServiceState(service, "", "absent", 0, 0, "absent")
        result = self.podman("inspect", container, "--format", "json")
        if result.returncode != 0:
            return ServiceState(service, container, "absent", 0, 0, "absent")
        data = json.loads(result.stdout)[0]
        status = data["State"]["Status"]
        exit_code = int(data["State"].get("ExitCode") or 0)
        restarts = int(data.get("RestartCount") or 0)
        if status != "running":
            health = "exited-0" if status == "exited" and exit_code == 0 else status
        elif not (data.get("Config", {}).get("Healthcheck") or data.get("Healthcheck")):
            health = "none"
        else:
            check = self.podman("healthcheck", "run", container, timeout=60)
            health = "healthy" if check.returncode == 0 else "unhealthy"
        return ServiceState(service, container, status, exit_code, restarts, health)

    def states(self, services: Sequence[str] | None = None) -> list[ServiceState]:
        """One state per container of SERVICES (default: the configured services); an absent
        one for a service without a container."""
        names = self.container_names()
        states: list[ServiceState] = []
        for service in self.services() if services is None else services:
            containers: list[str | None] = [*names.get(service, [])] or [None]
            states.extend(self.state(service, container) for container in containers)
        return states

    def wait_ready(self, services: Sequence[str], timeout: float) -> None:
        """Wait until every long-running service of SERVICES is healthy and every one-shot
        service has exited 0; a one-shot service that keeps failing ends the wait."""
        started = time.monotonic()

        def ready() -> bool:
            states = self.states(services)
            waiting = [
                s.service
                for s in states
                if s.health != ("exited-0" if s.service in ONE_SHOT else "healthy")
            ]
            if waiting:
                logger.info(
                    "[%4.0f s] waiting for %s", time.monotonic() - started, ", ".join(waiting)
                )
            return not waiting

        wait_for(
            ready,
            timeout=timeout,
            interval=3,
            timeout_error=lambda: UserError(
                f"{', '.join(services)} not ready after {timeout:.0f} s; "
                f"see `make compose_status` and `podman logs <container>`"
            ),
        )

    def missing_images(self, values: dict[str, str]) -> list[str]:
        prefix = values.get("IMAGE_PREFIX") or PROJECT
        tag = values.get("IMAGE_TAG") or "latest"
        return [
            name
            for name, image in IMAGES.items()
            if self.podman("image", "exists", f"{prefix}-{image}:{tag}").returncode != 0
        ]

    # --- lifecycle ------------------------------------------------------------------------
    def up(self) -> dict[str, str]:
        """Podman's API, the images that are missing, then the stack stage by stage."""
        if ensure_env_file(self.env_file):
            logger.info("wrote %s with generated secrets (keep it; never commit it)", self.env_file)
        values = read_env_file(self.env_file)
        self.script("podman.sh", "start")
        missing = self.missing_images(values)
        if missing:
            logger.info("building images: %s", " ".join(missing))
            self.script("build_images.sh", *missing)
        profiles = [CELERY_PROFILE] if uses_celery(values) else []
        for stage in stack_stages(values):
            stage_started = time.monotonic()
            self.compose("up", "-d", "--no-deps", *stage, profiles=profiles)
            waited = [s for s in stage if s not in NEEDS_CHAMPION]
            if waited:
                self.wait_ready(waited, self.settings.timeout_seconds)
            logger.info("%s up in %.0f s", ", ".join(stage), time.monotonic() - stage_started)
        return values

    def down(self, volumes: bool = False) -> None:
        """Stop and remove the stack's containers; with VOLUMES also its named volumes (and any
        task container DockerOperator left on its network, which would keep them in use)."""
        if volumes:
            leftovers = self.podman("ps", "-a", "-q", "--filter", f"network={PROJECT}")
            for container in leftovers.stdout.split():
                self.podman("rm", "-f", container)
        # With the profile, so that Celery workers go too even after a switch back to the
        # LocalExecutor (compose leaves services of an unselected profile alone).
        self.compose("down", *(["-v"] if volumes else []), profiles=[CELERY_PROFILE])


def memory_by_container(stack: ComposeStack) -> dict[str, str]:
    """`podman stats --no-stream`: memory in use per running container of the stack."""
    result = stack.podman("stats", "--no-stream", "--format", "json", timeout=120)
    if result.returncode != 0 or not result.stdout.strip():
        return {}
    return {entry["name"]: entry["mem_usage"] for entry in json.loads(result.stdout)}


def render_status(stack: ComposeStack) -> tuple[str, bool]:
    """A table of the services (state, health, restarts, memory); True when all are ready."""
    states = stack.states()
    memory = memory_by_container(stack)
    lines = [f"{'service':24} {'state':9} {'health':10} {'restarts':>8}  memory"]
    ready = True
    for s in states:
        expected = "exited-0" if s.service in ONE_SHOT else "healthy"
        ready &= s.health == expected
        lines.append(
            f"{s.service:24} {s.status:9} {s.health:10} {s.restarts:>8}  "
            f"{memory.get(s.container, '-')}"
        )
    return "\n".join(lines), ready
