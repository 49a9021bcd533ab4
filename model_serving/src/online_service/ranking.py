"""Rank candidate drivers: read their online features, score them, pick the best.

`rank_rows` is the logic (tested with stub rows, no HTTP or Redis); `Ranker` is the request
path around it: the awaited feature read, the answer or error for each outcome, the metrics,
the access line and the prediction log.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from mlops_common.models import ScoringModel

from online_service.features import AsyncRedisFeatureReader, FeatureRows, FeaturesUnavailableError
from online_service.schemas import DriverScore, ErrorBody, InferenceResponse

if TYPE_CHECKING:
    from online_service.holder import ChampionHolder
    from online_service.metrics import ServiceMetrics
    from online_service.recorder import PredictionLog

access_logger = logging.getLogger("online_service.access")


class NoFeaturesError(LookupError):
    """None of the requested drivers has online features: there is nobody to rank."""

    def __init__(self, missing_driver_ids: list[int]) -> None:
        super().__init__(
            f"none of the {len(missing_driver_ids)} requested drivers has online features; "
            "check the ids or run the feature materialization"
        )
        self.missing_driver_ids = missing_driver_ids


@dataclass(frozen=True)
class Ranking:
    """The answer, how long each stage took (for the latency metrics) and the features it was
    computed from (for the prediction log)."""

    response: InferenceResponse
    feature_seconds: float
    predict_seconds: float
    rows: FeatureRows


def rank_rows(
    request_id: str, rows: FeatureRows, model: ScoringModel, feature_seconds: float
) -> Ranking:
    """Score ROWS with MODEL; the best driver first (`NoFeaturesError` when ROWS is empty)."""
    if not rows.driver_ids:
        raise NoFeaturesError(rows.missing_driver_ids)
    started = time.perf_counter()
    scores = model.predict(rows.values)
    predict_seconds = time.perf_counter() - started

    order = np.argsort(-scores, kind="stable")  # ties keep the request order
    ranked = [DriverScore(driver_id=rows.driver_ids[i], score=float(scores[i])) for i in order]
    response = InferenceResponse(
        request_id=request_id,
        best_driver_id=ranked[0].driver_id,
        scores=ranked,
        missing_driver_ids=rows.missing_driver_ids,
        model_name=model.name,
        model_version=str(model.version),
    )
    return Ranking(response, feature_seconds, predict_seconds, rows)


Answer = tuple[int, InferenceResponse | ErrorBody, str]  # status, body, outcome label


@dataclass
class Ranker:
    """Answers ranking requests with the champion held now, as POST /inference answers them."""

    features: AsyncRedisFeatureReader
    champion: ChampionHolder
    metrics: ServiceMetrics
    prediction_log: PredictionLog | None
    access_log: bool = True

    async def rank(self, request_id: str, driver_ids: Sequence[int]) -> Answer:
        """(status, body, outcome) of ranking DRIVER_IDS: 200, 422 when none has features,
        503 when Redis (or the model) is unavailable."""
        started = time.perf_counter()
        status, body, outcome = await self._answer(request_id, driver_ids)
        if self.access_log:
            model = self.champion.current
            access_logger.info(
                "request_id=%s status=%d outcome=%s drivers=%d model_version=%s ms=%.2f",
                request_id,
                status,
                outcome,
                len(driver_ids),
                model.version if model else "-",
                (time.perf_counter() - started) * 1000,
            )
        return status, body, outcome

    async def _answer(self, request_id: str, driver_ids: Sequence[int]) -> Answer:
        metrics = self.metrics
        model = self.champion.current
        if model is None:  # only between a failed start and exit; kept for completeness
            body = ErrorBody(error="unavailable", message="no model loaded", request_id=request_id)
            return 503, body, "model_unavailable"
        try:
            started = time.perf_counter()
            rows = await self.features.read(driver_ids)
            ranking = rank_rows(request_id, rows, model, time.perf_counter() - started)
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
