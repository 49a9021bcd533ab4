"""Rank candidate drivers: read their online features, score them, pick the best.

Plain functions over a `FeatureSource` and a `ScoringModel`, so the logic is tested with a
stubbed feature source and no HTTP or Redis.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from mlops_common.models import ScoringModel

from online_service.features import AsyncRedisFeatureReader, FeatureRows, FeatureSource
from online_service.schemas import DriverScore, InferenceResponse


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


def rank_drivers(
    request_id: str, driver_ids: Sequence[int], source: FeatureSource, model: ScoringModel
) -> Ranking:
    """Score DRIVER_IDS with MODEL on SOURCE's features; the best driver first.

    Raises `NoFeaturesError` when no driver can be scored, and lets the source's
    `FeaturesUnavailableError` through (the service answers 503).
    """
    started = time.perf_counter()
    rows = source.read(driver_ids)
    return rank_rows(request_id, rows, model, time.perf_counter() - started)


async def rank_drivers_async(
    request_id: str, driver_ids: Sequence[int], source: AsyncRedisFeatureReader, model: ScoringModel
) -> Ranking:
    """`rank_drivers` with an awaited feature read (the service's request path)."""
    started = time.perf_counter()
    rows = await source.read(driver_ids)
    return rank_rows(request_id, rows, model, time.perf_counter() - started)


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
        model_version=model.version,
    )
    return Ranking(response, feature_seconds, predict_seconds, rows)
