"""The online driver-ranking service (BentoML 1.4): `POST /inference` ranks candidate drivers.

Run it with `model-serving serve`, `bentoml serve online_service.service:DriverRanking`, or
as a Bento (`make bento`). Start-up loads the version `models:/<name>@champion` names (retrying,
then exiting with a clear message) and re-checks the alias in a thread; a request is one Redis
read awaited on the event loop, one predict, one JSON answer. When a version carries the
`challenger` alias (PROMOTION_MODE=shadow) it is held too and scores the answered requests in
the prediction log's thread (`online_service.shadow`), never in the answer. Answers of
`POST /inference` (`/docs.json` lists them with their bodies):
- 200 `InferenceResponse`: best driver, scores (completion probabilities) best first, ids
  without features, model version.
- 400 `ValidationErrorBody`: invalid body (`detail[].loc` names the field) or X-Request-ID;
  401 `unauthorized`: an API key is configured and X-API-Key is missing or wrong.
- 413 `too_large` / 415 `unsupported_media_type`: body over SERVING_MAX_BODY_BYTES / not JSON.
- 422 `ErrorBody` `no_features`: none of the drivers has online features (all listed).
- 503 `ErrorBody` `unavailable`: Redis is unreachable (answered within the Redis timeouts).
Every answer carries `X-Request-ID`. `POST /rank_bulk/submit` ranks many requests as a task,
each result what `/inference` answers. BentoML's shortfalls are fixed in `framework`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import bentoml
from starlette.responses import Response

from online_service import framework
from online_service.http import current_request, json_answer
from online_service.schemas import (
    BulkRankingRequest,
    BulkRankingResponse,
    BulkRankingResult,
    InferenceRequest,
    InferenceResponse,
    request_id_of,
)
from online_service.settings import get_online_settings


@bentoml.service(name="driver_ranking", **framework.service_config(get_online_settings()))
class DriverRanking:
    """Ranks candidate drivers with the champion model on their Feast online features."""

    def __init__(self) -> None:
        from mlops_common.settings import get_promotion_settings
        from prediction_log.settings import get_prediction_log_settings

        from online_service.features import open_feature_reader
        from online_service.holder import open_challenger, open_champion
        from online_service.metrics import get_metrics
        from online_service.ranking import Ranker
        from online_service.recorder import open_prediction_log
        from online_service.shadow import ShadowScorer

        framework.ensure_log_output()
        self.settings = settings = get_online_settings()
        self.metrics = metrics = get_metrics()
        self.features = open_feature_reader(settings)
        names = self.features.feature_names
        self.champion = open_champion(
            settings, names, lambda old, new: metrics.served_model(new, old)
        )
        # The challenger's scores live only in the prediction log: no log, no challenger.
        metrics.challenger_max_age.set(get_promotion_settings().max_hours * 3600)
        self.challenger = (
            open_challenger(
                settings,
                names,
                lambda old, new: metrics.held_challenger(new, old),
                lambda error: metrics.challenger_check_failing.set(error is not None),
            )
            if get_prediction_log_settings().enabled
            else None
        )
        self.shadow = (
            ShadowScorer(self.challenger, settings.shadow_share, metrics)
            if self.challenger is not None
            else None
        )
        self.prediction_log = open_prediction_log(
            names, on_ready=lambda: framework.freeze_heap(settings), shadow=self.shadow
        )
        self.ranker = Ranker(
            self.features, self.champion, metrics, self.prediction_log, settings.access_log
        )
        framework.cache_api_callers(self)
        framework.freeze_heap(settings)

    # The request model as the one positional-only argument: BentoML passes the validated model
    # through (keyword inputs take a deprecated pydantic path that warns per request). Async:
    # the Redis read is awaited on the event loop, without a hop to BentoML's thread pool.
    @bentoml.api(route="/inference", output_spec=InferenceResponse)
    async def inference(self, request: InferenceRequest, /) -> InferenceResponse | Response:
        """Rank the request's drivers for one trip: the best, every score, those without features.

        422 when none of the drivers has online features, 503 when Redis is unreachable.
        """
        state = current_request()
        request_id = request_id_of(request, state.header_request_id if state else None)
        status, body, outcome = await self.ranker.rank(request_id, request.driver_ids)
        if state is not None:
            state.request_id, state.outcome = request_id, outcome
        return json_answer(status, body)

    @bentoml.task(route="/rank_bulk", output_spec=BulkRankingResponse)
    async def rank_bulk(self, request: BulkRankingRequest, /) -> Response:
        """Rank many requests (e.g. a day's trips): each result is what /inference answers."""
        results = []
        for item in request.requests:
            status, body, _ = await self.ranker.rank(item.request_id, item.driver_ids)
            results.append(BulkRankingResult(status=status, body=body))
        return json_answer(200, BulkRankingResponse(results=results))

    async def readiness(self) -> tuple[bool, dict[str, Any]]:
        """Ready = a model is loaded and Redis answers; registry trouble and the challenger
        (held, failing to load or to score) are reported only."""
        model = self.champion.current
        redis_ok = await self.features.ping()
        now = datetime.now(UTC)
        # one MLflow call's timeout, plus a second of slack before calling it hung
        timeout = self.settings.mlflow_request_timeout_seconds + 1.0
        registry = self.champion.status.report(now, self.champion.refresh_seconds, timeout)
        details = {
            "model": {"name": model.name, "version": model.version} if model else None,
            "redis": "ok" if redis_ok else "unreachable",
            "registry": registry,
            "challenger": self.shadow.readiness(now, timeout) if self.shadow else None,
        }
        return model is not None and redis_ok, details

    async def __is_ready__(self) -> bool:  # BentoML's readiness hook
        ready, _ = await self.readiness()
        return ready

    @bentoml.on_shutdown
    async def close(self) -> None:
        """Stop the alias re-check threads, write the buffered prediction log, close Redis."""
        self.champion.stop()
        if self.challenger is not None:
            self.challenger.stop()
        if self.prediction_log is not None:
            self.prediction_log.close()
        await self.features.close()


framework.install_middlewares(DriverRanking)
