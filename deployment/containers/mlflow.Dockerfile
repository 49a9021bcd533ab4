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
# Everything the group needs that the training image lacks (the rest is already at the same
# pinned versions, hashes checked), with a throw-away pip from the base's ensurepip: a bind
# mount from the build stage would be lighter, but podman 4.3's buildah mounts the wrong (or no)
# content for a stage it took from its layer cache.
COPY --from=requirements /opt/uv/requirements.txt /tmp/mlflow-server-requirements.txt
RUN python3 -m venv /tmp/pip \
    && PIP_CERT=/etc/ssl/certs/ca-certificates.crt PIP_DISABLE_PIP_VERSION_CHECK=1 \
        /tmp/pip/bin/pip --python /opt/venv/bin/python install --no-cache-dir --quiet \
        -r /tmp/mlflow-server-requirements.txt \
    && rm -rf /tmp/pip /tmp/mlflow-server-requirements.txt \
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
