"""Settings shared by every pipeline, one pydantic-settings model per concern.

Values come from the environment, then from the project's `.env` (optional), then from the
defaults below, which are safe for a local run. `.env-example` documents every key.
Pipeline-specific settings (generator sizes, training gates, serving limits) live in each
pipeline's own `settings` module and follow the same pattern.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Literal, TypeVar

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

T = TypeVar("T")
_CACHED_GETTERS: list[Callable[[], object]] = []


def cached_settings(getter: Callable[[], T]) -> Callable[[], T]:
    """Cache a settings getter and register it with `reset_settings_cache`."""
    cached = cache(getter)
    _CACHED_GETTERS.append(cached)
    return cached


@cache
def project_root() -> Path:
    """The repository root: `MLOPS_PROJECT_ROOT`, else the folder holding `uv.lock` above this
    file (editable installs), else the working directory (installed images set the variable)."""
    explicit = os.environ.get("MLOPS_PROJECT_ROOT")
    if explicit:
        return Path(explicit).resolve()
    for parent in Path(__file__).resolve().parents:
        if (parent / "uv.lock").is_file() and (parent / "pyproject.toml").is_file():
            return parent
    return Path.cwd().resolve()


def settings_config(prefix: str) -> SettingsConfigDict:
    """The configuration every settings model of the project uses: environment variables with
    PREFIX, then the project's `.env`, unknown keys ignored."""
    return SettingsConfigDict(
        env_prefix=prefix,
        env_file=project_root() / ".env",
        env_file_encoding="utf-8",
        extra="ignore",
    )


def _under_root(path: Path) -> Path:
    return path if path.is_absolute() else project_root() / path


class PathSettings(BaseSettings):
    """Where the project keeps generated state; relative paths are under the repository root."""

    model_config = settings_config("MLOPS_")

    state_dir: Path = Field(Path(".platform"), description="Local platform state and logs.")
    artifact_root: Path = Field(Path(".artifacts"), description="Task hand-off files per run.")
    data_dir: Path = Field(Path("data"), description="Generated data and the offline store.")
    model_cache_dir: Path | None = Field(
        None, description="Models loaded for scoring, by model id; default ARTIFACT_ROOT/models."
    )

    def model_post_init(self, _context: object) -> None:
        self.state_dir = _under_root(self.state_dir)
        self.artifact_root = _under_root(self.artifact_root)
        self.data_dir = _under_root(self.data_dir)
        self.model_cache_dir = _under_root(self.model_cache_dir or self.artifact_root / "models")


class RedisSettings(BaseSettings):
    """The Redis server behind Feast's online store."""

    model_config = settings_config("REDIS_")

    host: str = "127.0.0.1"
    port: int = Field(16379, ge=1, le=65535)
    password: SecretStr | None = None
    socket_timeout: float = Field(0.5, gt=0, description="Seconds before a Redis call fails.")

    @property
    def feast_connection_string(self) -> str:
        base = f"{self.host}:{self.port}"
        if self.password is not None:
            return f"{base},password={self.password.get_secret_value()}"
        return base


class MlflowSettings(BaseSettings):
    """The MLflow tracking server and the registered model that serving follows."""

    model_config = settings_config("MLFLOW_")

    host: str = "127.0.0.1"
    port: int = Field(5500, ge=1, le=65535)
    tracking_uri: str | None = Field(None, description="Defaults to http://HOST:PORT.")
    experiment_name: str = "driver_ranking"
    model_name: str = "driver_ranking"
    champion_alias: str = "champion"

    @property
    def resolved_tracking_uri(self) -> str:
        return self.tracking_uri or f"http://{self.host}:{self.port}"

    @property
    def champion_uri(self) -> str:
        return f"models:/{self.model_name}@{self.champion_alias}"


