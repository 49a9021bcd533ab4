#!/usr/bin/env bash
# CI for containers mode, on a machine set up by `make setup` (the .venv and .venv-airflow):
#   1. podman (apt) and its Docker API service
#   2. the base image (debootstrap when no registry is reachable) and every image: the pipeline
#      base images, the four pipelines (each from its folder's Dockerfile), then the compose
#      stack's Redis, PostgreSQL, Prometheus, MLflow and Airflow
#   3. the online service's Bento (`make bento`), containerized by BentoML with podman on the
#      project's base image (bento.sh containerize)
#   4. tests/containers: image checks (each pipeline's Dockerfile built by the plain command);
#      the compose deployment (podman-compose config with and without the local override,
#      `compose demo` from an empty stack, credentials refused, Airflow's FAB roles (viewer
#      reads, admin triggers), state across down/up (back with the Celery workers), a DAG run on
#      a Celery worker and a worker killed mid-task, a crashed service restarted); the data ->
#      training -> batch DAGs with DockerOperator through podman, the online service from the
#      serving image and from the Bento's image
# Measured on a loaded 2-core development machine (deployment/README.md). Prints each step's
# duration.
#
#   ci.sh          every step
#   ci.sh build    steps 1-3 (podman, the images, the Bento's image): .ci/run runs them beside
#                  the test suite, which shares nothing with them (podman's own storage)
#   ci.sh test     steps 1 and 4, on the images built before
set -euo pipefail

PHASE="${1:-all}"
case "$PHASE" in
    all | build | test) ;;
    *) echo "unknown phase '$PHASE': use build, test or nothing (every step)" >&2; exit 2 ;;
esac

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
SCRIPTS=deployment/containers
STEP_START=$(date +%s)

step() {
    local now
    now=$(date +%s)
    echo "[ci] ${1} (previous step: $((now - STEP_START)) s)"
    STEP_START=$now
}

step "podman"
bash $SCRIPTS/podman.sh install
bash $SCRIPTS/podman.sh start
trap 'bash $SCRIPTS/platform.sh purge >/dev/null 2>&1 || true; bash $SCRIPTS/podman.sh stop' EXIT
eval "$(bash $SCRIPTS/podman.sh env)"

if [ "$PHASE" != test ]; then
    step "images"
    bash $SCRIPTS/build_images.sh compose

    step "bento image"
    BENTOML_HOME="$(mktemp -d /tmp/driver-ranking-bentoml.XXXXXX)" bash $SCRIPTS/bento.sh containerize
fi

if [ "$PHASE" != build ]; then
    step "tests/containers"
    .venv/bin/pytest tests/containers -m containers -p no:cacheprovider -q --durations=15
fi

step "done"
