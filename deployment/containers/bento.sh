#!/usr/bin/env bash
# The online service as a Bento, from uv.lock (model_serving/bentofile.yaml):
#
#   bento.sh build          build the Bento into $BENTOML_HOME (default ~/bentoml); prints its tag
#   bento.sh containerize   build, then `bentoml containerize` it with podman
#
# The Bento's build context is generated in model_serving/bento-build/ (ignored by git): the
# workspace packages model-serving needs according to the lock (`uv export --package`),
# installed without dependencies and flat so the Bento's src imports them, and requirements.txt
# = the lock's pins of their third-party dependencies (BentoML reads files below the current
# folder only, hence one folder for both). Uses .venv's bentoml; BENTOML_HOME picks the store.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
PACKAGE=model-serving
BUILD=model_serving/bento-build
BENTOML="$ROOT/.venv/bin/bentoml"
UV="${UV:-$(command -v uv || echo "$ROOT/.venv/bin/uv")}"

log() { echo "[bento] $*" >&2; }

build() {
    [ -x "$BENTOML" ] || { echo "bentoml is not installed in .venv: run make setup" >&2; exit 2; }
    rm -rf "$BUILD"
    mkdir -p "$BUILD"
    local export_args=(export --frozen --no-dev --package "$PACKAGE" --no-hashes --no-header
        --no-annotate)
    "$UV" "${export_args[@]}" --no-emit-workspace -o "$BUILD/requirements.txt" >/dev/null 2>&1
    local members
    members=$("$UV" "${export_args[@]}" 2>/dev/null | sed -n 's|^-e \(\./.*\)$|\1|p')
    log "workspace packages of $PACKAGE: $(echo $members)"
    # shellcheck disable=SC2086 # one argument per member
    "$UV" pip install --quiet --python "$ROOT/.venv/bin/python" --no-deps --no-compile \
        --target "$BUILD" $members
    rm -rf "$BUILD/bin"
    # The one Feast feature repo, at the path the settings derive from the project root (the
    # Bento's src folder when it is served), as in the pipeline images.
    mkdir -p "$BUILD/data_pipeline"
    cp -r data_pipeline/feature_repo "$BUILD/data_pipeline/feature_repo"
    (cd "$BUILD" && "$BENTOML" build -f ../bentofile.yaml --output tag . | sed -n "s/^__tag__://p")
}

containerize() {
    local tag
    tag=$(build)
    log "built $tag; containerizing with podman"
    eval "$(bash deployment/containers/podman.sh env)"
    "$BENTOML" containerize --backend podman "$tag" --image-tag "driver-ranking-bento:latest" \
        --opt format=docker
}

case "${1:-}" in
    build) build ;;
    containerize) containerize ;;
    *)
        echo "usage: $0 build|containerize" >&2
        exit 2
        ;;
esac
