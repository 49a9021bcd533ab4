"""Figures of batch tasks (materialize, monitoring, register) pushed to Prometheus's pushgateway.

A task runs for seconds and then exits, so Prometheus cannot scrape it; it pushes its figures
to the pushgateway instead (prometheus_client's `push_to_gateway`, a PUT that replaces the
task's whole group, so a re-run never leaves stale series of an earlier run behind) and
Prometheus scrapes the gateway. A push that fails is a warning, never a task failure: the
task's files and MLflow hold the same figures.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from mlops_common.settings import get_prometheus_settings

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

logger = logging.getLogger(__name__)


def push_figures(
    job: str,
    build: Callable[[CollectorRegistry], None],
    *,
    grouping_key: Mapping[str, str] | None = None,
) -> bool:
    """Build metrics into a fresh registry with BUILD and push them as JOB's group.

    Returns whether the push reached the gateway (False when pushing is disabled or failed).
    """
    from prometheus_client import CollectorRegistry, push_to_gateway

    settings = get_prometheus_settings()
    if not settings.push_enabled:
        return False
    registry = CollectorRegistry()
    build(registry)
    url = settings.resolved_pushgateway_url
    try:
        push_to_gateway(
            url,
            job=job,
            registry=registry,
            grouping_key=dict(grouping_key or {}),
            timeout=settings.push_timeout_seconds,
        )
    except OSError as exc:  # URLError, connection refused, timeouts
        logger.warning(
            "could not push %s's figures to the pushgateway %s (%s); start it with `make up` "
            "or set PROMETHEUS_PUSHGATEWAY_URL (PROMETHEUS_PUSH_ENABLED=false to stop trying)",
            job,
            url,
            exc,
        )
        return False
    logger.info("pushed %s's figures to %s", job, url)
    return True
