#!/usr/bin/env bash
# Idempotent set-up of a fresh Linux machine: uv, the two locked environments, redis-server,
# Prometheus (with promtool) and its pushgateway (Debian's packages; `make up` runs them).
# With --dev also the test and benchmark tools: Chromium (browser tests), wrk (load tests),
# kubectl (renders the Kubernetes manifests offline) and Spark for the batch paths (pyspark from
# the lock's `spark` group, a Java 17 runtime from Debian).
# A second run changes nothing and takes seconds.
set -euo pipefail
DEV=0
[ "${1:-}" = "--dev" ] && DEV=1
cd "$(dirname "$0")/.."

UV_VERSION="0.13.9"

if ! command -v uv >/dev/null 2>&1; then
    echo "installing uv ${UV_VERSION} with pip"
    python3 -m pip install --quiet "uv==${UV_VERSION}" \
        || { echo "could not install uv: install it (https://docs.astral.sh/uv/) and rerun make setup" >&2; exit 1; }
fi

# The pipelines' environment (.venv) and Airflow's (.venv-airflow), both from uv.lock.
# --compile-bytecode: .pyc files written once at install. Where PYTHONDONTWRITEBYTECODE is set
# (it is on these machines), Python otherwise recompiles every module at every start:
# `import feast` took 16.7 s that way, 10.1 s with bytecode; `import mlflow.pyfunc` 12.7 / 5.3 s.
# uv compiles only when it changed something, so a second run stays fast.
SYNC_GROUPS=()
[ "$DEV" = 1 ] && SYNC_GROUPS+=(--group spark)
uv sync --frozen --all-packages --quiet --compile-bytecode "${SYNC_GROUPS[@]}"
UV_PROJECT_ENVIRONMENT=.venv-airflow uv sync --frozen --only-group airflow --quiet --compile-bytecode

apt_install() {
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    if [ -z "${APT_UPDATED:-}" ]; then
        $sudo apt-get update -qq
        APT_UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

need_packages=()
command -v redis-server >/dev/null 2>&1 || need_packages+=(redis-server)
command -v prometheus >/dev/null 2>&1 || need_packages+=(prometheus)
command -v prometheus-pushgateway >/dev/null 2>&1 || need_packages+=(prometheus-pushgateway)
if [ "$DEV" = 1 ]; then
    command -v chromium >/dev/null 2>&1 || need_packages+=(chromium)
    command -v wrk >/dev/null 2>&1 || need_packages+=(wrk)
    # `kubectl kustomize` renders deployment/k8s for tests/test_k8s.py (any kubectl will do).
    command -v kubectl >/dev/null 2>&1 || need_packages+=(kubernetes-client)
    # pyspark 4 needs Java 17+; Debian bookworm's headless runtime is enough for local mode.
    command -v java >/dev/null 2>&1 || need_packages+=(openjdk-17-jre-headless)
fi
if [ ${#need_packages[@]} -gt 0 ]; then
    if command -v apt-get >/dev/null 2>&1; then
        echo "installing ${need_packages[*]} with apt-get"
        apt_install "${need_packages[@]}"
    else
        echo "please install: ${need_packages[*]} with your package manager, then rerun make setup" >&2
        exit 1
    fi
fi
echo "setup complete: .venv (pipelines), .venv-airflow (Airflow), $(redis-server --version | cut -d' ' -f1-3), $(prometheus --version 2>&1 | head -1 | cut -d' ' -f1-3)"
