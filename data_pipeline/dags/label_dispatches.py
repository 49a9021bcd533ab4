"""DAG `label_dispatches`: hourly collect_labels (see its docstring)."""

from datetime import UTC, datetime

from airflow.sdk import dag
from mlops_airflow.assets import LABELS
from mlops_airflow.orchestration import RUN_ID, RUN_TIME, pipeline_task

PIPELINE = "data_pipeline"
QUIET_EXIT_CODE = 99  # `data-pipeline collect-labels` when nothing new was labelled


@dag(
    dag_id="label_dispatches",
    schedule="@hourly",
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    tags=["data_pipeline", "labels", "scheduled"],
)
def label_dispatches() -> None:
    """Labelled dispatches: served requests whose outcome arrived become training rows.

    `collect_labels` joins the chosen drivers of the requests the online service answered in
    the LABELS_WINDOW_HOURS before the run's time (the prediction log, with the features as
    served) with their outcomes (DATA_DIR/outcomes), counting late, duplicate, unknown and
    mismatched outcomes as monitoring does, checks the rows and writes the new ones to
    DATA_DIR/labelled_dispatches (hour partitions, one file per run and hour: a re-run adds
    nothing twice; only the partitions of the window are read). It emits the
    `labels` asset event when it wrote rows, and ends skipped otherwise. A malformed outcome
    file fails the task with its name and problem; nothing is written then.
    """
    pipeline_task(
        PIPELINE,
        "collect_labels",
        ["collect-labels", "--run-id", RUN_ID, "--end-time", RUN_TIME],
        outlets=[LABELS],
        skip_on_exit_code=QUIET_EXIT_CODE,
    )


label_dispatches()
