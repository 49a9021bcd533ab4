#!/usr/bin/env bash
# Podman as this project's container engine: there is no Docker engine on the machines, but
# podman serves a Docker-compatible API that DockerOperator (docker-py) and compose clients use.
#
#   podman.sh install   apt-get install podman, runc (idempotent)
#   podman.sh start     start `podman system service` on a project socket (idempotent)
#   podman.sh stop      stop the service started by `start`
#   podman.sh status    print whether the service answers
#   podman.sh env       print the exports a shell needs (eval "$(podman.sh env)")
#
# The socket and pid file live under $MLOPS_STATE_DIR/podman (default .platform/podman).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
STATE_DIR="${MLOPS_STATE_DIR:-.platform}"
[[ "$STATE_DIR" = /* ]] || STATE_DIR="$ROOT/$STATE_DIR"
PODMAN_DIR="$STATE_DIR/podman"
SOCKET="$PODMAN_DIR/podman.sock"
PIDFILE="$PODMAN_DIR/service.pid"
export CONTAINERS_CONF="$ROOT/deployment/containers/containers.conf"

install() {
    if command -v podman >/dev/null && command -v runc >/dev/null; then
        return 0
    fi
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq podman runc >/dev/null
}

answers() {
    # The Docker API's ping endpoint: what docker-py calls first.
    [ -S "$SOCKET" ] && curl -fsS --max-time 2 --unix-socket "$SOCKET" http://d/_ping >/dev/null 2>&1
}

start() {
    install
    if answers; then
        echo "podman service already running: unix://$SOCKET"
        return 0
    fi
    mkdir -p "$PODMAN_DIR"
    rm -f "$SOCKET"
    # --time=0: never exit on idle; a DAG run may leave the API unused for minutes.
    nohup podman system service --time=0 "unix://$SOCKET" >"$PODMAN_DIR/service.log" 2>&1 &
    echo $! >"$PIDFILE"
    for _ in $(seq 1 50); do
        if answers; then
            # Like docker.sock (root:docker, 0660): the group may use the API. The compose
            # Airflow containers run with that group (DOCKER_SOCKET_GID, root's group here).
            chmod 0660 "$SOCKET"
            echo "podman service running: unix://$SOCKET"
            return 0
        fi
        sleep 0.2
    done
    echo "podman service did not answer on $SOCKET; see $PODMAN_DIR/service.log" >&2
    exit 1
}

stop() {
    if [ -f "$PIDFILE" ]; then
        kill "$(cat "$PIDFILE")" 2>/dev/null || true
        rm -f "$PIDFILE" "$SOCKET"
        echo "podman service stopped"
    else
        echo "podman service not started by this script"
    fi
}

status() {
    if answers; then
        echo "podman service: up (unix://$SOCKET)"
    else
        echo "podman service: down (start it with deployment/containers/podman.sh start)"
        return 1
    fi
}

env_exports() {
    cat <<EOF
export CONTAINERS_CONF=$CONTAINERS_CONF
export DOCKER_HOST=unix://$SOCKET
export MLOPS_TASK_DOCKER_URL=unix://$SOCKET
EOF
}

case "${1:-}" in
    install) install ;;
    start) start ;;
    stop) stop ;;
    status) status ;;
    env) env_exports ;;
    *)
        echo "usage: $0 install|start|stop|status|env" >&2
        exit 2
        ;;
esac
