"""The online driver-ranking service (BentoML 1.4): `POST /inference` ranks candidate drivers.

Start it with `model-serving serve` (or `bentoml serve model_serving.service:DriverRanking`).
At start-up the worker resolves `models:/<name>@champion` in MLflow (retrying with backoff, then
exiting with a clear message), loads that version once, lays out the Feast feature service's
Redis keys from the registry, and starts a thread that re-checks the alias every
`SERVING_MODEL_REFRESH_SECONDS`. Per request: one pipelined Redis read, one `predict` on a
float64 array, one JSON answer.

Answers of `POST /inference`:
- 200 `InferenceResponse`: best driver, scores best first, ids without features, model version.
- 400 invalid body (BentoML's validation error; `detail[].loc` names the field).
- 401 `ErrorBody` `unauthorized`: an API key is configured and X-API-Key is missing or wrong.
- 422 `ErrorBody` `no_features`: none of the drivers has online features (all listed).
- 503 `ErrorBody` `unavailable`: Redis is unreachable (answered within the Redis timeouts).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import bentoml
from starlette.responses import Response

from model_serving.online.http import ApiKeyMiddleware, ReadinessMiddleware, error_response
from model_serving.online.schemas import InferenceRequest, InferenceResponse
from model_serving.online.settings import get_online_settings

logger = logging.getLogger(__name__)
access_logger = logging.getLogger("model_serving.online.access")

_settings = get_online_settings()  # the bind address and worker count are fixed per process


@bentoml.service(
    name="driver_ranking",
    workers=_settings.workers,
    http={"host": _settings.host, "port": _settings.port},
    traffic={"timeout": 30},
    # Our access line below carries the caller's request id; BentoML's would be a second line.
    logging={"access": {"enabled": False}},
    # No span per inference request: spans are not exported here, and creating them cost
    # ~15% of the request's CPU (py-spy). The access line below carries the request id.
    tracing={"excluded_urls": ["/inference"]},
)
class DriverRanking:
    """Ranks candidate drivers with the champion model on their Feast online features."""

    def __init__(self) -> None:
        from feature_store.store import get_store
        from mlops_common.settings import (
            get_feast_settings,
            get_mlflow_settings,
            get_redis_settings,
        )

        from model_serving.online.features import RedisFeatureReader
        from model_serving.online.metrics import get_metrics
        from model_serving.online.model import ChampionHolder

        _ensure_log_output()
        settings = get_online_settings()
        redis_settings = get_redis_settings()
        mlflow_settings = get_mlflow_settings()
        self.settings = settings
        self.metrics = get_metrics()
        self.features = RedisFeatureReader.from_store(
            get_store(),
            get_feast_settings().feature_service,
            host=redis_settings.host,
            port=redis_settings.port,
            password=(
                redis_settings.password.get_secret_value() if redis_settings.password else None
            ),
            socket_timeout=redis_settings.socket_timeout,
            connect_timeout=settings.redis_connect_timeout_seconds,
        )
        self.champion = ChampionHolder(
            tracking_uri=mlflow_settings.resolved_tracking_uri,
            name=mlflow_settings.model_name,
            alias=mlflow_settings.champion_alias,
            source_features=self.features.feature_names,
            refresh_seconds=settings.model_refresh_seconds,
            request_timeout_seconds=settings.mlflow_request_timeout_seconds,
            on_change=lambda old, new: self.metrics.served_model(
                new.name, new.version, old.version if old else None
            ),
        )
        self.champion.load_with_retries(settings.model_start_timeout_seconds)
        self.champion.start_refreshing()
        # Prediction log (model_serving.online.prediction_log): None when switched off.
        from model_serving.online.prediction_log import open_prediction_log

        self.prediction_log = open_prediction_log(self.features.feature_names)
        logger.info(
            "ready: features %s from Redis %s:%s, model %s",
            list(self.features.feature_names),
            redis_settings.host,
            redis_settings.port,
            mlflow_settings.champion_uri,
        )

    # The request model as the one positional-only argument: BentoML passes the validated
    # model through (keyword inputs go through a deprecated pydantic access that warns on
    # every request). The output spec documents the 200 body; answers are built below.
    @bentoml.api(route="/inference", output_spec=InferenceResponse)
    def inference(self, request: InferenceRequest, /) -> InferenceResponse | Response:
        """Rank the request's drivers for one trip: the best, every score, those without features.

        422 when none of the drivers has online features, 503 when Redis is unreachable.
        """
        request_id, driver_ids = request.request_id, request.driver_ids
        from model_serving.online.features import FeaturesUnavailableError
        from model_serving.online.ranking import NoFeaturesError, rank_drivers

        started = time.perf_counter()
        model = self.champion.current
        metrics = self.metrics
        # A sync method: BentoML runs it in its thread pool, so a slow or hung Redis (bounded by
        # the client timeouts) holds one thread, never the event loop that serves /readyz.
        try:
            if model is None:  # only between a failed start and exit; kept for completeness
                raise LookupError("no model loaded")
            ranking = rank_drivers(request_id, driver_ids, self.features, model)
        except NoFeaturesError as exc:
            outcome, status = "no_features", 422
            metrics.drivers_without_features.inc(len(exc.missing_driver_ids))
            answer = error_response(
                422,
                "no_features",
                str(exc),
                request_id=request_id,
                missing_driver_ids=exc.missing_driver_ids,
            )
        except FeaturesUnavailableError as exc:
            outcome, status = "features_unavailable", 503
            answer = error_response(503, "unavailable", str(exc), request_id=request_id)
        except LookupError as exc:
            outcome, status = "model_unavailable", 503
            answer = error_response(503, "unavailable", str(exc), request_id=request_id)
        else:
            outcome, status = "ok", 200
            response = ranking.response
            metrics.feature_read_seconds.observe(ranking.feature_seconds)
            metrics.predict_seconds.observe(ranking.predict_seconds)
            if response.missing_driver_ids:
                metrics.drivers_without_features.inc(len(response.missing_driver_ids))
            answer = Response(
                response.__pydantic_serializer__.to_json(response), media_type="application/json"
            )
            if self.prediction_log is not None:  # buffered; never blocks the request
                self.prediction_log.record(response, ranking.rows)
        metrics.requests.labels(outcome=outcome).inc()
        metrics.inference_seconds.observe(time.perf_counter() - started)
        if self.settings.access_log:
            access_logger.info(
                "request_id=%s status=%d outcome=%s drivers=%d model_version=%s ms=%.2f",
                request_id,
                status,
                outcome,
                len(driver_ids),
                model.version if model else "-",
                (time.perf_counter() - started) * 1000,
            )
        return answer

    async def readiness(self) -> tuple[bool, dict[str, Any]]:
        """Ready = a model is loaded and Redis answers; registry trouble is reported only."""
        import anyio

        model = self.champion.current
        redis_ok = await anyio.to_thread.run_sync(self.features.ping)
        status = self.champion.status
        details: dict[str, Any] = {
            "model": {"name": model.name, "version": model.version} if model else None,
            "redis": "ok" if redis_ok else "unreachable",
            "registry": {
                "last_check_at": status.last_check_at,
                "last_check_error": status.last_check_error,
                "refresh_seconds": self.champion.refresh_seconds,
            },
        }
        return model is not None and redis_ok, details

    async def __is_ready__(self) -> bool:
        ready, _ = await self.readiness()
        return ready

    @bentoml.on_shutdown
    def close(self) -> None:
        """Stop the alias re-check thread, write the buffered prediction log, close Redis."""
        self.champion.stop()
        if self.prediction_log is not None:
            self.prediction_log.close()
        self.features.close()


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


async def _current_readiness() -> tuple[bool, dict[str, Any]]:
    service = bentoml.get_current_service()
    if service is None:
        return False, {"error": "starting"}
    return await service.readiness()


def _api_key() -> str | None:
    key = get_online_settings().api_key
    return key.get_secret_value() if key is not None else None


def _count_unauthorized() -> None:
    from model_serving.online.metrics import get_metrics

    get_metrics().requests.labels(outcome="unauthorized").inc()


# `@bentoml.service` returns a Service object; mypy still sees the decorated class.
DriverRanking.add_asgi_middleware(  # type: ignore[attr-defined]
    ApiKeyMiddleware, key_getter=_api_key, on_reject=_count_unauthorized
)
DriverRanking.add_asgi_middleware(  # type: ignore[attr-defined]
    ReadinessMiddleware, report=_current_readiness
)
