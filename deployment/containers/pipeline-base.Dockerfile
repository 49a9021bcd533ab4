# syntax=docker/dockerfile:1
# The two base images every pipeline's own Dockerfile (<pipeline>/Dockerfile) builds on: the
# build steps the pipelines share, written once here. build_images.sh builds them first
# (and the `uv` target, driver-ranking-uv, for the Bento's image):
#   podman build --format docker --target builder -t driver-ranking-pipeline-builder \
#       -f deployment/containers/pipeline-base.Dockerfile .
#   podman build --format docker --target runtime -t driver-ranking-pipeline-runtime \
#       -f deployment/containers/pipeline-base.Dockerfile .
# A pipeline's Dockerfile then says only what is its own: its workspace package (`ARG PACKAGE`
# before its first FROM), its entry point, and for model serving its port and health check:
#   ARG PACKAGE=training-pipeline
#   FROM driver-ranking-pipeline-builder AS build
#   FROM driver-ranking-pipeline-runtime
#   COPY --from=build /opt/app /opt/app
#   ENTRYPOINT ["training-pipeline"]
# The shared steps run in the pipeline's build as ONBUILD triggers (hence `--format docker`:
# the OCI image format has no ONBUILD). An image holds its pipeline's distribution and what it
# depends on in uv.lock, nothing else: no platform code, no test fixtures, no other pipeline.
# `--build-arg SPARK=1` adds Spark for the batch paths (the package's `spark` extra: pyspark;
# Debian's Java 17 runtime), for images that run with FEAST_OFFLINE_STORE=spark / BATCH_ENGINE=spark.
# BASE_IMAGE: one Debian bookworm Python 3.11 image; where no registry is reachable,
# build_base.sh builds it locally (debootstrap) and build_images.sh passes its tag.
ARG BASE_IMAGE=python:3.11-slim-bookworm

# Only the lock and every workspace member's pyproject.toml (uv needs the whole workspace to
# read the lock): the builder image changes when these do, not when a source file does.
FROM ${BASE_IMAGE} AS manifests
COPY . /src
RUN find /src -type f ! -name pyproject.toml ! -name uv.lock -delete \
    && find /src -depth -type d -empty -delete

# uv on the base image: the builder below, and the base image of the online service's Bento
# (model_serving/bentofile.yaml: BentoML's generated Dockerfile installs with uv when it finds
# it; it would run `pip install uv` otherwise, and Debian's python3 has no pip).
FROM ${BASE_IMAGE} AS uv
# Trust the system CA store (build hosts behind an egress proxy add their CA to it).
ENV UV_SYSTEM_CERTS=1 \
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=python3 \
    UV_PROJECT_ENVIRONMENT=/opt/venv \
    PATH=/opt/uv/bin:$PATH
RUN python3 -m venv /opt/uv && /opt/uv/bin/pip install --no-cache-dir uv==0.13.9

FROM uv AS builder
WORKDIR /src
COPY --from=manifests /src /src
# In the pipeline's build: its package name comes from its global `ARG PACKAGE`.
ONBUILD ARG PACKAGE
ONBUILD ARG SPARK=0
# Dependencies first, from the lock in this image: the package's third-party dependencies, no
# workspace member; cached until the lock changes (build_images.sh rebuilds this image first).
ONBUILD RUN --mount=type=cache,target=/root/.cache/uv \
    test -n "${PACKAGE}" \
        || { echo "declare ARG PACKAGE=<workspace package> before the first FROM" >&2; exit 2; } \
    && uv sync --frozen --no-dev --package "${PACKAGE}" \
        $([ "${SPARK}" = 1 ] && echo --extra spark) --no-install-workspace \
    && echo /opt/app/lib/python3.11/site-packages \
        >/opt/venv/lib/python3.11/site-packages/driver_ranking_app.pth
# Then the workspace members the package needs, as the lock says (e.g. mlops-common,
# feature-store, training-pipeline), in their own prefix (found through the .pth above): a
# source change rebuilds this small layer only, never the dependency layer of /opt/venv.
ONBUILD COPY . /src
ONBUILD RUN --mount=type=cache,target=/root/.cache/uv \
    members=$(uv export --frozen --no-dev --package "${PACKAGE}" \
        $([ "${SPARK}" = 1 ] && echo --extra spark) --no-hashes --no-header --no-annotate \
        | sed -n 's|^-e \(\./.*\)$|\1|p') \
    && echo "workspace members of ${PACKAGE}: ${members}" \
    && uv pip install --python /opt/venv/bin/python --no-deps --prefix /opt/app ${members}

FROM ${BASE_IMAGE} AS runtime
# A fixed uid shared by the images: their tasks write to the same artifact volume.
ARG APP_UID=10001
RUN groupadd --gid "${APP_UID}" app \
    && useradd --uid "${APP_UID}" --gid app --create-home --home-dir /home/app app \
    && mkdir -p /artifacts && chown app:app /artifacts
# Settings come from the environment: DockerOperator sets the platform addresses and the
# artifact volume paths; the defaults below make an image usable on its own.
ENV PATH=/opt/app/bin:/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    MLOPS_PROJECT_ROOT=/app \
    FEAST_REPO_PATH=/app/data_pipeline/feature_repo \
    MLOPS_ARTIFACT_ROOT=/artifacts/runs \
    MLOPS_DATA_DIR=/artifacts/data \
    MLOPS_STATE_DIR=/tmp/state \
    MPLCONFIGDIR=/tmp/matplotlib
WORKDIR /app
# In the pipeline's build, in this order (rarely changed layers first): Java for SPARK=1, the
# dependency venv of its `build` stage, the one Feast feature repo at the path the settings
# point to, the non-root user. The pipeline's Dockerfile copies /opt/app itself: that line names
# its `build` stage, which is how the engine knows to build that stage (it does not read
# ONBUILD lines when it picks the stages a target needs).
ONBUILD ARG SPARK=0
ONBUILD RUN if [ "${SPARK}" = 1 ]; then \
        apt-get update -qq \
        && mkdir -p /usr/share/man/man1 \
        && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            openjdk-17-jre-headless \
        && rm -rf /var/lib/apt/lists/*; \
    fi
ONBUILD COPY --from=build /opt/venv /opt/venv
ONBUILD COPY data_pipeline/feature_repo /app/data_pipeline/feature_repo
ONBUILD USER app
