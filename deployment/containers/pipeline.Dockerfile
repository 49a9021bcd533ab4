# syntax=docker/dockerfile:1
# The pipeline images, one Dockerfile for the three: each DAG task runs `<pipeline cli> <command>`
# in its pipeline's image (DockerOperator passes only the arguments). Build from the repository
# root with the pipeline as both the build argument and the target:
#   deployment/containers/build_images.sh training_pipeline
#   podman build --build-arg PIPELINE=model_serving --target model_serving \
#       -f deployment/containers/pipeline.Dockerfile .
# An image holds its pipeline's distribution and what it depends on in uv.lock, nothing else:
# no platform code, no test fixtures, no other pipeline.
# SPARK=1 adds Spark for the batch paths (the pipeline's `spark` extra: pyspark; Debian's
# Java 17 runtime), e.g. `--build-arg SPARK=1` for data_pipeline, training_pipeline and
# model_serving images that run with FEAST_OFFLINE_STORE=spark / BATCH_ENGINE=spark.
# BASE_IMAGE: one pinned Debian bookworm Python 3.11 image for all pipeline images; where no
# registry is reachable, build_images.sh builds it locally (debootstrap) and passes its tag.
ARG BASE_IMAGE=python:3.11-slim-bookworm

# Only the lock and every workspace member's pyproject.toml (uv needs the whole workspace to
# read the lock): the dependency layer below is rebuilt when one of these changes, not when a
# source file does.
FROM ${BASE_IMAGE} AS manifests
COPY . /src
RUN find /src -type f ! -name pyproject.toml ! -name uv.lock -delete \
    && find /src -depth -type d -empty -delete

FROM ${BASE_IMAGE} AS builder
ARG PIPELINE
ARG SPARK=0
RUN test -n "${PIPELINE}" \
    || { echo "set --build-arg PIPELINE=data_pipeline|training_pipeline|model_serving|monitoring_pipeline" >&2; exit 2; }
# Trust the system CA store (build hosts behind an egress proxy add their CA to it).
ENV UV_SYSTEM_CERTS=1 \
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=python3 \
    UV_PROJECT_ENVIRONMENT=/opt/venv
RUN python3 -m venv /opt/uv && /opt/uv/bin/pip install --no-cache-dir uv==0.13.9
WORKDIR /src
# Dependencies first, from the lock only: third-party packages of this pipeline, no members.
COPY --from=manifests /src /src
RUN --mount=type=cache,target=/root/.cache/uv \
    /opt/uv/bin/uv sync --frozen --no-dev --package "$(echo "${PIPELINE}" | tr _ -)" \
        $([ "${SPARK}" = 1 ] && echo --extra spark) --no-install-workspace
RUN echo /opt/app/lib/python3.11/site-packages \
    > /opt/venv/lib/python3.11/site-packages/driver_ranking_app.pth
# Then the workspace members this pipeline needs, as the lock says (e.g. mlops-common,
# feature-store, training-pipeline), in their own prefix (found through the .pth above): a
# source change rebuilds this small layer only, never the dependency layer of /opt/venv.
COPY . /src
RUN --mount=type=cache,target=/root/.cache/uv \
    members=$(/opt/uv/bin/uv export --frozen --no-dev --package "$(echo "${PIPELINE}" | tr _ -)" \
        --no-hashes --no-header --no-annotate | sed -n 's|^-e \(\./.*\)$|\1|p') \
    && echo "workspace members of ${PIPELINE}: ${members}" \
    && /opt/uv/bin/uv pip install --python /opt/venv/bin/python --no-deps --prefix /opt/app \
        ${members}

FROM ${BASE_IMAGE} AS runtime
ARG SPARK=0
RUN if [ "${SPARK}" = 1 ]; then \
        apt-get update -qq \
        && mkdir -p /usr/share/man/man1 \
        && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            openjdk-17-jre-headless \
        && rm -rf /var/lib/apt/lists/*; \
    fi
# A fixed uid shared by the images: their tasks write to the same artifact volume.
ARG APP_UID=10001
RUN groupadd --gid "${APP_UID}" app \
    && useradd --uid "${APP_UID}" --gid app --create-home --home-dir /home/app app \
    && mkdir -p /artifacts && chown app:app /artifacts
COPY --from=builder /opt/venv /opt/venv
COPY --from=builder /opt/app /opt/app
# The one Feast feature repo, at the path the settings point to (not a copy in another folder).
COPY data_pipeline/feature_repo /app/data_pipeline/feature_repo
# Settings come from the environment: DockerOperator sets the platform addresses and the
# artifact volume paths; the defaults below make the image usable on its own.
ENV PATH=/opt/app/bin:/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    MLOPS_PROJECT_ROOT=/app \
    FEAST_REPO_PATH=/app/data_pipeline/feature_repo \
    MLOPS_ARTIFACT_ROOT=/artifacts/runs \
    MLOPS_DATA_DIR=/artifacts/data \
    MLOPS_STATE_DIR=/tmp/state \
    MPLCONFIGDIR=/tmp/matplotlib
WORKDIR /app
USER app

# One target per pipeline: the entry point is its CLI (an exec-form ENTRYPOINT cannot expand
# a build argument; setting it resets CMD, hence CMD after it in each target).
FROM runtime AS data_pipeline
ENTRYPOINT ["data-pipeline"]
CMD ["--help"]

FROM runtime AS training_pipeline
ENTRYPOINT ["training-pipeline"]
CMD ["--help"]

FROM runtime AS monitoring_pipeline
ENTRYPOINT ["monitoring-pipeline"]
CMD ["--help"]

# Model serving: the batch DAG's tasks run `model-serving <command>`; the online BentoML
# service runs from the same image:
#   podman run -p 3000:3000 --entrypoint bentoml IMAGE serve online_service.service:DriverRanking
FROM runtime AS model_serving
ENV BENTOML_HOME=/home/app/bentoml \
    SERVING_HOST=0.0.0.0 \
    SERVING_PORT=3000
EXPOSE 3000
# Ready = the champion model is loaded and Redis answers (BentoML's /readyz); the start period
# covers the model download from MLflow.
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('SERVING_PORT', '3000') + '/readyz', timeout=4)"]
ENTRYPOINT ["model-serving"]
CMD ["--help"]
