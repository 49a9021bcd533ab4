"""Behavioural tests of the model: it learns the generator's documented relation (direction of
each feature's effect), ranks like it, and does not depend on the order of the rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from data_pipeline.generate import completion_probability, roc_auc
from mlops_common.classifier import PositiveProbability
from training_pipeline.settings import TrainSettings
from training_pipeline.train import coefficients, fit_model

FEATURES = ["conv_rate", "acc_rate", "avg_daily_trips"]
# Sign of each feature's effect on P(trip_completed) in the generator's label model.
DOCUMENTED_DIRECTION = {"conv_rate": +1, "acc_rate": +1, "avg_daily_trips": -1}


def labelled_rows(rows: int, seed: int) -> tuple[pd.DataFrame, pd.Series]:
    """Feature rows spread like the generator's, labelled by its documented probability."""
    rng = np.random.default_rng(seed)
    features = pd.DataFrame(
        {
            "conv_rate": np.clip(rng.normal(0.5, 0.18, rows), 0, 1),
            "acc_rate": np.clip(rng.normal(0.72, 0.12, rows), 0, 1),
            "avg_daily_trips": np.clip(np.rint(rng.normal(20, 7, rows)), 0, None),
        }
    )
    p = completion_probability(
        features.conv_rate.to_numpy(),
        features.acc_rate.to_numpy(),
        features.avg_daily_trips.to_numpy(),
    )
    return features, pd.Series((rng.uniform(size=rows) < p).astype("int64"))


@pytest.fixture(scope="module")
def trained() -> tuple[PositiveProbability, pd.DataFrame, pd.Series]:
    features, label = labelled_rows(4_000, seed=3)
    return fit_model(features, label, TrainSettings()), features, label


@pytest.mark.parametrize("feature", FEATURES)
def test_coefficient_sign_matches_the_generator(
    trained: tuple[PositiveProbability, pd.DataFrame, pd.Series], feature: str
) -> None:
    model, _, _ = trained
    assert np.sign(coefficients(model, FEATURES)[feature]) == DOCUMENTED_DIRECTION[feature]


@pytest.mark.parametrize("feature", FEATURES)
def test_raising_a_feature_moves_the_score_in_the_documented_direction(
    trained: tuple[PositiveProbability, pd.DataFrame, pd.Series], feature: str
) -> None:
    model, features, _ = trained
    probe = features.head(200)
    step = probe[feature].std()
    moved = model.predict(probe.assign(**{feature: probe[feature] + step}))
    change = moved - model.predict(probe)
    assert (np.sign(change) == DOCUMENTED_DIRECTION[feature]).all()


def test_ranking_on_new_rows_is_close_to_the_true_probability() -> None:
    features, label = labelled_rows(4_000, seed=3)
    model = fit_model(features, label, TrainSettings())
    new_features, new_label = labelled_rows(4_000, seed=4)
    truth = completion_probability(*(new_features[f].to_numpy() for f in FEATURES))
    model_auc = roc_auc(new_label.to_numpy(), model.predict(new_features))
    assert model_auc > 0.7
    assert model_auc >= roc_auc(new_label.to_numpy(), truth) - 0.01


def test_training_is_invariant_to_row_order(
    trained: tuple[PositiveProbability, pd.DataFrame, pd.Series],
) -> None:
    model, features, label = trained
    order = np.random.default_rng(9).permutation(len(features))
    shuffled = fit_model(
        features.iloc[order].reset_index(drop=True),
        label.iloc[order].reset_index(drop=True),
        TrainSettings(),
    )
    np.testing.assert_allclose(
        list(coefficients(shuffled, FEATURES).values()),
        list(coefficients(model, FEATURES).values()),
        rtol=1e-6,
    )
    np.testing.assert_allclose(shuffled.predict(features), model.predict(features), atol=1e-9)


def test_scores_do_not_depend_on_the_other_rows_in_a_request(
    trained: tuple[PositiveProbability, pd.DataFrame, pd.Series],
) -> None:
    model, features, _ = trained
    batch = features.head(50)
    alone = np.concatenate([model.predict(batch.iloc[[i]]) for i in range(len(batch))])
    np.testing.assert_allclose(model.predict(batch.iloc[::-1])[::-1], alone)


def test_a_tiny_c_gives_constant_predictions() -> None:
    features, label = labelled_rows(1_000, seed=5)
    model = fit_model(features, label, TrainSettings(c=1e-6))
    assert np.ptp(model.predict(features)) == 0


def test_scores_are_calibrated_probabilities_of_completion(
    trained: tuple[PositiveProbability, pd.DataFrame, pd.Series],
) -> None:
    model, _, _ = trained
    features, label = labelled_rows(4_000, seed=6)
    predicted = model.predict(features)
    assert ((predicted > 0) & (predicted < 1)).all()
    np.testing.assert_array_equal(predicted, model.predict_proba(features)[:, 1])
    # Mean predicted probability matches the completion rate of new rows, per half of the score.
    high = predicted >= np.median(predicted)
    for part in (high, ~high):
        assert abs(predicted[part].mean() - label.to_numpy()[part].mean()) < 0.03
