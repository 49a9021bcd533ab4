"""DAG `materialize`: hourly feast_apply -> materialize (see its docstring)."""

from datetime import UTC, datetime

from airflow.sdk import Param, dag
from mlops_airflow.tasks import feast_apply_task, materialize_task


@dag(
    dag_id="materialize",
    schedule="@hourly",
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    tags=["data_pipeline", "feast", "scheduled"],
    params={"engine": Param("fast", enum=["fast", "feast"], description="Materialization")},
)
def materialize() -> None:
    """Hourly materialization: keep Redis up to date with the published offline store.

    feast_apply -> materialize. Each run loads, per feature view, the latest rows from the last
    recorded materialization end up to the run's time (RUN_TIME, never "now"), so a delayed run
    still loads exactly its interval. No catchup: a missed hour is covered by the next run's
    interval. Trigger param `engine`: `fast` (default) or `feast` (Feast's own path).

    Both tasks retry with exponential backoff: a materialize killed mid-write leaves whole rows
    and an unrecorded interval, which its retry loads again (tests/test_killed_materialize.py).
    """
    feast_apply = feast_apply_task("data_pipeline")
    load = materialize_task()
    feast_apply >> load


materialize()
