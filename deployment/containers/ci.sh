#!/usr/bin/env bash
# CI for containers mode, on a machine set up by `make setup` (the .venv and .venv-airflow):
#   1. podman (apt) and its Docker API service
#   2. the base image (debootstrap when no registry is reachable) and the images
#   3. tests/containers: image checks, the data -> training -> batch DAGs with DockerOperator
#      through podman, the online service answering /inference from the serving image
#   4. the compose file validated by a real compose implementation (podman-compose)
# Measured on a loaded 2-core development machine (deployment/README.md): 14 min with the
# images cached, about 30 min cold (base image and all builds). Prints each step's duration.
set -euo pipefail

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

step "images"
bash $SCRIPTS/build_images.sh

step "tests/containers"
.venv/bin/pytest tests/containers -m containers -p no:cacheprovider -q

step "compose config"
COMPOSE_VENV="${TMPDIR:-/tmp}/driver-ranking-compose-venv"
[ -x "$COMPOSE_VENV/bin/podman-compose" ] || {
    python3 -m venv "$COMPOSE_VENV"
    "$COMPOSE_VENV/bin/pip" install --quiet podman-compose==1.6.0
}
ENV_FILE=$(mktemp)
# Throw-away secrets: validation only checks that every required variable is set.
for key in POSTGRES_PASSWORD AIRFLOW_DB_PASSWORD MLFLOW_DB_PASSWORD AIRFLOW_API_SECRET_KEY \
    AIRFLOW_JWT_SECRET GRAFANA_ADMIN_PASSWORD; do
    echo "$key=$(python3 -c 'import secrets; print(secrets.token_urlsafe(16))')" >>"$ENV_FILE"
done
"$COMPOSE_VENV/bin/podman-compose" -f deployment/docker-compose.yml --env-file "$ENV_FILE" \
    config >/dev/null
rm -f "$ENV_FILE"
if "$COMPOSE_VENV/bin/podman-compose" -f deployment/docker-compose.yml --env-file /dev/null \
    config >/dev/null 2>&1; then
    echo "[ci] compose accepted a configuration without secrets" >&2
    exit 1
fi

step "done"
