"""One local Spark session for the whole test run (starting one costs seconds of JVM start-up;
every Spark test shares it), and the settings that select Spark for a test."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
from mlops_common.settings import reset_settings_cache

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


@pytest.fixture(scope="session")
def spark_session() -> Iterator[SparkSession]:
    """The project's Spark session (`feature_store.spark.get_spark`, local[2] from the default
    settings), stopped at the end of the run."""
    from feature_store.spark import get_spark  # pyspark and Java: `make setup_dev`

    session = get_spark()
    yield session
    session.stop()


@pytest.fixture
def spark_env(spark_session: SparkSession, monkeypatch: pytest.MonkeyPatch) -> SparkSession:
    """FEAST_OFFLINE_STORE=spark for this test (the feature repo declares a SparkSource and
    Feast uses its Spark offline store and compute engine, on the shared session)."""
    monkeypatch.setenv("FEAST_OFFLINE_STORE", "spark")
    reset_settings_cache()
    return spark_session
