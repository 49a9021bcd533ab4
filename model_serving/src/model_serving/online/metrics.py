"""The service's own Prometheus metrics, exported on `/metrics` next to BentoML's.

Created on first use, inside the worker: BentoML sets `PROMETHEUS_MULTIPROC_DIR` when a worker
starts (after the service module is imported), and metrics created before that would be
invisible on `/metrics`. One set per process (re-creating them would register duplicates).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

# Requests are sub-millisecond when healthy; the tail buckets catch Redis timeouts.
LATENCY_BUCKETS = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
)
OUTCOMES = (
    "ok",
    "no_features",
    "unauthorized",
    "features_unavailable",
    "model_unavailable",
    "error",
)


@dataclass(frozen=True)
class ServiceMetrics:
    requests: Any
    inference_seconds: Any
    drivers_without_features: Any
    feature_read_seconds: Any
    predict_seconds: Any
    model_info: Any

    def served_model(self, name: str, version: str, previous: str | None) -> None:
        """Mark NAME vVERSION as served (1) and the previous version as no longer served (0)."""
        if previous is not None and previous != version:
            self.model_info.labels(model_name=name, model_version=previous).set(0)
        self.model_info.labels(model_name=name, model_version=version).set(1)


@cache
def get_metrics() -> ServiceMetrics:
    """The process's metric objects (created once)."""
    import prometheus_client as prom

    requests = prom.Counter(
        "driver_ranking_requests", "Inference requests by outcome.", ["outcome"]
    )
    for outcome in OUTCOMES:  # export zeros from the start, so rates exist before errors do
        requests.labels(outcome=outcome)
    return ServiceMetrics(
        requests=requests,
        inference_seconds=prom.Histogram(
            "driver_ranking_inference_seconds",
            "POST /inference latency inside the service, request parsed to answer built.",
            buckets=LATENCY_BUCKETS,
        ),
        drivers_without_features=prom.Counter(
            "driver_ranking_drivers_without_features",
            "Requested driver ids that had no online features.",
        ),
        feature_read_seconds=prom.Histogram(
            "driver_ranking_feature_read_seconds",
            "Online feature read latency.",
            buckets=LATENCY_BUCKETS,
        ),
        predict_seconds=prom.Histogram(
            "driver_ranking_predict_seconds", "Model predict latency.", buckets=LATENCY_BUCKETS
        ),
        model_info=prom.Gauge(
            "driver_ranking_model_info",
            "1 for the registered model version this worker serves, 0 for earlier ones.",
            ["model_name", "model_version"],
            multiprocess_mode="livemax",
        ),
    )