class FeastSettings(BaseSettings):
    """Where the single Feast feature repo and its registry live."""

    model_config = settings_config("FEAST_")

    repo_path: Path = Field(Path("data_pipeline/feature_repo"))
    registry_path: Path | None = Field(None, description="Defaults to DATA_DIR/registry.db.")
    feature_service: str = "driver_ranking"

    def model_post_init(self, _context: object) -> None:
        self.repo_path = _under_root(self.repo_path)
        if self.registry_path is None:
            self.registry_path = get_path_settings().data_dir / "feast" / "registry.db"
        self.registry_path = _under_root(self.registry_path)


class AirflowSettings(BaseSettings):
    """The local Airflow 3 platform (api-server, scheduler, dag-processor)."""

    model_config = settings_config("AIRFLOW_")

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    admin_user: str = "admin"
    parallelism: int = Field(4, ge=1, description="Task slots; 4 suits 2 cores.")
    dag_refresh_seconds: int = Field(20, ge=5, description="How soon new DAG files appear.")

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


class PrometheusSettings(BaseSettings):
    """Prometheus and its pushgateway: where the platform runs them and where tasks push to."""

    model_config = settings_config("PROMETHEUS_")

    host: str = Field("127.0.0.1", description="Address Prometheus and the pushgateway bind to.")
    port: int = Field(9090, ge=1, le=65535)
    pushgateway_port: int = Field(9091, ge=1, le=65535)
    pushgateway_url: str | None = Field(
        None, description="Where tasks push their figures; default http://HOST:PUSHGATEWAY_PORT."
    )
    push_enabled: bool = Field(True, description="Whether tasks push figures at all.")
    push_timeout_seconds: float = Field(3.0, gt=0, description="Timeout of one push.")
    scrape_interval_seconds: int = Field(15, ge=1, description="How often Prometheus scrapes.")
    retention: str = Field("15d", description="How long Prometheus keeps samples.")

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def resolved_pushgateway_url(self) -> str:
        return self.pushgateway_url or f"http://{self.host}:{self.pushgateway_port}"


class TaskSettings(BaseSettings):
    """How DAG tasks run: the same CLI command locally or in the pipeline's image."""

    model_config = settings_config("MLOPS_TASK_")

    mode: Literal["local", "containers"] = "local"
    venv: Path = Field(Path(".venv"), description="The pipelines' environment (local mode).")
    image_prefix: str = "driver-ranking"
    image_tag: str = "latest"
    docker_url: str = "unix:///var/run/docker.sock"
    docker_network: str = "driver-ranking"
    artifact_volume: str = "driver-ranking-artifacts"
    container_artifact_root: str = "/artifacts"
    container_redis_host: str = "redis"
    container_redis_port: int = 6379
    container_mlflow_uri: str = "http://mlflow:5000"
    container_pushgateway_url: str = "http://pushgateway:9091"
    retries: int = Field(2, ge=0, description="Retries for transient task failures.")
    retry_delay_seconds: int = Field(30, ge=0)

    def model_post_init(self, _context: object) -> None:
        self.venv = _under_root(self.venv)

    def image_for(self, pipeline: str) -> str:
        return f"{self.image_prefix}-{pipeline.replace('_', '-')}:{self.image_tag}"


@cached_settings
def get_path_settings() -> PathSettings:
    return PathSettings()


@cached_settings
def get_redis_settings() -> RedisSettings:
    return RedisSettings()


@cached_settings
def get_mlflow_settings() -> MlflowSettings:
    return MlflowSettings()


@cached_settings
def get_feast_settings() -> FeastSettings:
    return FeastSettings()


@cached_settings
def get_airflow_settings() -> AirflowSettings:
    return AirflowSettings()


@cached_settings
def get_prometheus_settings() -> PrometheusSettings:
    return PrometheusSettings()


@cached_settings
def get_task_settings() -> TaskSettings:
    return TaskSettings()


def reset_settings_cache() -> None:
    """Forget every cached settings object (tests change the environment between cases)."""
    for getter in _CACHED_GETTERS:
        getter.cache_clear()  # type: ignore[attr-defined]
    project_root.cache_clear()
