"""The batch serving DAG: score a request file with the champion model."""

from datetime import UTC, datetime

from airflow.sdk import Param, dag
from mlops_airflow.assets import CHAMPION
from mlops_airflow.orchestration import RUN_ID, pipeline_task
from mlops_airflow.tasks import feast_apply_task

PIPELINE = "model_serving"


@dag(
    dag_id="batch_serving_pipeline",
    schedule=[CHAMPION],
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    tags=["model_serving", "batch"],
    params={
        # Optional: null (the UI's empty field) means the data pipeline's request file.
        "requests_path": Param(
            None,
            type=["null", "string"],
            description="Request file (csv or parquet); empty: DATA_DIR/batch_requests.parquet",
        ),
        # Optional: null means BATCH_ENGINE (sorted unless set), so the engine is a setting.
        "engine": Param(
            None,
            type=["null", "string"],
            enum=[None, "sorted", "duckdb", "feast", "spark"],
            description="Point-in-time engine; empty: BATCH_ENGINE",
        ),
    },
)
def batch_serving_pipeline() -> None:
    """Batch serving: score a file of driver requests with the champion model.

    Runs when a new champion is promoted (the `champion` asset event of training_pipeline's
    register task) and whenever triggered by hand.

    feast_apply -> extract -> predict -> log_predictions. `extract` joins each request row
    (driver_id, event_timestamp) with the driver's features as of that time (Feast point-in-time
    semantics; a numpy sorted search by default, or a DuckDB ASOF join); `predict` scores the rows
    that have features with `models:/driver_ranking@champion` and writes predictions.parquet
    (request columns, features, prediction, has_features, model name and version, run id) and
    summary.json under ARTIFACT_ROOT/model_serving/<run id>/batch/. Rows without features are kept
    with a null prediction. `log_predictions` adds the rows to the prediction log in the online
    service's shape (source `batch`; MLOPS_DATA_DIR/prediction_log). Trigger params: `requests_path`
    (csv or parquet; empty = the data pipeline's batch_requests.parquet) and `engine` (`sorted`,
    `duckdb`, the reference `feast` or `spark`; empty = BATCH_ENGINE). With `spark` (and
    FEAST_OFFLINE_STORE=spark) the join, the scoring (`mlflow.pyfunc.spark_udf`) and the writes
    run in Spark, and predictions.parquet is a dataset partitioned by request_date.

    Retries: every task retries with exponential backoff (MLOPS_TASK_RETRY_*). predict writes by
    rename (a killed try's temporary file is removed by the retry) and log_predictions names
    its files after the run, so a retry replaces them instead of logging rows twice
    (tests/batch/test_killed_tasks.py).
    """
    feast_apply = feast_apply_task(PIPELINE)
    extract = pipeline_task(
        PIPELINE,
        "extract",
        [
            "extract",
            "--run-id",
            RUN_ID,
            "--requests",
            '{{ params.requests_path or "" }}',
            "--engine",
            '{{ params.engine or "" }}',
        ],
    )
    predict = pipeline_task(PIPELINE, "predict", ["predict", "--run-id", RUN_ID])
    log_predictions = pipeline_task(
        PIPELINE, "log_predictions", ["log-predictions", "--run-id", RUN_ID]
    )
    feast_apply >> extract >> predict >> log_predictions


batch_serving_pipeline()
