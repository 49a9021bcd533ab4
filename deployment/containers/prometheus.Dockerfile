# Prometheus and its pushgateway for the compose deployment where the official images cannot be
# pulled (no registry here): Debian bookworm's `prometheus` (2.42, with promtool) and
# `prometheus-pushgateway` (1.5.1) packages on the project's base image, one image for both
# services (docker-compose.local.yml picks the binary per service). Same versions, flags and
# paths as the official images the default compose file names; runs as Debian's `prometheus`
# user, which owns the data folders (named volumes take that ownership on first use).
ARG BASE_IMAGE=python:3.11-slim-bookworm
FROM ${BASE_IMAGE}
RUN apt-get update -qq \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        prometheus prometheus-pushgateway \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /prometheus /pushgateway \
    && chown prometheus:prometheus /prometheus /pushgateway
USER prometheus
WORKDIR /prometheus
EXPOSE 9090 9091
ENTRYPOINT ["/usr/bin/prometheus"]
