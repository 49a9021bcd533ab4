"""Training pipeline: point-in-time Feast data -> logistic regression -> gated MLflow registration.

Each task runs one `training-pipeline` command under this run's artifact directory
(`ARTIFACT_ROOT/training_pipeline/<run id>`), so concurrent runs never share files:

1. `feast_apply`: register the feature repo's definitions.
2. `extract`: labelled orders joined to the `driver_ranking` feature service, point in time.
3. `validate`: columns, dtypes, 0/1 labels, null share per feature (`TRAIN_MAX_NULL_SHARE`).
4. `prepare`: keep the training window (`TRAIN_WINDOW_DAYS`), drop rows without features,
   split by event time: the latest `TRAIN_TEST_SIZE` share is the test set.
5. `train`: StandardScaler + elastic-net LogisticRegression (`TRAIN_C`, `TRAIN_L1_RATIO`)
   logged to MLflow with params, metrics, a float64 signature, the data fingerprint and
   diagnostic plots; its prediction is the probability of completion.
6. `evaluate`: ROC AUC, log loss, Brier score on the recent test split beside the constant
   baseline; a reliability diagram.
7. `register`: release gates (thresholds, beat the baseline); a failure fails this task with
   the reason. Then promotion: a candidate with new data that beats the champion on the same
   test split by `TRAIN_MIN_CHAMPION_IMPROVEMENT` becomes a new registry version and
   `champion` (`PROMOTION_MODE=direct`) or `challenger` (`shadow`: scored on live traffic
   beside the champion until monitoring's live judgement decides); otherwise it stays logged
   only and the run says why (the task succeeds).
8. `publish` / `publish_challenger`: emit the `champion` / `challenger` event when register
   moved that alias; otherwise they end skipped (exit code 99), so no event and a green run.

Retries: every task retries with exponential backoff (MLOPS_TASK_RETRY_*). All are safe to
repeat, also after a kill mid-write: the run directory's files are written by rename; `train`
marks the MLflow run of a killed try KILLED and reuses a finished run of this pipeline run
(found by its tags); `register` finds the version already made from the training run and only
moves the alias (tests/integration/test_killed_tasks.py). A release gate that fails exits 2
and fails without a retry.

Scheduled on Airflow Assets: fresh labelled orders (the `orders` event of data_pipeline) or
drift (the `drift` event of monitoring, emitted when a window's drift or live ROC AUC crossed
its threshold); triggerable by hand. `publish` emits the `champion` event only when the alias
moved, which starts batch_serving_pipeline.
"""

from __future__ import annotations

from datetime import UTC, datetime

from airflow.sdk import chain, dag
from mlops_airflow.assets import CHALLENGER, CHAMPION, DRIFT, ORDERS
from mlops_airflow.orchestration import RUN_ID, pipeline_task
from mlops_airflow.tasks import feast_apply_task

PIPELINE = "training_pipeline"
STEPS = ("extract", "validate", "prepare", "train", "evaluate", "register")
QUIET_EXIT_CODE = 99  # `training-pipeline publish` when the alias did not move


@dag(
    dag_id="training_pipeline",
    schedule=(ORDERS | DRIFT),
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    tags=["training", "mlflow", "feast"],
    doc_md=__doc__,
)
def training_pipeline() -> None:
    """Train, evaluate, gate and register the driver ranking model."""
    publish = [
        pipeline_task(
            PIPELINE,
            task_id,
            ["publish", "--run-id", RUN_ID, "--role", asset.name],
            outlets=[asset],
            skip_on_exit_code=QUIET_EXIT_CODE,
        )
        for task_id, asset in (("publish", CHAMPION), ("publish_challenger", CHALLENGER))
    ]
    chain(
        feast_apply_task(PIPELINE),
        *(pipeline_task(PIPELINE, step, [step, "--run-id", RUN_ID]) for step in STEPS),
        publish,
    )


training_pipeline()
