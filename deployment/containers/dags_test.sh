#!/usr/bin/env bash
# Run DAGs once with `airflow dags test` in containers mode: every task is a DockerOperator
# container from its pipeline image, started through podman's Docker API socket, sharing the
# artifact volume and reaching Redis and MLflow by name on the platform network.
#
#   dags_test.sh data_pipeline training_pipeline batch_serving_pipeline
#
# Needs: the images (build_images.sh), the podman service (podman.sh start) and the platform
# (platform.sh up). Uses a throw-away Airflow home (SQLite) so it never touches the local
# platform's Airflow. Prints one line per DAG: id, result, seconds. Exit code 1 if one fails.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
eval "$(bash deployment/containers/podman.sh env)"
[ $# -gt 0 ] || set -- data_pipeline training_pipeline batch_serving_pipeline

AIRFLOW_STATE=$(mktemp -d /tmp/driver-ranking-dags-test.XXXXXX)
LOG_DIR="${DAGS_TEST_LOG_DIR:-$AIRFLOW_STATE/logs}"
mkdir -p "$LOG_DIR"
export MLOPS_STATE_DIR="$AIRFLOW_STATE"
export MLOPS_TASK_MODE=containers
export MLOPS_TASK_RETRIES="${MLOPS_TASK_RETRIES:-0}"
PLATFORM=.venv/bin/mlops-platform

$PLATFORM airflow db migrate >"$LOG_DIR/db-migrate.log" 2>&1 \
    || { tail -20 "$LOG_DIR/db-migrate.log" >&2; exit 1; }

failed=0
for dag_id in "$@"; do
    start=$(date +%s)
    if $PLATFORM airflow dags test "$dag_id" >"$LOG_DIR/$dag_id.log" 2>&1; then
        result=success
    else
        result=FAILED
        failed=1
        grep -E "ERROR|Error|error" "$LOG_DIR/$dag_id.log" | tail -15 >&2 || true
    fi
    printf '%-26s %-8s %4ss  (log: %s)\n' "$dag_id" "$result" "$(($(date +%s) - start))" \
        "$LOG_DIR/$dag_id.log"
    [ "$failed" -eq 0 ] || break
done
exit "$failed"
