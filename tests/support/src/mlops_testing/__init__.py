"""Test support, installed only by the root `dev` group: fixtures for real services.

The root `conftest.py` registers this package as a pytest plugin, which makes the fixtures
imported below available to every test in the repository; tests import the helpers and types.
Never a dependency of a pipeline, so the pipeline images contain none of it.
"""

from mlops_platform.processes import free_port

from mlops_testing.dags import DagsTest, airflow_dags_test, airflow_home
from mlops_testing.imports import command_imports, prefer_installed_package
from mlops_testing.models import ChampionModel, register_raising_model, register_tiny_champion
from mlops_testing.services import (
    MlflowServer,
    Pushgateway,
    RedisCluster,
    RedisServer,
    mlflow_env,
    mlflow_server,
    project_env,
    pushgateway_env,
    pushgateway_server,
    redis_cluster,
    redis_cluster_env,
    redis_env,
    redis_server,
)
from mlops_testing.spark import spark_env, spark_session
from mlops_testing.workers import pytest_xdist_make_scheduler

__all__ = [
    "ChampionModel",
    "DagsTest",
    "MlflowServer",
    "Pushgateway",
    "RedisCluster",
    "RedisServer",
    "airflow_dags_test",
    "airflow_home",
    "command_imports",
    "free_port",
    "mlflow_env",
    "mlflow_server",
    "prefer_installed_package",
    "project_env",
    "pushgateway_env",
    "pushgateway_server",
    "pytest_xdist_make_scheduler",
    "redis_cluster",
    "redis_cluster_env",
    "redis_env",
    "redis_server",
    "register_raising_model",
    "register_tiny_champion",
    "spark_env",
    "spark_session",
]
