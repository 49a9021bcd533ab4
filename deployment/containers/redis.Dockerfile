# Redis 7 for the containers platform (Feast's online store), from the same base image as the
# pipeline images: no registry is needed. Debian bookworm's redis-server is 7.0.
ARG BASE_IMAGE=python:3.11-slim-bookworm
FROM ${BASE_IMAGE}
RUN apt-get update -qq \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /data && chown redis:redis /data
USER redis
WORKDIR /data
EXPOSE 6379
HEALTHCHECK --interval=5s --timeout=3s --retries=5 CMD ["redis-cli", "ping"]
ENTRYPOINT ["redis-server"]
# Listen on all interfaces of the container network; no disk persistence by default (the
# offline store is the source of truth and `materialize` refills Redis).
CMD ["--bind", "0.0.0.0", "--protected-mode", "no", "--save", "", "--appendonly", "no"]
