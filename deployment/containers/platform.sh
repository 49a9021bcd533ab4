#!/usr/bin/env bash
# The containers platform for DockerOperator tasks, run with podman (no compose needed):
# a network where task containers reach Redis and MLflow by name, the shared artifact volume,
# Redis (driver-ranking-redis image), the MLflow tracking server (training image, SQLite backend,
# artifacts proxied) and, on request, the online service (model-serving image).
#
#   platform.sh up          network, volumes, Redis, MLflow; returns when both answer
#   platform.sh serve       the online service (needs a champion model and materialized features)
#   platform.sh down        remove the containers (volumes kept)
#   platform.sh purge       down, then remove the volumes and the network
#   platform.sh ports       host addresses of MLflow and the online service
#
# Names follow the operator factory's settings (same environment variables, same defaults).
# Host ports are free ports picked by podman on 127.0.0.1 (see `ports`).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
export CONTAINERS_CONF="$ROOT/deployment/containers/containers.conf"
PREFIX="${MLOPS_TASK_IMAGE_PREFIX:-driver-ranking}"
TAG="${MLOPS_TASK_IMAGE_TAG:-latest}"
NETWORK="${MLOPS_TASK_DOCKER_NETWORK:-driver-ranking}"
VOLUME="${MLOPS_TASK_ARTIFACT_VOLUME:-driver-ranking-artifacts}"
MLFLOW_VOLUME="${PREFIX}-mlflow"
REDIS_NAME="${PREFIX}-redis"
MLFLOW_NAME="${PREFIX}-mlflow"
SERVING_NAME="${PREFIX}-serving"
MODEL_NAME="${MLFLOW_MODEL_NAME:-driver_ranking}"

log() { echo "[platform] $*" >&2; }

running() { [ "$(podman inspect --format '{{.State.Running}}' "$1" 2>/dev/null)" = "true" ]; }

host_port() { podman port "$1" "$2" 2>/dev/null | head -1; }

wait_for() {  # NAME SECONDS COMMAND...: retry COMMAND until it succeeds
    local name="$1" seconds="$2"
    shift 2
    for _ in $(seq 1 "$((seconds * 2))"); do
        if "$@" >/dev/null 2>&1; then
            return 0
        fi
        running "$name" || break
        sleep 0.5
    done
    podman logs --tail 30 "$name" >&2 || true
    log "$name did not become ready"
    return 1
}

up() {
    podman network exists "$NETWORK" || podman network create "$NETWORK" >/dev/null
    podman volume exists "$VOLUME" || podman volume create "$VOLUME" >/dev/null
    podman volume exists "$MLFLOW_VOLUME" || podman volume create "$MLFLOW_VOLUME" >/dev/null
    if ! running "$REDIS_NAME"; then
        podman rm -f "$REDIS_NAME" >/dev/null 2>&1 || true
        podman run -d --name "$REDIS_NAME" --network "$NETWORK" --network-alias redis \
            "${PREFIX}-redis:${TAG}" >/dev/null
    fi
    if ! running "$MLFLOW_NAME"; then
        podman rm -f "$MLFLOW_NAME" >/dev/null 2>&1 || true
        # MLflow 3 rejects Host headers other than localhost and private IPs unless allowed:
        # task containers call it as http://mlflow:5000.
        podman run -d --name "$MLFLOW_NAME" --network "$NETWORK" --network-alias mlflow \
            -p 127.0.0.1::5000 -v "$MLFLOW_VOLUME:/mlflow" \
            -e MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false \
            --entrypoint mlflow "${PREFIX}-training-pipeline:${TAG}" \
            server --backend-store-uri sqlite:////mlflow/mlflow.db \
            --artifacts-destination /mlflow/artifacts --serve-artifacts \
            --host 0.0.0.0 --port 5000 --workers 1 \
            --allowed-hosts "mlflow,mlflow:5000,localhost,localhost:*,127.0.0.1,127.0.0.1:*" \
            >/dev/null
    fi
    wait_for "$REDIS_NAME" 30 podman exec "$REDIS_NAME" redis-cli ping
    wait_for "$MLFLOW_NAME" 90 curl -fsS "http://$(host_port "$MLFLOW_NAME" 5000)/health"
    log "up: network $NETWORK, volume $VOLUME, redis, mlflow at http://$(host_port "$MLFLOW_NAME" 5000)"
}

serve() {
    podman rm -f "$SERVING_NAME" >/dev/null 2>&1 || true
    podman run -d --name "$SERVING_NAME" --network "$NETWORK" -p 127.0.0.1::3000 \
        -v "$VOLUME:/artifacts" \
        -e REDIS_HOST=redis -e REDIS_PORT=6379 -e MLFLOW_TRACKING_URI=http://mlflow:5000 \
        -e MLFLOW_MODEL_NAME="$MODEL_NAME" \
        -e SERVING_HOST=0.0.0.0 -e SERVING_PORT=3000 "${PREFIX}-model-serving:${TAG}" serve >/dev/null
    wait_for "$SERVING_NAME" 120 curl -fsS "http://$(host_port "$SERVING_NAME" 3000)/readyz"
    log "online service at http://$(host_port "$SERVING_NAME" 3000)"
}

down() {
    podman rm -f "$SERVING_NAME" "$MLFLOW_NAME" "$REDIS_NAME" >/dev/null 2>&1 || true
    log "containers removed (volumes $VOLUME, $MLFLOW_VOLUME kept)"
}

purge() {
    down
    podman volume rm -f "$VOLUME" "$MLFLOW_VOLUME" >/dev/null 2>&1 || true
    podman network rm -f "$NETWORK" >/dev/null 2>&1 || true
    log "volumes and network removed"
}

ports() {
    echo "mlflow=http://$(host_port "$MLFLOW_NAME" 5000)"
    if running "$SERVING_NAME"; then
        echo "serving=http://$(host_port "$SERVING_NAME" 3000)"
    fi
}

case "${1:-}" in
    up) up ;;
    serve) serve ;;
    down) down ;;
    purge) purge ;;
    ports) ports ;;
    *)
        echo "usage: $0 up|serve|down|purge|ports" >&2
        exit 2
        ;;
esac
