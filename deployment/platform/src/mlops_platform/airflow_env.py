"""Airflow's configuration for the local platform, as environment variables.

One function builds it from settings, so the supervised services, `airflow dags test` and the
tests all see the same Airflow: same home, database, DAG bundles, ports and JWT secret.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from urllib.parse import quote

from mlops_common.errors import UserError
from mlops_common.settings import get_airflow_settings, get_redis_settings, project_root

from mlops_platform.processes import wait_for
from mlops_platform.state import state_dir

# Airflow lives in its own environment (see the root pyproject's `airflow` group).
AIRFLOW_BIN = Path(".venv-airflow") / "bin" / "airflow"


def airflow_bin() -> str:
    return str(project_root() / AIRFLOW_BIN)


def airflow_home() -> Path:
    return state_dir() / "airflow"


def dag_bundles() -> list[dict[str, object]]:
    """One local DAG bundle per `dags/` folder of the project's pipeline folders."""
    return [
        {
            "name": folder.parent.name,
            "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
            "kwargs": {"path": str(folder)},
        }
        for folder in sorted(project_root().glob("*/dags"))
    ]


def _secret(home: Path, name: str) -> str:
    """A random secret generated once per Airflow home and kept there (mode 600)."""
    path = home / f".{name}"
    if not path.exists():
        home.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(32))
        path.chmod(0o600)
    return path.read_text().strip()


def celery_broker_url() -> str:
    """The Celery broker: the platform's Redis at its own DB index (AIRFLOW_CELERY_BROKER_DB,
    never 0, where the feature store's keys live)."""
    redis = get_redis_settings()
    db = get_airflow_settings().celery_broker_db
    auth = f":{quote(redis.password.get_secret_value(), safe='')}@" if redis.password else ""
    return f"redis://{auth}{redis.host}:{redis.port}/{db}"


def celery_environment(home: Path) -> dict[str, str]:
    """The CeleryExecutor's configuration (the Celery provider's `[celery]` section).

    Task results go to Airflow's own database (`db+` + its SQLAlchemy URL). With SQLite that is
    one file written by the scheduler and the workers; Airflow 3 allows it (the workers run
    tasks through the api-server's execution API and only record Celery results there), and
    its busy timeout absorbs the short write locks at this scale. A production deployment
    uses Postgres (compose, Helm)."""
    settings = get_airflow_settings()
    return {
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__CELERY__BROKER_URL": celery_broker_url(),
        "AIRFLOW__CELERY__RESULT_BACKEND": f"db+sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(settings.celery_worker_concurrency),
        "AIRFLOW__CELERY__FLOWER_HOST": settings.host,
        "AIRFLOW__CELERY__FLOWER_PORT": str(settings.flower_port),
        # Each worker's task instances carry its Celery hostname (one machine, one FQDN).
        "AIRFLOW__CORE__HOSTNAME_CALLABLE": "mlops_airflow.hostname.worker_hostname",
    }


def airflow_environment(home: Path | None = None) -> dict[str, str]:
    """Environment variables configuring Airflow for this project (home created if needed)."""
    settings = get_airflow_settings()
    home = home or airflow_home()
    home.mkdir(parents=True, exist_ok=True)
    executor = (
        celery_environment(home)
        if settings.executor == "celery"
        else {"AIRFLOW__CORE__EXECUTOR": "LocalExecutor"}
    )
    return {
        "AIRFLOW_HOME": str(home),
        **executor,
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
        # A task of a killed scheduler is reset by the next check after that scheduler's
        # heartbeat is 30 s old (scheduler_health_check_threshold); Airflow checks every 300 s.
        "AIRFLOW__SCHEDULER__ORPHANED_TASKS_CHECK_INTERVAL": str(
            settings.orphaned_tasks_check_seconds
        ),
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
    }


def admin_password() -> str | None:
    """The Airflow admin password generated by the simple auth manager, once it exists."""
    path = airflow_home() / "simple_auth_manager_passwords.json.generated"
    if not path.exists():
        return None
    passwords = json.loads(path.read_text())
    return passwords.get(get_airflow_settings().admin_user)


def wait_for_admin_password(timeout: float = 60) -> str:
    """The admin password, once the api-server has generated it."""
    return wait_for(
        admin_password,
        timeout=timeout,
        interval=1,
        timeout_error=lambda: UserError(
            f"no Airflow admin password under {airflow_home()}; is Airflow up?"
        ),
    )
