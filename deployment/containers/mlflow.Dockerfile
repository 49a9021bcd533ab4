# MLflow tracking server for the compose deployment: the training image (mlflow from the lock)
# plus the lock's `mlflow-server` group (the basic-auth app's Flask-WTF, psycopg2 for the
# PostgreSQL backend store), installed at the versions uv.lock pins.
ARG BASE_IMAGE=python:3.11-slim-bookworm
ARG TRAINING_IMAGE=driver-ranking-training-pipeline:latest

# The lock and every workspace member's pyproject.toml (uv reads the whole workspace).
FROM ${BASE_IMAGE} AS manifests
COPY . /src
RUN find /src -type f ! -name pyproject.toml ! -name uv.lock -delete \
    && find /src -depth -type d -empty -delete

FROM ${BASE_IMAGE} AS requirements
ENV UV_SYSTEM_CERTS=1 PIP_CERT=/etc/ssl/certs/ca-certificates.crt PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python3 -m venv /opt/uv && /opt/uv/bin/pip install --no-cache-dir uv==0.13.9
COPY --from=manifests /src /src
WORKDIR /src
RUN /opt/uv/bin/uv export --frozen --only-group mlflow-server --no-emit-workspace \
    --no-header --no-annotate -o /opt/uv/requirements.txt

FROM ${TRAINING_IMAGE}
USER root
ENV UV_SYSTEM_CERTS=1 UV_PYTHON_DOWNLOADS=never UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy
# Everything the group needs that the training image lacks (the rest is already at the same
# pinned versions); uv itself stays in the build stage. One directory is bind-mounted: podman
# 4.3's buildah loses a single-file bind mount from a stage taken from its layer cache.
RUN --mount=type=bind,from=requirements,source=/opt/uv,target=/opt/uv \
    --mount=type=cache,target=/root/.cache/uv \
    /opt/uv/bin/uv pip install --python /opt/venv/bin/python -r /opt/uv/requirements.txt \
    && mkdir -p /mlflow && chown app:app /mlflow
COPY deployment/containers/mlflow-auth.ini /etc/mlflow/basic_auth.ini
COPY deployment/containers/mlflow_users.py /opt/mlflow/mlflow_users.py
ENV MLFLOW_AUTH_CONFIG_PATH=/etc/mlflow/basic_auth.ini \
    MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false
USER app
EXPOSE 5000
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=5 \
    CMD ["python3", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:5000/health', timeout=4)"]
ENTRYPOINT ["mlflow"]
CMD ["server", "--host", "0.0.0.0", "--port", "5000", "--workers", "1"]
