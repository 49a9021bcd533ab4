"""DAG `data_pipeline`: ingest -> validate -> feast_apply -> materialize (see its docstring)."""

from datetime import UTC, datetime

from airflow.sdk import Param, dag
from mlops_airflow.assets import DRIVER_STATS, ORDERS
from mlops_airflow.orchestration import RUN_ID, RUN_TIME, pipeline_task
from mlops_airflow.tasks import feast_apply_task, materialize_task

PIPELINE = "data_pipeline"


@dag(
    dag_id="data_pipeline",
    schedule="@daily",
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    tags=["data_pipeline", "feast", "scheduled"],
    params={"engine": Param("fast", enum=["fast", "feast"], description="Materialization")},
)
def data_pipeline() -> None:
    """Data pipeline: land, validate and publish a batch of driver statistics; load it into Redis.

    ingest -> validate -> feast_apply -> materialize.

    - `ingest` generates the batch for the run's hour (RUN_TIME floored; the generator stands in for
      the upstream database) into ARTIFACT_ROOT/data_pipeline/<run id>/raw; nothing published yet.
    - `validate` checks every file (schema, dtypes, ranges, nulls, UTC timestamps, duplicate keys)
      and only then publishes it atomically as the offline store DATA_DIR/driver_stats.parquet
      (plus orders.parquet and batch_requests.parquet). A bad batch fails the task with a report
      and leaves the offline store as it was.
    - `feast_apply` registers the feature repo; `materialize` loads the latest in-ttl rows up to
      the run's time into Redis, incrementally from the last recorded interval (engine `fast` by
      default, `feast` for Feast's own path; trigger param `engine`).

    Retries: every task retries with exponential backoff (MLOPS_TASK_RETRY_*), also after a
    kill mid-write: ingest and validate write and publish by rename, feast_apply rewrites the
    registry by rename, materialize writes each Redis row whole, skips rows not newer than the
    stored ones and records its interval only after the rows
    (tests/test_killed_materialize.py). Bad input exits 2 and fails without a retry.

    Daily (catchup off) and triggerable by hand. `validate` emits the `driver_stats` and
    `orders` asset events when it published: `orders` schedules training_pipeline.
    """
    ingest = pipeline_task(
        PIPELINE, "ingest", ["ingest", "--run-id", RUN_ID, "--end-time", RUN_TIME]
    )
    validate = pipeline_task(
        PIPELINE, "validate", ["validate", "--run-id", RUN_ID], outlets=[DRIVER_STATS, ORDERS]
    )
    feast_apply = feast_apply_task(PIPELINE)
    materialize = materialize_task()
    ingest >> validate >> feast_apply >> materialize


data_pipeline()
