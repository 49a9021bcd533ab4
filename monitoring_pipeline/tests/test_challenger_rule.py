"""The live judgement of a challenger on simulated outcomes (no services): its figures equal
scikit-learn's, and over 20 seeds its hourly looks promote an equally good challenger at most
once, a clearly better one (+0.05 ROC AUC) at least 18 times within the demo's reach, and a
worse one never.

Simulation: each request's true completion logit is 1.6 s, s ~ N(0, 1); a model sees s through
its own Gaussian noise and answers the calibrated probability given what it sees. Noise 0.8
gives the champion a live ROC AUC of about 0.747 (the demo's champion: 0.73-0.75), 0.4 a
challenger of 0.798 (+0.05), 1.25 one of 0.697 (-0.05); an equally good challenger has the
champion's noise level, drawn independently. The demo serves a few hundred to a few thousand
outcomes an hour: here 500 a look, one look an hour, for at most PROMOTION_MAX_HOURS = 24.
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
from mlops_common.settings import PromotionSettings
from monitoring_pipeline.challenger import compare, judge, midranks
from sklearn.metrics import log_loss, roc_auc_score

BETA = 1.6
CHAMPION_NOISE = 0.8
PER_HOUR = 500
HOURS = 24
SEEDS = range(20)
# The demo's reach: five hours at its low traffic (about 2,500 outcomes).
REACHABLE = 2_500
SETTINGS = PromotionSettings(
    _env_file=None,  # type: ignore[call-arg]
    min_samples=300,
    margin=0.0,
    alpha=0.05,
    max_hours=HOURS,
)


def calibrated(seen: np.ndarray, noise: float) -> np.ndarray:
    """P(completion | what a model with NOISE sees), by the probit approximation."""
    mean, var = seen / (1 + noise**2), noise**2 / (1 + noise**2)
    return 1 / (1 + np.exp(-BETA * mean / np.sqrt(1 + math.pi * BETA**2 * var / 8)))


def traffic(
    seed: int, challenger_noise: float, n: int = PER_HOUR * HOURS
) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    truth = rng.normal(size=n)
    outcome = (rng.random(n) < 1 / (1 + np.exp(-BETA * truth))).astype(np.int64)
    champion = calibrated(truth + rng.normal(size=n) * CHAMPION_NOISE, CHAMPION_NOISE)
    challenger = calibrated(truth + rng.normal(size=n) * challenger_noise, challenger_noise)
    return outcome, champion, challenger


def hourly_looks(seed: int, challenger_noise: float) -> tuple[str, int]:
    """The first decision of the hourly looks and the outcomes it was made on."""
    outcome, champion, challenger = traffic(seed, challenger_noise)
    for hour in range(1, HOURS + 1):
        n = hour * PER_HOUR
        judgement = judge(outcome[:n], champion[:n], challenger[:n], float(hour), SETTINGS)
        if judgement.decision != "continue":
            return judgement.decision, n
    raise AssertionError("the maximum duration must end every challenger")


def decisions(challenger_noise: float) -> list[tuple[str, int]]:
    return [hourly_looks(seed, challenger_noise) for seed in SEEDS]


def test_figures_equal_scikit_learn() -> None:
    outcome, champion, challenger = traffic(0, 0.4, n=2_000)
    champion[:50] = challenger[:50] = 0.5  # ties
    c = compare(outcome, champion, challenger)
    assert c is not None
    assert c.champion_auc == pytest.approx(roc_auc_score(outcome, champion), abs=1e-12)
    assert c.challenger_auc == pytest.approx(roc_auc_score(outcome, challenger), abs=1e-12)
    assert c.champion_log_loss == pytest.approx(log_loss(outcome, champion), abs=1e-12)
    assert c.challenger_log_loss == pytest.approx(log_loss(outcome, challenger), abs=1e-12)
    assert c.auc_lower < c.auc_difference < c.auc_upper
    np.testing.assert_array_equal(midranks(np.array([3.0, 1.0, 3.0, 2.0])), [3.5, 1, 3.5, 2])


def test_an_equally_good_challenger_is_promoted_at_most_once_in_20() -> None:
    found = decisions(CHAMPION_NOISE)
    print(Counter(d for d, _ in found))
    assert sum(d == "promote" for d, _ in found) <= 1


def test_a_clearly_better_challenger_is_promoted_within_the_demo_s_reach() -> None:
    found = decisions(0.4)
    print(Counter(d for d, _ in found), sorted(n for d, n in found if d == "promote"))
    assert sum(d == "promote" and n <= REACHABLE for d, n in found) >= 18


def test_a_worse_challenger_is_never_promoted() -> None:
    found = decisions(1.25)
    print(Counter(d for d, _ in found))
    assert all(d == "retire" for d, _ in found)


def test_too_few_outcomes_wait_and_the_maximum_duration_retires() -> None:
    outcome, champion, challenger = traffic(1, 0.4, n=200)
    early = judge(outcome, champion, challenger, 1.0, SETTINGS)
    assert early.decision == "continue"
    assert "PROMOTION_MIN_SAMPLES" in early.reason
    late = judge(outcome, champion, challenger, float(HOURS), SETTINGS)
    assert late.decision == "retire"
    assert "PROMOTION_MAX_HOURS" in late.reason
    one_class = np.ones(400, dtype=np.int64)
    waiting = judge(one_class, np.full(400, 0.4), np.full(400, 0.5), 1.0, SETTINGS)
    assert waiting.decision == "continue"
    assert compare(one_class, np.full(400, 0.4), np.full(400, 0.5)) is None
