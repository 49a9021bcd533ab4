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

from pydantic import Field, SecretStr, field_validator
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
    """The Redis behind Feast's online store: one server (default) or a Redis Cluster."""

    model_config = settings_config("REDIS_")

    type: Literal["standalone", "cluster"] = Field(
        "standalone", description="standalone: one server at HOST:PORT; cluster: CLUSTER_NODES."
    )
    host: str = "127.0.0.1"
    port: int = Field(16379, ge=1, le=65535)
    cluster_nodes: str = Field(
        "", description="Startup nodes of a cluster, `host:port,host:port`; empty: HOST:PORT."
    )
    password: SecretStr | None = None
    socket_timeout: float = Field(0.5, gt=0, description="Seconds before a Redis call fails.")

    @field_validator("cluster_nodes")
    @classmethod
    def _nodes_are_host_port(cls, value: str) -> str:
        nodes = [node.strip() for node in value.split(",") if node.strip()]
        for node in nodes:
            host, _, port = node.rpartition(":")
            if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
                raise ValueError(
                    f"REDIS_CLUSTER_NODES entry {node!r} is not host:port; "
                    "write e.g. 127.0.0.1:17001,127.0.0.1:17002"
                )
        return ",".join(nodes)

    @property
    def nodes(self) -> list[tuple[str, int]]:
        """The startup nodes (cluster) or the one server (standalone), as (host, port)."""
        if self.type == "cluster" and self.cluster_nodes:
            pairs = [node.rpartition(":") for node in self.cluster_nodes.split(",")]
            return [(host, int(port)) for host, _, port in pairs]
        return [(self.host, self.port)]

    @property
    def feast_redis_type(self) -> str:
        """`redis_type` of Feast's Redis online store config."""
        return "redis_cluster" if self.type == "cluster" else "redis"

    @property
    def feast_connection_string(self) -> str:
        """Feast's `connection_string`: `host:port[,host:port...][,password=...]`."""
        base = ",".join(f"{host}:{port}" for host, port in self.nodes)
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
    challenger_alias: str = Field(
        "challenger",
        description="Alias of a candidate in shadow (PROMOTION_MODE=shadow): scored on live "
        "traffic beside the champion, never answering.",
    )

    @property
    def resolved_tracking_uri(self) -> str:
        return self.tracking_uri or f"http://{self.host}:{self.port}"

    @property
    def champion_uri(self) -> str:
        return f"models:/{self.model_name}@{self.champion_alias}"

    @property
    def challenger_uri(self) -> str:
        return f"models:/{self.model_name}@{self.challenger_alias}"


class PromotionSettings(BaseSettings):
    """How a candidate that passed training's gates reaches production, and how a challenger in
    shadow is judged on live outcomes (training, the online service, monitoring and the
    platform's status all follow these)."""

    model_config = settings_config("PROMOTION_")

    mode: Literal["direct", "shadow"] = Field(
        "shadow",
        description="direct: the candidate becomes `champion` at once; shadow: it becomes "
        "`challenger`, is scored on live traffic beside the champion and promoted or retired "
        "on the outcomes (the first model of a registry always becomes champion).",
    )
    min_samples: int = Field(
        300,
        ge=10,
        description="Fewest joined outcomes (requests with an outcome, both models scored) "
        "before the live judgement may promote a challenger.",
    )
    margin: float = Field(
        0.0,
        ge=0,
        lt=1,
        description="Live ROC AUC the challenger must gain over the champion: promoted when "
        "the confidence sequence of the difference lies above it, retired when it lies below.",
    )
    alpha: float = Field(
        0.05,
        gt=0,
        lt=0.5,
        description="Error rate of the live judgement's confidence sequence: the chance that "
        "it ever excludes the true difference (a false promotion or retirement), however "
        "often it looks.",
    )
    max_hours: float = Field(
        72.0,
        gt=0,
        description="A challenger still undecided after this many hours is retired; past it, "
        "the DriverRankingChallengerOverdue alert fires.",
    )


class FeastSettings(BaseSettings):
    """Where the single Feast feature repo and its registry live."""

    model_config = settings_config("FEAST_")

    repo_path: Path = Field(Path("data_pipeline/feature_repo"))
    registry_path: Path | None = Field(None, description="Defaults to DATA_DIR/registry.db.")
    feature_service: str = "driver_ranking"
    offline_store: Literal["duckdb", "spark"] = Field(
        "duckdb",
        description="Feast's offline store: `duckdb` (in process) or `spark` (Feast's Spark "
        "offline store and compute engine, the session from SPARK_* settings). The feature "
        "repo's source class follows it (FileSource or SparkSource over the same parquet).",
    )

    def model_post_init(self, _context: object) -> None:
        self.repo_path = _under_root(self.repo_path)
        if self.registry_path is None:
            self.registry_path = get_path_settings().data_dir / "feast" / "registry.db"
        self.registry_path = _under_root(self.registry_path)


