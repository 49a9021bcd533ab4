"""DAG `maintain_datasets`: hourly compaction and retention of the loop's datasets."""

from datetime import UTC, datetime

from airflow.sdk import dag
from mlops_airflow.orchestration import RUN_ID, RUN_TIME, pipeline_task

PIPELINE = "data_pipeline"


@dag(
    dag_id="maintain_datasets",
    schedule="15 * * * *",
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    tags=["data_pipeline", "maintenance", "scheduled"],
)
def maintain_datasets() -> None:
    """Compaction and retention of the prediction log, the outcomes and the labelled dispatches.

    `maintain` (`data-pipeline maintain-datasets`) merges each hour's small files into one once
    the hour ended PREDICTION_LOG_COMPACT_AFTER_MINUTES ago (readers running meanwhile see each
    row once), and deletes the days older than each dataset's retention (never the current
    day, never labelled dispatches within TRAIN_WINDOW_DAYS of the newest). It runs at a
    quarter past each hour, after the default ten-minute lag. It emits no asset event: it
    changes how the data is stored, not what it holds, so nothing downstream has news to act on.
    """
    pipeline_task(
        PIPELINE, "maintain", ["maintain-datasets", "--run-id", RUN_ID, "--now", RUN_TIME]
    )


maintain_datasets()
