"""The project's Spark session: one per process, configured from the SPARK_* settings.

Feast's Spark offline store and compute engine take the active session when there is one, so
every Spark path of a process (training extraction, the batch engine, materialization) shares
the session this builds; without it Feast would build an equal one from `feature_store.yaml`'s
`spark_conf` (the same settings).
"""

from __future__ import annotations

import logging
import os
import sys
from typing import TYPE_CHECKING

from mlops_common.errors import UserError
from mlops_common.settings import get_spark_settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

logger = logging.getLogger(__name__)

INSTALL_HINT = (
    "run `make setup_dev` (or install the `spark` extra and a Java 17+ runtime, e.g. Debian's "
    "openjdk-17-jre-headless)"
)


def get_spark() -> SparkSession:
    """The active Spark session, or a new one on SPARK_MASTER with the settings' properties.

    A missing pyspark or Java is the user's set-up: a UserError saying what to install.
    """
    try:
        from pyspark.errors import PySparkRuntimeError
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise UserError(f"Spark is selected but pyspark is not installed; {INSTALL_HINT}") from exc
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    conf = get_spark_settings().session_conf()
    if conf["spark.master"].startswith("local"):
        # Python workers in this process's environment (Feast, MLflow, the model's packages),
        # not whatever `python3` is first on PATH: PySpark reads the variable, not a property.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder
    for key, value in conf.items():
        builder = builder.config(key, value)
    try:
        session = builder.getOrCreate()
    except (PySparkRuntimeError, FileNotFoundError) as exc:
        raise UserError(
            f"Spark could not start on {conf['spark.master']} ({exc}); a Java 17+ runtime is "
            f"needed: {INSTALL_HINT}; for a cluster check SPARK_MASTER and SPARK_CONF"
        ) from exc
    session.sparkContext.setLogLevel("WARN")
    logger.info("Spark %s session on %s", session.version, conf["spark.master"])
    return session
