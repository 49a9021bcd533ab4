"""Run by Airflow's interpreter: load every pipeline's DAG folder, write its tasks as JSON.

Used by test_dag_integrity.py (the pipelines' environment has no Airflow). Loading uses the
DagBag, so import errors, cycles and duplicate DAG ids surface as they would in the scheduler.
"""

from __future__ import annotations

import json
import sys

from airflow.dag_processing.dagbag import DagBag
from mlops_common.settings import project_root


def _asset_names(dag: object) -> list[str]:
    """The assets a DAG is scheduled on, e.g. ["AssetAny", "drift", "orders"] (empty for time
    schedules): the condition's kind, then the asset names."""
    condition = getattr(getattr(dag, "timetable", None), "asset_condition", None)
    if condition is None:
        return []

    def names(node: object) -> list[str]:
        if hasattr(node, "objects"):
            return [name for child in node.objects for name in names(child)]
        return [str(getattr(node, "name", node))]

    return [type(condition).__name__, *sorted(names(condition))]


def inventory() -> dict[str, object]:
    dags: dict[str, object] = {}
    errors: dict[str, str] = {}
    # Every pipeline folder's `dags/`, as the local platform configures its DAG bundles.
    for folder in sorted(project_root().glob("*/dags")):
        pipeline = folder.parent.name
        bag = DagBag(folder, bundle_path=folder, bundle_name=pipeline)
        errors.update({path: str(err) for path, err in bag.import_errors.items()})
        for dag_id, dag in bag.dags.items():
            tasks = {}
            for task in dag.tasks:
                tasks[task.task_id] = {
                    "operator": type(task).__name__,
                    "image": getattr(task, "image", None),
                    "command": getattr(task, "command", None),
                    "bash_command": getattr(task, "bash_command", None),
                    "upstream": sorted(task.upstream_task_ids),
                    "retries": task.retries,
                    "retry_delay": task.retry_delay.total_seconds(),
                    "retry_exponential_backoff": task.retry_exponential_backoff,
                    "max_retry_delay": task.max_retry_delay.total_seconds()
                    if task.max_retry_delay
                    else None,
                    "mounts": [str(m) for m in getattr(task, "mounts", []) or []],
                    "environment": getattr(task, "environment", None),
                    "outlets": sorted(getattr(o, "name", str(o)) for o in task.outlets),
                    "skip_on_exit_code": getattr(task, "skip_on_exit_code", None),
                }
            dags[dag_id] = {
                "pipeline": pipeline,
                "file": dag.fileloc,
                "tasks": tasks,
                "tags": sorted(dag.tags),
                "catchup": dag.catchup,
                "schedule": str(dag.schedule),
                "timetable": type(dag.timetable).__name__,
                "asset_condition": _asset_names(dag),
                "doc": bool(dag.doc_md or dag.description),
                "start_date_tz": str(dag.start_date.tzinfo) if dag.start_date else None,
            }
    return {"dags": dags, "errors": errors}


if __name__ == "__main__":
    # Airflow logs to stdout, so the inventory goes to the file named by the first argument.
    with open(sys.argv[1], "w") as out:
        json.dump(inventory(), out, default=str)
