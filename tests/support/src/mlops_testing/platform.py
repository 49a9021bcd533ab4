"""The local platform (`mlops-platform`) for one test module: its own state folder, every
service on a free port, small data; stopped at the end."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from mlops_common.settings import project_root
from mlops_platform.processes import free_port

if TYPE_CHECKING:
    from mlops_platform.airflow_client import AirflowClient

PLATFORM = project_root() / ".venv" / "bin" / "mlops-platform"


@contextmanager
def local_platform(state: Path, **settings: str) -> Iterator[dict[str, str]]:
    """The environment of a platform kept under STATE, with SETTINGS on top; `down` on exit."""
    env = {
        **os.environ,
        "MLOPS_STATE_DIR": str(state),
        "MLOPS_DATA_DIR": str(state / "data"),
        "MLOPS_ARTIFACT_ROOT": str(state / "artifacts"),
        **{
            f"{service}_PORT": str(free_port())
            for service in ("REDIS", "MLFLOW", "AIRFLOW", "PROMETHEUS", "SERVING")
        },
        "PROMETHEUS_PUSHGATEWAY_PORT": str(free_port()),
        "DATA_N_DRIVERS": "50",
        "DATA_DAYS": "3",
        "DATA_N_ORDERS": "300",
        "DATA_N_BATCH_REQUESTS": "20",
        **settings,
    }
    for key in ("MLFLOW_TRACKING_URI", "MLOPS_TASK_MODE"):
        env.pop(key, None)
    try:
        yield env
    finally:
        subprocess.run([str(PLATFORM), "down"], env=env, check=False, timeout=180)


def platform_command(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`mlops-platform ARGS` in ENV, its output captured."""
    return subprocess.run(
        [str(PLATFORM), *args], env=env, capture_output=True, text=True, timeout=600, check=False
    )


def platform_client(env: dict[str, str]) -> AirflowClient:
    """An Airflow REST client for the platform of ENV, logged in as its admin."""
    from mlops_common.settings import reset_settings_cache
    from mlops_platform.airflow_client import AirflowClient
    from mlops_platform.airflow_env import wait_for_admin_password

    previous = dict(os.environ)
    os.environ.update(env)
    reset_settings_cache()
    try:
        password = wait_for_admin_password()
    finally:
        os.environ.clear()
        os.environ.update(previous)
        reset_settings_cache()
    return AirflowClient(f"http://127.0.0.1:{env['AIRFLOW_PORT']}", "admin", password)
