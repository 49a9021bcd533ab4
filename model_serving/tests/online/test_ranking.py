"""Ranking logic on stubbed feature rows and a stub model: no Redis, no MLflow, no HTTP."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest
from mlops_common.models import ScoringModel
from online_service.features import FeatureRows, FeaturesUnavailableError
from online_service.ranking import NoFeaturesError, rank_rows

NAMES = ("conv_rate", "acc_rate", "avg_daily_trips")


class StubSource:
    """Features from a dict; ids absent from it have none."""

    feature_names = NAMES

    def __init__(self, table: dict[int, tuple[float, float, float]], *, down: bool = False):
        self.table = table
        self.down = down

    def read(self, driver_ids: Sequence[int]) -> FeatureRows:
        if self.down:
            raise FeaturesUnavailableError("redis down")
        found = [i for i in driver_ids if i in self.table]
        values = np.array([self.table[i] for i in found], dtype=np.float64).reshape(-1, 3)
        return FeatureRows(NAMES, found, values, [i for i in driver_ids if i not in self.table])


def rank_drivers(
    request_id: str, driver_ids: Sequence[int], source: StubSource, model: ScoringModel
):
    """What the service's request path does: read the rows, then rank them."""
    return rank_rows(request_id, source.read(driver_ids), model, 0.0)


def linear_model(weights: tuple[float, ...], order: tuple[int, ...] = (0, 1, 2)) -> ScoringModel:
    """Score = rows @ weights, over the columns ORDER picks from the source's columns."""
    w = np.asarray(weights)
    model = ScoringModel(
        "m",
        "7",
        "models:/m-7",
        features=tuple(NAMES[i] for i in order),
        predict_array=lambda x: x @ w,
    )
    return model.taking_columns(NAMES)


TABLE = {1: (0.1, 0.5, 3.0), 2: (0.9, 0.5, 10.0), 3: (0.5, 0.5, 1.0)}


def test_best_driver_first_and_scores_sorted() -> None:
    ranking = rank_drivers("r1", [1, 2, 3], StubSource(TABLE), linear_model((1.0, 0.0, 0.0)))
    response = ranking.response
    assert response.best_driver_id == 2
    assert [s.driver_id for s in response.scores] == [2, 3, 1]
    assert response.model_version == "7"
    assert response.request_id == "r1"
    assert ranking.feature_seconds >= 0
    assert ranking.predict_seconds >= 0


def test_columns_follow_the_model_signature_order() -> None:
    # The model's signature lists avg_daily_trips first: it must see that column first.
    model = linear_model((1.0, 0.0, 0.0), order=(2, 0, 1))
    response = rank_drivers("r", [1, 2, 3], StubSource(TABLE), model).response
    assert response.best_driver_id == 2
    assert response.scores[0].score == pytest.approx(10.0)


def test_unknown_drivers_are_listed_in_request_order() -> None:
    response = rank_drivers(
        "r", [9, 3, 8], StubSource(TABLE), linear_model((1.0, 0.0, 0.0))
    ).response
    assert response.missing_driver_ids == [9, 8]
    assert [s.driver_id for s in response.scores] == [3]


def test_no_driver_with_features_raises_no_features() -> None:
    with pytest.raises(NoFeaturesError) as caught:
        rank_drivers("r", [8, 9], StubSource(TABLE), linear_model((1.0, 0.0, 0.0)))
    assert caught.value.missing_driver_ids == [8, 9]


def test_ties_keep_the_request_order() -> None:
    response = rank_drivers(
        "r", [3, 1, 2], StubSource(TABLE), linear_model((0.0, 1.0, 0.0))
    ).response
    assert [s.driver_id for s in response.scores] == [3, 1, 2]


def test_unavailable_store_propagates() -> None:
    with pytest.raises(FeaturesUnavailableError):
        rank_drivers("r", [1], StubSource(TABLE, down=True), linear_model((1.0, 0.0, 0.0)))
