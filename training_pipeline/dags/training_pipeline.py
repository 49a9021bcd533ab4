"""Training pipeline: point-in-time Feast data -> ElasticNet -> gated MLflow registration.

Each task runs one `training-pipeline` command under this run's artifact directory
(`ARTIFACT_ROOT/training_pipeline/<run id>`), so concurrent runs never share files:

1. `feast_apply`: register the feature repo's definitions.
2. `extract`: labelled orders joined to the `driver_ranking` feature service, point in time.
3. `validate`: columns, dtypes, 0/1 labels, null share per feature (`TRAIN_MAX_NULL_SHARE`).
4. `prepare`: drop rows without features, deterministic stratified split (`TRAIN_SEED`,
   `TRAIN_TEST_SIZE`).
5. `train`: StandardScaler + ElasticNet (`TRAIN_ALPHA`, `TRAIN_L1_RATIO`) logged to MLflow
   with params, metrics, a float64 signature, the data fingerprint and diagnostic plots.
6. `evaluate`: RMSE, MAE, R2, ROC AUC on the held-out split, beside the constant baseline.
7. `register`: release gates (thresholds, beat the baseline, not worse than the champion);
   when all pass, a new registry version and the `champion` alias moved to it. A rejected
   model fails this task with the reason and leaves the champion where it was.

Scheduled on Airflow Assets: fresh labelled orders (the `orders` event of data_pipeline) or
drift (the `drift` event of monitoring, emitted when a window's drift or live ROC AUC crossed
its threshold); triggerable by hand. `register` emits the `champion` event when the alias
moved, which starts batch_serving_pipeline.
"""

from __future__ import annotations

from datetime import UTC, datetime

from airflow.sdk import chain, dag
from mlops_airflow.assets import CHAMPION, DRIFT, ORDERS
from mlops_airflow.orchestration import RUN_ID, pipeline_task
from mlops_airflow.tasks import feast_apply_task

PIPELINE = "training_pipeline"
STEPS = ("extract", "validate", "prepare", "train", "evaluate", "register")


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
    # register succeeds only when the gates passed and the alias moved: its champion event.
    outlets = {"register": [CHAMPION]}
    chain(
        feast_apply_task(PIPELINE),
        *(
            pipeline_task(PIPELINE, step, [step, "--run-id", RUN_ID], outlets=outlets.get(step, []))
            for step in STEPS
        ),
    )


training_pipeline()
