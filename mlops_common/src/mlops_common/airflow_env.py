"""Airflow's configuration for the local platform, as environment variables.

One function builds it from settings, so the supervised services, `airflow dags test` and the
tests all see the same Airflow: same home, database, DAG bundles, ports and JWT secret.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path

from mlops_common.settings import get_airflow_settings, get_path_settings, project_root

PIPELINES = ("data_pipeline", "training_pipeline", "model_serving")


def airflow_home() -> Path:
    return get_path_settings().state_dir / "airflow"


def dag_bundles() -> list[dict[str, object]]:
    """One local DAG bundle per pipeline's `dags/` folder."""
    return [
        {
            "name": pipeline,
            "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
            "kwargs": {"path": str(project_root() / pipeline / "dags")},
        }
        for pipeline in PIPELINES
    ]


def _secret(home: Path, name: str) -> str:
    """A random secret generated once per Airflow home and kept there (mode 600)."""
    path = home / f".{name}"
    if not path.exists():
        home.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(32))
        path.chmod(0o600)
    return path.read_text().strip()


def airflow_environment(home: Path | None = None) -> dict[str, str]:
    """Environment variables configuring Airflow for this project (home created if needed)."""
    settings = get_airflow_settings()
    home = home or airflow_home()
    home.mkdir(parents=True, exist_ok=True)
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": str(settings.parallelism),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{settings.admin_user}:admin",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{settings.url}/execution/",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__API__HOST": settings.host,
        "AIRFLOW__API__PORT": str(settings.port),
        "AIRFLOW__API__BASE_URL": settings.url,
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API__SECRET_KEY": _secret(home, "api_secret_key"),
        "AIRFLOW__API_AUTH__JWT_SECRET": _secret(home, "jwt_secret"),
        "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": json.dumps(dag_bundles()),
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": str(settings.dag_refresh_seconds),
        "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
    }
