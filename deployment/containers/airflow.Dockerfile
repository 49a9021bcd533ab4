# Airflow 3 for the compose deployment (api-server, scheduler, dag-processor): the lock's
# `airflow` group (Airflow, the docker provider, mlops-airflow with the operator factory, and
# mlops-common under it) and the four pipelines' DAG folders. Task code is not installed here:
# DockerOperator runs it in the pipeline images.
# The group includes the PostgreSQL drivers of the metadata database (psycopg2, asyncpg) and
# the FAB auth manager the compose deployment uses.
ARG BASE_IMAGE=python:3.11-slim-bookworm

# Only the lock and every workspace member's pyproject.toml (uv reads the whole workspace), so
# the dependency layer is rebuilt when one of these changes, not when a source file does.
FROM ${BASE_IMAGE} AS manifests
COPY . /src
RUN find /src -type f ! -name pyproject.toml ! -name uv.lock -delete \
    && find /src -depth -type d -empty -delete

FROM ${BASE_IMAGE} AS builder
ENV UV_SYSTEM_CERTS=1 \
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=python3 \
    UV_PROJECT_ENVIRONMENT=/opt/airflow-venv
RUN python3 -m venv /opt/uv && /opt/uv/bin/pip install --no-cache-dir uv==0.13.9
WORKDIR /src
COPY --from=manifests /src /src
RUN --mount=type=cache,target=/root/.cache/uv \
    /opt/uv/bin/uv sync --frozen --only-group airflow --no-install-workspace
COPY mlops_common/src mlops_common/src
COPY deployment/airflow/src deployment/airflow/src
RUN --mount=type=cache,target=/root/.cache/uv \
    /opt/uv/bin/uv sync --frozen --only-group airflow --no-editable --inexact

FROM ${BASE_IMAGE}
ARG APP_UID=10001
RUN groupadd --gid "${APP_UID}" airflow \
    && useradd --uid "${APP_UID}" --gid airflow --create-home --home-dir /opt/airflow airflow
COPY --from=builder /opt/airflow-venv /opt/airflow-venv
COPY --chown=airflow:airflow data_pipeline/dags /opt/airflow/dags/data_pipeline
COPY --chown=airflow:airflow training_pipeline/dags /opt/airflow/dags/training_pipeline
COPY --chown=airflow:airflow model_serving/dags /opt/airflow/dags/model_serving
COPY --chown=airflow:airflow monitoring_pipeline/dags /opt/airflow/dags/monitoring_pipeline
# The compose service airflow-init runs it: the admin and viewer accounts (FAB) from .env.
COPY deployment/containers/airflow_users.py /opt/airflow/airflow_users.py
ENV PATH=/opt/airflow-venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    AIRFLOW_HOME=/opt/airflow \
    MLOPS_PROJECT_ROOT=/opt/airflow \
    MLOPS_TASK_MODE=containers \
    AIRFLOW__CORE__LOAD_EXAMPLES=False \
    AIRFLOW__CORE__EXECUTOR=LocalExecutor \
    AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST='[{"name": "data_pipeline", "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle", "kwargs": {"path": "/opt/airflow/dags/data_pipeline"}}, {"name": "training_pipeline", "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle", "kwargs": {"path": "/opt/airflow/dags/training_pipeline"}}, {"name": "model_serving", "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle", "kwargs": {"path": "/opt/airflow/dags/model_serving"}}, {"name": "monitoring_pipeline", "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle", "kwargs": {"path": "/opt/airflow/dags/monitoring_pipeline"}}]'
WORKDIR /opt/airflow
USER airflow
EXPOSE 8080
ENTRYPOINT ["airflow"]
CMD ["version"]