class SparkSettings(BaseSettings):
    """The Spark session of the batch paths (FEAST_OFFLINE_STORE=spark, BATCH_ENGINE=spark,
    `materialize --engine spark`): local mode here, a cluster by settings alone."""

    model_config = settings_config("SPARK_")

    master: str = Field(
        "local[2]",
        description="`local[N]` (in process, N cores), `spark://HOST:7077` (standalone), "
        "`k8s://https://API:443` (Kubernetes, with spark.kubernetes.container.image in CONF) "
        "or `yarn` (HADOOP_CONF_DIR set).",
    )
    driver_memory: str = Field("2g", description="spark.driver.memory (the JVM heap).")
    shuffle_partitions: int = Field(
        4, ge=1, description="spark.sql.shuffle.partitions: 2-4 per core of the cluster."
    )
    conf: dict[str, str] = Field(
        default_factory=dict,
        description="Further Spark properties as JSON, e.g. "
        '{"spark.executor.memory": "4g"}; they override the ones above.',
    )

    def session_conf(self) -> dict[str, str]:
        """Every property the project's Spark sessions start with (Feast's too)."""
        conf = {
            "spark.master": self.master,
            "spark.app.name": "driver-ranking",
            "spark.driver.memory": self.driver_memory,
            "spark.sql.shuffle.partitions": str(self.shuffle_partitions),
            # Times are UTC everywhere in the project (naive request times mean UTC).
            "spark.sql.session.timeZone": "UTC",
            # pandas <-> Spark through Arrow (request rows in, scored rows to the model).
            "spark.sql.execution.arrow.pyspark.enabled": "true",
            # Parquet times as INT64 microseconds marked UTC (readers get aware UTC times),
            # not Spark's legacy INT96 (read back as naive nanoseconds).
            "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
            "spark.ui.enabled": "false",
        }
        if self.master.startswith("local"):
            # In process: the driver listens on loopback only.
            conf["spark.driver.host"] = "127.0.0.1"
            conf["spark.driver.bindAddress"] = "127.0.0.1"
        return conf | self.conf


class AirflowSettings(BaseSettings):
    """The local Airflow 3 platform (api-server, scheduler, dag-processor; Celery workers and
    Flower with the CeleryExecutor)."""

    model_config = settings_config("AIRFLOW_")

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    admin_user: str = "admin"
    parallelism: int = Field(4, ge=1, description="Task slots; 4 suits 2 cores.")
    dag_refresh_seconds: int = Field(20, ge=5, description="How soon new DAG files appear.")
    orphaned_tasks_check_seconds: int = Field(
        30,
        ge=10,
        description="How often the scheduler looks for tasks of a scheduler that died (killed "
        "mid-run) and schedules them again (Airflow's default: 300).",
    )
    executor: Literal["local", "celery"] = Field(
        "local", description="local: LocalExecutor; celery: CeleryExecutor with CELERY_WORKERS."
    )
    celery_workers: int = Field(2, ge=1, le=16, description="Celery worker processes.")
    celery_worker_concurrency: int = Field(2, ge=1, description="Task slots per Celery worker.")
    celery_broker_db: int = Field(
        1, ge=1, le=15, description="Redis DB index of the Celery broker (DB 0 holds features)."
    )
    flower: bool = Field(False, description="Run Celery's Flower UI (executor celery).")
    flower_port: int = Field(5555, ge=1, le=65535)

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


class ServingSettings(BaseSettings):
    """Where the online service listens: what the service binds to and what the local platform
    supervises and health-checks (the rest of SERVING_* is the service's own)."""

    model_config = settings_config("SERVING_")

    host: str = Field("127.0.0.1", description="Bind address; 0.0.0.0 only behind a proxy.")
    port: int = Field(3000, ge=1, le=65535)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


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
    container_redis_type: Literal["standalone", "cluster"] = "standalone"
    container_redis_cluster_nodes: str = ""
    container_mlflow_uri: str = "http://mlflow:5000"
    container_pushgateway_url: str = "http://pushgateway:9091"
    container_redis_password: SecretStr | None = Field(
        None, description="REDIS_PASSWORD of task containers (the compose Redis requires one)."
    )
    container_mlflow_username: str | None = Field(
        None, description="MLFLOW_TRACKING_USERNAME of task containers (MLflow's basic auth)."
    )
    container_mlflow_password: SecretStr | None = Field(
        None, description="MLFLOW_TRACKING_PASSWORD of task containers."
    )
    retries: int = Field(2, ge=0, description="Retries for transient task failures.")
    retry_delay_seconds: int = Field(30, ge=0, description="Delay before the first retry.")
    retry_backoff: float = Field(
        2.0, ge=0, description="Each further retry waits this many times longer (0: constant)."
    )
    max_retry_delay_seconds: int = Field(600, ge=0, description="The longest wait between tries.")

    def model_post_init(self, _context: object) -> None:
        self.venv = _under_root(self.venv)

    def image_for(self, pipeline: str) -> str:
        return f"{self.image_prefix}-{pipeline.replace('_', '-')}:{self.image_tag}"


@cached_settings
def get_path_settings() -> PathSettings:
    return PathSettings()


@cached_settings
def get_promotion_settings() -> PromotionSettings:
    return PromotionSettings()


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
def get_spark_settings() -> SparkSettings:
    return SparkSettings()


@cached_settings
def get_airflow_settings() -> AirflowSettings:
    return AirflowSettings()


@cached_settings
def get_prometheus_settings() -> PrometheusSettings:
    return PrometheusSettings()


@cached_settings
def get_serving_settings() -> ServingSettings:
    return ServingSettings()


@cached_settings
def get_task_settings() -> TaskSettings:
    return TaskSettings()


def reset_settings_cache() -> None:
    """Forget every cached settings object (tests change the environment between cases)."""
    for getter in _CACHED_GETTERS:
        getter.cache_clear()  # type: ignore[attr-defined]
    project_root.cache_clear()
