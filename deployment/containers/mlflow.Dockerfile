# MLflow tracking server for the compose deployment: the training image (mlflow from the lock)
# plus the PostgreSQL driver for the backend store. psycopg2-binary is not in uv.lock (no
# pipeline needs it); it is pinned here until it joins the lock.
ARG BASE_IMAGE=python:3.11-slim-bookworm
ARG TRAINING_IMAGE=driver-ranking-training-pipeline:latest

FROM ${BASE_IMAGE} AS driver
ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python3 -m venv /opt/pg && /opt/pg/bin/pip install --no-cache-dir psycopg2-binary==2.9.13

FROM ${TRAINING_IMAGE}
COPY --from=driver /opt/pg/lib/python3.11/site-packages/psycopg2 /opt/venv/lib/python3.11/site-packages/psycopg2
COPY --from=driver /opt/pg/lib/python3.11/site-packages/psycopg2_binary.libs /opt/venv/lib/python3.11/site-packages/psycopg2_binary.libs
EXPOSE 5000
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=5 \
    CMD ["python3", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:5000/health', timeout=4)"]
ENTRYPOINT ["mlflow"]
CMD ["server", "--host", "0.0.0.0", "--port", "5000", "--workers", "1"]
