"""DAG `monitoring`: hourly monitor -> judge_challenger -> [signal_champion, signal_drift]
(see its docstring)."""

from datetime import UTC, datetime

from airflow.sdk import Param, dag
from mlops_airflow.assets import CHAMPION, DRIFT
from mlops_airflow.orchestration import RUN_ID, RUN_TIME, pipeline_task

PIPELINE = "monitoring_pipeline"
QUIET_EXIT_CODE = 99  # `monitoring-pipeline alarm` when nothing crossed a threshold


@dag(
    dag_id="monitoring",
    schedule="@hourly",
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    tags=["monitoring", "evidently", "scheduled"],
    params={
        "window_minutes": Param(
            0, type="integer", minimum=0, description="Window length; 0: MONITORING_WINDOW_MINUTES"
        )
    },
)
def monitoring() -> None:
    """Monitoring: the served traffic of one window against the champion's training reference.

    monitor -> judge_challenger -> [signal_champion, signal_drift].

    - `monitor` judges the window ending at the run's time (RUN_TIME, one window per run,
      MONITORING_WINDOW_MINUTES long): the prediction log's online rows (served features and
      scores) against the reference logged with the champion in MLflow, with Evidently (data
      drift per feature and of the score, data quality), and the live ROC AUC and calibration
      of the chosen drivers once outcomes arrived, beside the champion's test AUC. Writes
      report.html and summary.json under ARTIFACT_ROOT/monitoring_pipeline/<run id>/, logs
      both to MLflow (experiment MONITORING_EXPERIMENT_NAME, tagged with the model version)
      and pushes the figures to Prometheus. A window without traffic succeeds and says so.
      Re-running a window gives the same files and reuses its MLflow run.
    - `signal_drift` emits the `drift` asset event (which schedules training_pipeline) only
      when the window raised an alarm; otherwise it ends skipped and emits nothing. It runs
      after the judgement: while a challenger is in shadow, right after one was promoted, or
      when the champion changed since the window was judged, the alarm starts no retraining
      (one challenger at a time; the task ends skipped and says why).
    - `judge_challenger` (PROMOTION_MODE=shadow; nothing to do without a `challenger`) compares
      champion and challenger on the outcomes of the requests the challenger shadowed since
      its start: live ROC AUC and log loss of each, the difference with an anytime-valid
      interval, valid at every hourly look. It promotes (moves `champion`, drops `challenger`),
      retires (drops `challenger`, tags the version with the reason and the evidence) or keeps
      watching; writes challenger.json, adds the comparison to the window's report (and both
      to its MLflow run) and pushes the figures to Prometheus.
    - `signal_champion` emits the `champion` event (batch scoring follows) only when the
      judgement promoted; otherwise it ends skipped.
    """
    monitor = pipeline_task(
        PIPELINE,
        "monitor",
        [
            "monitor",
            "--run-id",
            RUN_ID,
            "--window-end",
            RUN_TIME,
            "--window-minutes",
            "{{ params.window_minutes }}",
        ],
    )
    signal_drift = pipeline_task(
        PIPELINE,
        "signal_drift",
        ["alarm", "--run-id", RUN_ID],
        outlets=[DRIFT],
        skip_on_exit_code=QUIET_EXIT_CODE,
    )
    judge = pipeline_task(
        PIPELINE,
        "judge_challenger",
        ["judge-challenger", "--run-id", RUN_ID, "--now", RUN_TIME],
    )
    signal_champion = pipeline_task(
        PIPELINE,
        "signal_champion",
        ["promoted", "--run-id", RUN_ID],
        outlets=[CHAMPION],
        skip_on_exit_code=QUIET_EXIT_CODE,
    )
    # After monitor: the judgement adds its comparison to the window's report. The drift
    # signal after the judgement: it reads the run's decision (`retraining_held`).
    monitor >> judge >> [signal_champion, signal_drift]


monitoring()
