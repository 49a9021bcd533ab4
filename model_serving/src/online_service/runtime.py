"""How the service runs inside BentoML: its lean configuration and the heap freeze after start-up.

Measured on this 2-core machine (an empty async endpoint, one worker, wrk at 16 connections):
BentoML's default configuration answered ~500 req/s; OpenTelemetry spans sampled at 0 gave
~1,170 and BentoML's HTTP metrics middleware off ~1,500. The service's own middleware
(`online/http.py`) and metrics (`online/metrics.py`) cover what that middleware reported.

The periodic p99 stalls (150-230 ms at 16 connections, even on the lean empty endpoint) were
full garbage collections, found with `gc.callbacks`: BentoML's `TimeoutMiddleware` arms a
`loop.call_later(timeout)` per request and never cancels it, so with the default 60 s timeout
a worker at 2,500 req/s holds ~150,000 pending timers (each with its future, bound method and
context), the heap grows to ~450,000 objects and every gen-2 collection walks all of them.
A short `traffic.timeout` bounds that backlog (rate x timeout); `gc.freeze()` after start-up
takes the ~115,000 start-up objects (modules, MLflow, Feast, pydantic schemas) out of every
collection.

Measured again with `gc.callbacks` at ~1,650 req/s (2026-12-02): with Python's default
thresholds (700, 10, 10) a worker still ran ~2,000 young and ~15 full collections in 10 s
(~0.6 s in all, the longest full one 15-25 ms, which is the p99). The requests' timers live
SERVING_REQUEST_TIMEOUT_SECONDS, so each is promoted to the old generation before it is freed,
and with the start-up heap frozen the old generation is small: the rule that starts a full
collection once a quarter of it is new is met about once a second. `SERVING_GC_THRESHOLDS`
(7000, 20, 50) cut that to ~17 young and no full collection in 8 s.

BentoML's request handler looks the API method up on the service instance for every request,
and the method's descriptor rebuilds its caller each time (`inspect.signature`, a closure,
`functools.wraps`): `cache_api_callers` builds it once. ABAB on our service, 3 runs each
(2026-12-02): 3,129 -> 3,214 req/s median at c=16, 1,380 -> 1,427 at c=1 (~8 us per request).

The bench's lean reference endpoint (`bench/empty_service.py`) uses the same functions, so the
comparison isolates what the handler costs.
"""

from __future__ import annotations

import gc
import inspect
import logging
from typing import Any

from online_service.settings import OnlineSettings

logger = logging.getLogger(__name__)

# Paths never traced: probes and scrapes would fill a trace store with noise.
UNTRACED_PATHS = ("/livez", "/healthz", "/readyz", "/metrics", "/docs.json")


def bentoml_config(settings: OnlineSettings) -> dict[str, Any]:
    """The keyword arguments of `@bentoml.service` for SETTINGS (lean unless tracing is on)."""
    excluded = list(UNTRACED_PATHS)
    if settings.tracing_sample_rate == 0:
        # Excluded paths skip the OpenTelemetry middleware entirely; a rate of 0 alone still
        # builds a non-recording span per request.
        excluded.append("/inference")
    return {
        "workers": settings.workers,
        "http": {"host": settings.host, "port": settings.port},
        "traffic": {"timeout": settings.request_timeout_seconds},
        # Our access line carries the caller's request id; BentoML's would be a second line.
        "logging": {"access": {"enabled": False}},
        "tracing": {"sample_rate": settings.tracing_sample_rate, "excluded_urls": excluded},
        # BentoML's per-request HTTP metrics middleware; `online/metrics.py` replaces it.
        "metrics": {"enabled": False},
    }


class CachedApiCaller:
    """An API method of one service instance, with BentoML's local caller built once.

    For every request BentoML looks the method up on the instance
    (`getattr(instance, name).local`), and its descriptor (`APIMethod.__get__`) builds the
    caller anew each time: `inspect.signature` of the function, a closure and
    `functools.wraps`. That caller depends on the function and the instance only, so one is
    kept as `local`. Calling this object, or reading any other attribute, goes through the
    descriptor as before (the proxy BentoML attaches after start-up included).
    """

    __slots__ = ("_instance", "_method", "local")

    def __init__(self, method: Any, instance: object) -> None:
        self._method, self._instance = method, instance
        self.local = method.__get__(instance, type(instance)).local

    def _bound(self) -> Any:
        return self._method.__get__(self._instance, type(self._instance))

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._bound()(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):  # own slots not set yet (copy, pickle): no recursion
            raise AttributeError(name)
        return getattr(self._bound(), name)


def cache_api_callers(instance: object) -> list[str]:
    """Give INSTANCE a `CachedApiCaller` for each BentoML API and task method its class has,
    inherited ones included (an instance attribute shadows the class's descriptor, which
    defines no `__set__`); the names cached."""
    from _bentoml_sdk.method import APIMethod

    names = []
    for name in dir(type(instance)):
        attribute = inspect.getattr_static(type(instance), name)  # the descriptor, unbound
        if isinstance(attribute, APIMethod):
            setattr(instance, name, CachedApiCaller(attribute, instance))
            names.append(name)
    return names


def freeze_heap(settings: OnlineSettings) -> None:
    """After start-up: collect once, exclude the surviving objects from future GC runs, and
    set the collection thresholds (`SERVING_GC_THRESHOLDS`)."""
    gc.set_threshold(*settings.gc_thresholds)
    if not settings.gc_freeze:
        return
    gc.collect()
    gc.freeze()
    logger.info("heap frozen: %d objects excluded from garbage collection", gc.get_freeze_count())
