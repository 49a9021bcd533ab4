#!/usr/bin/env bash
# Build the pipeline images (and the small Redis image the containers platform uses) with podman,
# or with Docker: CONTAINER_ENGINE=docker (then pass BASE_IMAGE, e.g. python:3.11-slim-bookworm).
#
#   build_images.sh                      base image if needed, then all images
#   build_images.sh training_pipeline    one pipeline (data_pipeline|training_pipeline|model_serving|
#                                        monitoring_pipeline): <pipeline>/Dockerfile, after the
#                                        pipeline base images (pipeline-base.Dockerfile)
#   build_images.sh redis                the Redis image (deployment/containers/redis.Dockerfile)
#   build_images.sh mlflow airflow       the compose deployment's MLflow and Airflow images
#   build_images.sh postgres             PostgreSQL from Debian's package (docker-compose.local.yml)
#   build_images.sh prometheus           Prometheus + pushgateway from Debian's packages (same)
#   build_images.sh compose              every image the compose deployment starts here
#
# Image names follow the operator factory: <MLOPS_TASK_IMAGE_PREFIX>-<pipeline>:<MLOPS_TASK_IMAGE_TAG>
# (default driver-ranking-training-pipeline:latest). BASE_IMAGE overrides the base image;
# otherwise build_base.sh provides it (pulled where a registry is reachable, else debootstrapped).
# SPARK=1 builds the pipeline images with --build-arg SPARK=1 (Spark for the batch paths).
# Prints one line per image: name, build seconds, size.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
export CONTAINERS_CONF="$ROOT/deployment/containers/containers.conf"
PREFIX="${MLOPS_TASK_IMAGE_PREFIX:-driver-ranking}"
TAG="${MLOPS_TASK_IMAGE_TAG:-latest}"
PIPELINES=(data_pipeline training_pipeline model_serving monitoring_pipeline)

image_name() { echo "${PREFIX}-${1//_/-}:${TAG}"; }

# Each pipeline's image from its own Dockerfile in its folder; they build on the two pipeline
# base images (builder, runtime), which build_pipeline_bases makes first.
dockerfile_for() {
    case "$1" in
        data_pipeline | training_pipeline | model_serving | monitoring_pipeline)
            echo "$1/Dockerfile" ;;
        redis | mlflow | airflow | postgres | prometheus) echo "deployment/containers/$1.Dockerfile" ;;
        *)
            echo "unknown image '$1': use data_pipeline, training_pipeline, model_serving," \
                "monitoring_pipeline, redis, mlflow, airflow, postgres, prometheus or compose" >&2
            exit 2
            ;;
    esac
}

# build IMAGE DOCKERFILE LOG [ARGS...]: one engine build from the repository root.
build() {
    local image="$1" dockerfile="$2" log="$3"
    shift 3
    # podman: --format docker keeps HEALTHCHECK and ONBUILD (the OCI format drops both);
    # --layers caches.
    local engine_args=()
    [ "$ENGINE" = podman ] && engine_args=(--format docker --layers)
    if ! "$ENGINE" build "${engine_args[@]}" --build-arg "BASE_IMAGE=$BASE_IMAGE" "$@" \
        -f "$dockerfile" -t "$image" . >"$log" 2>&1; then
        tail -30 "$log" >&2
        echo "building $image failed; full log: $log" >&2
        exit 1
    fi
}

# The pipeline base images (pipeline-base.Dockerfile), rebuilt before any pipeline image so
# that they carry the current uv.lock (layer cache: seconds when nothing changed). Their names
# are the ones the pipeline Dockerfiles' FROM lines use.
PIPELINE_BASES_BUILT=0
build_pipeline_bases() {
    [ "$PIPELINE_BASES_BUILT" = 0 ] || return 0
    local stage start
    start=$(date +%s)
    for stage in builder runtime; do
        build "driver-ranking-pipeline-${stage}:latest" deployment/containers/pipeline-base.Dockerfile \
            "$LOG_DIR/pipeline-${stage}.log" --target "$stage"
    done
    # uv on the base image, the base of the online service's Bento image (bento.sh)
    build driver-ranking-uv:latest deployment/containers/pipeline-base.Dockerfile \
        "$LOG_DIR/uv.log" --target uv
    printf '%-44s built in %4ss\n' "driver-ranking-{pipeline-builder,pipeline-runtime,uv}" "$(($(date +%s) - start))"
    PIPELINE_BASES_BUILT=1
}

build_one() {
    local name="$1" image dockerfile start seconds size
    image=$(image_name "$name")
    dockerfile=$(dockerfile_for "$name")
    case "$name" in
        data_pipeline | training_pipeline | model_serving | monitoring_pipeline) build_pipeline_bases ;;
    esac
    start=$(date +%s)
    build "$image" "$dockerfile" "$LOG_DIR/${name}.log" \
        --build-arg "TRAINING_IMAGE=$(image_name training_pipeline)" ${SPARK:+--build-arg "SPARK=$SPARK"}
    seconds=$(($(date +%s) - start))
    size=$("$ENGINE" image inspect --format '{{.Size}}' "$image")
    printf '%-44s built in %4ss  size %5s MB\n' "$image" "$seconds" "$((size / 1000000))"
}

ENGINE="${CONTAINER_ENGINE:-podman}"
if [ "$ENGINE" = podman ]; then
    command -v podman >/dev/null || bash "$ROOT/deployment/containers/podman.sh" install
fi
BASE_IMAGE="${BASE_IMAGE:-$(bash "$ROOT/deployment/containers/build_base.sh")}"
echo "base image: $BASE_IMAGE"

LOG_DIR="${MLOPS_STATE_DIR:-.platform}/podman/build-logs"
mkdir -p "$LOG_DIR"

targets=()
for arg in "$@"; do
    # The compose stack: the pipeline images (task containers, serving; MLflow builds on the
    # training image), then Redis, PostgreSQL, Prometheus (+ pushgateway), MLflow and Airflow.
    if [ "$arg" = compose ]; then
        targets+=("${PIPELINES[@]}" redis postgres prometheus mlflow airflow)
    else
        targets+=("$arg")
    fi
done
[ ${#targets[@]} -gt 0 ] || targets=("${PIPELINES[@]}" redis)
for target in "${targets[@]}"; do
    build_one "$target"
done
