"""The online driver-ranking service (BentoML 1.4): `POST /inference` ranks candidate drivers.

Start it with `model-serving serve` (or `bentoml serve online_service.service:DriverRanking`).
At start-up the worker resolves `models:/<name>@champion` in MLflow (retrying with backoff, then
exiting with a clear message), loads that version once, lays out the Feast feature service's
Redis keys from the registry, starts a thread that re-checks the alias every
`SERVING_MODEL_REFRESH_SECONDS`, and freezes the start-up heap. Per request, on the event loop
(no thread hop): one Redis read awaited on `redis.asyncio` (one script call shared by the
requests waiting at that moment), one `predict` on a float64 array, one JSON answer.

Answers of `POST /inference` (the OpenAPI document at `/docs.json` lists them with bodies):
- 200 `InferenceResponse`: best driver, scores best first, ids without features, model version.
- 400 `ValidationErrorBody`: invalid body (`detail[].loc` names the field), or a bad X-Request-ID.
- 401 `ErrorBody` `unauthorized`: an API key is configured and X-API-Key is missing or wrong.
- 413 `ErrorBody` `too_large`: the body is over `SERVING_MAX_BODY_BYTES` (refused unread).
- 422 `ErrorBody` `no_features`: none of the drivers has online features (all listed).
- 503 `ErrorBody` `unavailable`: Redis is unreachable (answered within the Redis timeouts).
Every answer carries `X-Request-ID`. `POST /rank_bulk/submit` ranks many requests as a task
(`/rank_bulk/status`, `/rank_bulk/get`), each result what `/inference` answers for it.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any

import bentoml
from pydantic import BaseModel
from starlette.responses import Response

from online_service.http import (
    ApiKeyMiddleware,
    BodyLimitMiddleware,
    BodyRule,
    ObservedMiddleware,
    OwnEndpointsMiddleware,
    PendingResultMiddleware,
    current_request,
    error_response,
)
from online_service.runtime import bentoml_config, cache_api_callers, freeze_heap
from online_service.schemas import (
    BulkRankingRequest,
    BulkRankingResponse,
    BulkRankingResult,
    ErrorBody,
    InferenceRequest,
    InferenceResponse,
    request_id_of,
)
from online_service.settings import get_online_settings

logger = logging.getLogger(__name__)
access_logger = logging.getLogger("online_service.access")

_settings = get_online_settings()  # the bind address and worker count are fixed per process


@bentoml.service(name="driver_ranking", **bentoml_config(_settings))
class DriverRanking:
    """Ranks candidate drivers with the champion model on their Feast online features."""

    def __init__(self) -> None:
        from feature_store.feast_internals import feast_type_checks_skipped
        from mlops_common.settings import (
            get_feast_settings,
            get_mlflow_settings,
            get_redis_settings,
        )

        from online_service.features import AsyncRedisFeatureReader
        from online_service.holder import ChampionHolder
        from online_service.metrics import get_metrics

        _ensure_log_output()
        settings = get_online_settings()
        redis_settings = get_redis_settings()
        mlflow_settings = get_mlflow_settings()
        self.settings = settings
        self.metrics = get_metrics()
        # The service reads the feature service back from the registry: Feast's typeguard
        # instrumentation of its definition classes (seconds of its import) checks nothing here.
        with feast_type_checks_skipped():
            from feature_store.store import get_store

            store = get_store()
        self.features = AsyncRedisFeatureReader.from_store(
            store,
            get_feast_settings().feature_service,
            host=redis_settings.host,
            port=redis_settings.port,
            password=(
                redis_settings.password.get_secret_value() if redis_settings.password else None
            ),
            socket_timeout=redis_settings.socket_timeout,
            connect_timeout=settings.redis_connect_timeout_seconds,
            max_batch=settings.feature_batch_max,
        )
        self.champion = ChampionHolder(
            tracking_uri=mlflow_settings.resolved_tracking_uri,
            name=mlflow_settings.model_name,
            alias=mlflow_settings.champion_alias,
            source_features=self.features.feature_names,
            refresh_seconds=settings.model_refresh_seconds,
            request_timeout_seconds=settings.mlflow_request_timeout_seconds,
            on_change=lambda old, new: self.metrics.served_model(
                new.name, str(new.version), old.version if old else None
            ),
        )
        self.champion.load_with_retries(settings.model_start_timeout_seconds)
        self.champion.start_refreshing()
        self._document: dict[str, Any] | None = None
        # Prediction log (online_service.recorder): None when switched off.
        from online_service.recorder import open_prediction_log

        self.prediction_log = open_prediction_log(
            self.features.feature_names, on_ready=lambda: freeze_heap(settings)
        )
        logger.info(
            "ready: features %s from Redis %s:%s, model %s",
            list(self.features.feature_names),
            redis_settings.host,
            redis_settings.port,
            mlflow_settings.champion_uri,
        )
        cache_api_callers(self)
        freeze_heap(settings)

    # The request model as the one positional-only argument: BentoML passes the validated
    # model through (keyword inputs go through a deprecated pydantic access that warns on
    # every request). The output spec documents the 200 body; answers are built below.
    # Async: the Redis read is awaited on the event loop, without BentoML's hop to its thread
    # pool (a CapacityLimiter of `threads`, default 1); measured in the README.
    @bentoml.api(route="/inference", output_spec=InferenceResponse)
    async def inference(self, request: InferenceRequest, /) -> InferenceResponse | Response:
        """Rank the request's drivers for one trip: the best, every score, those without features.

        422 when none of the drivers has online features, 503 when Redis is unreachable.
        """
        started = time.perf_counter()
        state = current_request()
        request_id = request_id_of(request, state.header_request_id if state else None)
        status, body, outcome = await self._rank(request_id, request.driver_ids)
        if state is not None:
            state.request_id, state.outcome = request_id, outcome
        if self.settings.access_log:
            model = self.champion.current
            access_logger.info(
                "request_id=%s status=%d outcome=%s drivers=%d model_version=%s ms=%.2f",
                request_id,
                status,
                outcome,
                len(request.driver_ids),
                model.version if model else "-",
                (time.perf_counter() - started) * 1000,
            )
        if isinstance(body, InferenceResponse):
            return Response(
                body.__pydantic_serializer__.to_json(body), media_type="application/json"
            )
        return Response(
            body.model_dump_json(exclude_none=True),
            status_code=status,
            media_type="application/json",
        )

    @bentoml.task(route="/rank_bulk", output_spec=BulkRankingResponse)
    async def rank_bulk(self, request: BulkRankingRequest, /) -> Response:
        """Rank many requests (e.g. a day's trips): each result is what /inference answers."""
        results = []
        for item in request.requests:
            status, body, _ = await self._rank(item.request_id, item.driver_ids)
            results.append(BulkRankingResult(status=status, body=body))
        answer = BulkRankingResponse(results=results)
        return Response(answer.model_dump_json(exclude_none=True), media_type="application/json")

    async def _rank(
        self, request_id: str, driver_ids: list[int]
    ) -> tuple[int, InferenceResponse | ErrorBody, str]:
        """(status, body, outcome) of ranking DRIVER_IDS, as POST /inference answers it."""
        from online_service.features import FeaturesUnavailableError
        from online_service.ranking import NoFeaturesError, rank_drivers_async

        metrics = self.metrics
        model = self.champion.current
        if model is None:  # only between a failed start and exit; kept for completeness
            body = ErrorBody(error="unavailable", message="no model loaded", request_id=request_id)
            return 503, body, "model_unavailable"
        try:
            ranking = await rank_drivers_async(request_id, driver_ids, self.features, model)
        except NoFeaturesError as exc:
            metrics.drivers_without_features.inc(len(exc.missing_driver_ids))
            body = ErrorBody(
                error="no_features",
                message=str(exc),
                request_id=request_id,
                missing_driver_ids=exc.missing_driver_ids,
            )
            return 422, body, "no_features"
        except FeaturesUnavailableError as exc:
            body = ErrorBody(error="unavailable", message=str(exc), request_id=request_id)
            return 503, body, "features_unavailable"
        metrics.feature_read_seconds.observe(ranking.feature_seconds)
        metrics.predict_seconds.observe(ranking.predict_seconds)
        response = ranking.response
        if response.missing_driver_ids:
            metrics.drivers_without_features.inc(len(response.missing_driver_ids))
        if self.prediction_log is not None:  # buffered; never blocks the request
            self.prediction_log.record(response, ranking.rows)
        return 200, response, "ok"

    async def readiness(self) -> tuple[bool, dict[str, Any]]:
        """Ready = a model is loaded and Redis answers; registry trouble is reported only."""
        model = self.champion.current
        redis_ok = await self.features.ping()
        details: dict[str, Any] = {
            "model": {"name": model.name, "version": model.version} if model else None,
            "redis": "ok" if redis_ok else "unreachable",
            "registry": self.champion.status.report(
                datetime.now(UTC),
                self.champion.refresh_seconds,
                # one MLflow call's timeout, plus a second of slack before calling it hung
                self.settings.mlflow_request_timeout_seconds + 1.0,
            ),
        }
        return model is not None and redis_ok, details

    async def __is_ready__(self) -> bool:
        ready, _ = await self.readiness()
        return ready

    def openapi_document(self) -> dict[str, Any]:
        """The OpenAPI document for `/docs.json` (built once per worker)."""
        if self._document is None:
            from online_service.openapi import build_document

            self._document = build_document(
                self.settings, title="driver_ranking", description=__doc__ or ""
            )
        return self._document

    @bentoml.on_shutdown
    async def close(self) -> None:
        """Stop the alias re-check thread, write the buffered prediction log, close Redis."""
        self.champion.stop()
        if self.prediction_log is not None:
            self.prediction_log.close()
        await self.features.close()


def _ensure_log_output() -> None:
    """Make this package's INFO lines (start-up, access log) visible under `bentoml serve`,
    which configures only its own loggers."""
    package = logging.getLogger("model_serving")
    if not package.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        package.addHandler(handler)
    if package.level == logging.NOTSET:
        package.setLevel(logging.INFO)


def _json_response(content: object, status: int = 200) -> Response:
    import json

    return Response(
        json.dumps(content, default=str), status_code=status, media_type="application/json"
    )


def _service() -> DriverRanking | None:
    return bentoml.get_current_service()


async def _readyz() -> Response:
    service = _service()
    if service is None:
        return _json_response({"ready": False, "error": "starting"}, 503)
    ready, details = await service.readiness()
    return _json_response({"ready": ready, **details}, 200 if ready else 503)


async def _metrics() -> Response:
    import anyio.to_thread

    from online_service.metrics import render

    body, content_type = await anyio.to_thread.run_sync(render)  # reads every worker's files
    return Response(body, media_type=content_type)


async def _docs() -> Response:
    service = _service()
    if service is None:
        return error_response(503, "unavailable", "the service is starting")
    return _json_response(service.openapi_document())


def _api_key() -> str | None:
    key = get_online_settings().api_key
    return key.get_secret_value() if key is not None else None


def _metrics_of_process() -> Any:
    from online_service.metrics import get_metrics

    return get_metrics()


_rules_cache: dict[int, dict[str, BodyRule]] = {}


def _body_rules() -> dict[str, BodyRule]:
    settings = get_online_settings()  # cached; tests reset it between configurations
    rules = _rules_cache.get(id(settings))
    if rules is None:
        bulk_model: type[BaseModel] = BulkRankingRequest
        rules = _rules_cache[id(settings)] = {
            "/inference": BodyRule(settings.max_body_bytes, "SERVING_MAX_BODY_BYTES"),
            "/rank_bulk/submit": BodyRule(
                settings.bulk_max_body_bytes, "SERVING_BULK_MAX_BODY_BYTES", bulk_model
            ),
        }
    return rules


# `@bentoml.service` returns a Service object; mypy still sees the decorated class. The first
# added is the outermost: every answer is counted, including the 401/405/413 refusals.
DriverRanking.add_asgi_middleware(  # type: ignore[attr-defined]
    ObservedMiddleware, metrics=_metrics_of_process
)
DriverRanking.add_asgi_middleware(ApiKeyMiddleware, key_getter=_api_key)  # type: ignore[attr-defined]
DriverRanking.add_asgi_middleware(BodyLimitMiddleware, rules=_body_rules)  # type: ignore[attr-defined]
DriverRanking.add_asgi_middleware(  # type: ignore[attr-defined]
    OwnEndpointsMiddleware,
    handlers={"/readyz": _readyz, "/metrics": _metrics, "/docs.json": _docs},
    # BentoML adds these for every task; the service offers submit, status and get only.
    hidden=frozenset({"/rank_bulk", "/rank_bulk/retry", "/rank_bulk/cancel"}),
)
DriverRanking.add_asgi_middleware(PendingResultMiddleware, path="/rank_bulk/get")  # type: ignore[attr-defined]
