"""The project's `FeatureStore`, configured from settings (never from the caller's shell)."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

from mlops_common.errors import UserError
from mlops_common.settings import get_feast_settings, get_redis_settings, get_spark_settings

if TYPE_CHECKING:
    from feast import FeatureStore


def offline_store_config() -> dict[str, object]:
    """`feature_store.yaml`'s offline_store for the FEAST_OFFLINE_STORE choice."""
    if get_feast_settings().offline_store == "spark":
        return {"type": "spark", "spark_conf": get_spark_settings().session_conf()}
    # DuckDB keeps entity rows that have no in-ttl feature (null features); the file store
    # drops them.
    return {"type": "duckdb"}


def batch_engine_config() -> dict[str, object] | str:
    """`feature_store.yaml`'s batch_engine (Feast's materialization compute engine): Spark's
    with the Spark offline store (it reads SparkSources), else Feast's local one."""
    if get_feast_settings().offline_store == "spark":
        return {"type": "spark.engine", "spark_conf": get_spark_settings().session_conf()}
    return "local"


def feast_environment() -> dict[str, str]:
    """The variables `feature_store.yaml` expands, derived from settings. The offline store
    and batch engine are whole YAML values (JSON is YAML's flow style), so the one YAML file
    switches between DuckDB and Spark by a setting, never by editing."""
    feast = get_feast_settings()
    redis = get_redis_settings()
    return {
        "FEAST_REGISTRY_PATH": str(feast.registry_path),
        "FEAST_REDIS_TYPE": redis.feast_redis_type,
        "FEAST_REDIS_CONNECTION": redis.feast_connection_string,
        "FEAST_OFFLINE_STORE_CONFIG": json.dumps(offline_store_config(), sort_keys=True),
        "FEAST_BATCH_ENGINE_CONFIG": json.dumps(batch_engine_config(), sort_keys=True),
    }


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """Set VALUES in os.environ for the block, then restore the previous state.

    Left behind, `FEAST_REGISTRY_PATH` would also feed `FeastSettings` (prefix `FEAST_`) and pin
    every later store of the process to the first registry (tests, long-lived workers).
    """
    previous = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def get_store() -> FeatureStore:
    """A FeatureStore on the project's repo, registry and Redis (from settings, not the shell)."""
    from feast import FeatureStore

    feast = get_feast_settings()
    assert feast.registry_path is not None
    if not (feast.repo_path / "feature_store.yaml").is_file():
        raise UserError(
            f"no Feast feature repo at {feast.repo_path}; set FEAST_REPO_PATH to the repo folder"
        )
    feast.registry_path.parent.mkdir(parents=True, exist_ok=True)
    # feature_store.yaml is read (and its ${...} expanded) once, here.
    with _environment(feast_environment()):
        return FeatureStore(repo_path=str(feast.repo_path))


def require_registry(apply_command: str = "data-pipeline feast-apply") -> None:
    """A UserError naming APPLY_COMMAND when `feast apply` has not created the registry yet."""
    registry = get_feast_settings().registry_path
    if registry is None or not registry.is_file():
        raise UserError(
            f"the Feast registry {registry} does not exist; run `{apply_command}` first"
        )
