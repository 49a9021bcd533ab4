"""The service's Prometheus metrics and the `/metrics` answer.

BentoML's own HTTP metrics middleware is off (`online_service.framework`: it cost a fifth of an
empty endpoint's throughput); these metrics cover the same ground for a Prometheus user: requests by
endpoint, status and outcome, in-flight requests, the `/inference` latency histogram, the
feature-read and predict histograms, the model version served, and process metrics of every
worker. Not covered (said in the README): BentoML's `service_name`/`service_version`/
`worker_index` labels and duration histograms of the non-inference endpoints.

Created on first use, inside the worker: BentoML sets `PROMETHEUS_MULTIPROC_DIR` when a worker
starts (after the service module is imported), and metrics created before that would be
invisible on `/metrics`. One set per process (re-creating them would register duplicates).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_common.champion import CHALLENGER_SINCE_TAG

if TYPE_CHECKING:
    from mlops_common.models import ScoringModel

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
# The outcomes of POST /inference exported as zeros from the start, so rates exist before
# errors do: (status, outcome).
INFERENCE_OUTCOMES = (
    ("200", "ok"),
    ("400", "invalid_request"),
    ("401", "unauthorized"),
    ("413", "too_large"),
    ("422", "no_features"),
    ("503", "features_unavailable"),
    ("503", "model_unavailable"),
)
_OUTCOME_BY_STATUS = {
    400: "invalid_request",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    409: "not_completed",
    413: "too_large",
    415: "unsupported_media_type",
    422: "no_features",
    503: "unavailable",
    504: "timeout",
}


def outcome_of(status: int) -> str:
    """The outcome label of an answer whose handler did not name one."""
    if status < 400:
        return "ok"
    return _OUTCOME_BY_STATUS.get(status, "client_error" if status < 500 else "error")


@dataclass
class ServiceMetrics:
    requests: Any
    in_progress: Any
    inference_seconds: Any
    drivers_without_features: Any
    feature_read_seconds: Any
    predict_seconds: Any
    model_info: Any
    challenger_info: Any
    challenger_started: Any
    challenger_max_age: Any
    challenger_check_failing: Any
    shadow_requests: Any
    _children: dict[tuple[str, str, str], Any] = field(default_factory=dict)

    def count_request(self, endpoint: str, status: int, outcome: str) -> None:
        """One answered request (labelled children cached: `labels()` costs microseconds)."""
        key = (endpoint, str(status), outcome)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = self.requests.labels(*key)
        child.inc()

    def served_model(self, model: ScoringModel | None, previous: ScoringModel | None) -> None:
        """Mark MODEL as served (1) and the PREVIOUS version as no longer served (0)."""
        if model is None:  # the champion is never dropped, only replaced
            return
        if previous is not None and previous.version != model.version:
            self.model_info.labels(model_name=model.name, model_version=previous.version).set(0)
        self.model_info.labels(model_name=model.name, model_version=model.version).set(1)

    def held_challenger(self, model: ScoringModel | None, previous: ScoringModel | None) -> None:
        """Mark MODEL as the challenger held (1; None: no challenger) and PREVIOUS as no longer
        held (0); its start (the version's `challenger_since` tag, else now) as a timestamp,
        0 when there is none, so an alert can tell how long it has been in shadow."""
        if previous is not None and (model is None or previous.version != model.version):
            self.challenger_info.labels(
                model_name=previous.name, model_version=previous.version
            ).set(0)
        if model is None:
            self.challenger_started.set(0)
            return
        self.challenger_info.labels(model_name=model.name, model_version=model.version).set(1)
        self.challenger_started.set(_started_at(model.tags.get(CHALLENGER_SINCE_TAG)))


@cache
def get_metrics() -> ServiceMetrics:
    """The process's metric objects (created once)."""
    import prometheus_client as prom

    requests = prom.Counter(
        "driver_ranking_requests",
        "Answered HTTP requests by endpoint, status and outcome.",
        ["endpoint", "status", "outcome"],
    )
    for status, outcome in INFERENCE_OUTCOMES:
        requests.labels("/inference", status, outcome)
    shadow_requests = prom.Counter(
        "driver_ranking_shadow_requests",
        "Answered requests the challenger scored in shadow (scored) or failed to (failed).",
        ["outcome"],
    )
    for outcome in ("scored", "failed"):
        shadow_requests.labels(outcome=outcome)
    return ServiceMetrics(
        requests=requests,
        in_progress=prom.Gauge(
            "driver_ranking_requests_in_progress",
            "Requests being answered now, by endpoint.",
            ["endpoint"],
            multiprocess_mode="livesum",
        ),
        inference_seconds=prom.Histogram(
            "driver_ranking_inference_seconds",
            "POST /inference latency, from the request's arrival in the service to its answer.",
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
        challenger_info=prom.Gauge(
            "driver_ranking_challenger_info",
            "1 for the challenger version this worker scores in shadow, 0 for earlier ones.",
            ["model_name", "model_version"],
            multiprocess_mode="livemax",
        ),
        challenger_started=prom.Gauge(
            "driver_ranking_challenger_started_timestamp_seconds",
            "When the challenger held now became challenger (Unix time); 0 without one.",
            multiprocess_mode="livemax",
        ),
        challenger_max_age=prom.Gauge(
            "driver_ranking_challenger_max_age_seconds",
            "PROMOTION_MAX_HOURS in seconds: the live judgement retires a challenger by then.",
            multiprocess_mode="livemax",
        ),
        challenger_check_failing=prom.Gauge(
            "driver_ranking_challenger_check_failing",
            "1 when the last check of the challenger alias failed (not loadable, registry "
            "unreachable): the champion answers alone.",
            multiprocess_mode="livemax",
        ),
        shadow_requests=shadow_requests,
    )


def _started_at(tag: str | None) -> float:
    """Unix time of a `challenger_since` tag (ISO 8601, UTC); now when missing or unreadable
    (a challenger set by hand without the tag: its age counts from this worker's load)."""
    if tag:
        try:
            moment = datetime.fromisoformat(tag)
            return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
        except ValueError:
            pass
    return time.time()


# prometheus_client names its multiprocess files `<kind>_<pid>.db`.
_PID_FILE = re.compile(r"_(\d+)\.db$")


class WorkerProcessCollector:
    """Process metrics (CPU, memory, open files, start time) of every live worker, by `pid`.

    In multiprocess mode prometheus_client exports only the metric files, not process
    metrics; each worker writes files named after its pid, so the pids come from there and
    the figures from prometheus_client's own `ProcessCollector` reading `/proc`.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _pids(self) -> list[int]:
        pids = {
            int(m.group(1)) for p in self.directory.glob("*.db") if (m := _PID_FILE.search(p.name))
        }
        return sorted(pid for pid in pids if Path(f"/proc/{pid}").exists())

    def collect(self) -> Iterator[Any]:
        from prometheus_client import ProcessCollector
        from prometheus_client.core import Metric

        families: dict[str, Metric] = {}
        for pid in self._pids():
            collector = ProcessCollector(pid=_constant(pid), registry=None)
            for family in collector.collect():
                merged = families.get(family.name)
                if merged is None:
                    merged = families[family.name] = Metric(
                        family.name, family.documentation, family.type
                    )
                for sample in family.samples:
                    merged.add_sample(sample.name, {**sample.labels, "pid": str(pid)}, sample.value)
        yield from families.values()


def _constant(value: int) -> Callable[[], int]:
    return lambda: value


def render() -> tuple[bytes, str]:
    """The `/metrics` body and content type: all workers' metrics plus their process metrics."""
    import prometheus_client as prom

    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not directory:  # one process (in-process tests): the default registry has it all
        return prom.generate_latest(), prom.CONTENT_TYPE_LATEST
    from prometheus_client import multiprocess

    registry = prom.CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=directory)
    registry.register(WorkerProcessCollector(Path(directory)))
    return prom.generate_latest(registry), prom.CONTENT_TYPE_LATEST
