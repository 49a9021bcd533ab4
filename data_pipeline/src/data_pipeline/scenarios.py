"""Traffic scenarios of the simulator, each a documented, deterministic change from a given
time: the drivers' statistics kept as generated (`stable`), the statistics shifted (`drift`,
covariate drift), the completion function changed (`concept`, concept drift), or new
statistics that materialization does not bring online (`stale`, training-serving skew).

`drift`: the shift applied to every driver's statistics from the drift time on::

    conv_rate       -= 0.15   (clipped to [0, 1])
    acc_rate        -= 0.10   (clipped to [0, 1])
    avg_daily_trips += 8

About one standard deviation of each feature's spread across drivers: the completion
probability drops (`data_pipeline.generate.completion_probability`), and the served features
no longer look like the ones the champion was trained on; the relation a model learnt still
holds, so a retrained model cannot do better.

`stale` (materialization paused): from the change time on every driver's statistics move on,
the rows of the drivers permuted among them (so the statistics' distribution is unchanged: no
covariate drift), and reach the offline store, but are not materialized: the online service
keeps serving the previous values while a training join of the same requests reads the new
ones (training-serving skew). Outcomes are drawn from the statistics as served, so the skew is
the only thing that changes in the monitoring figures (no drift, no fall of the live ROC AUC).
Resuming materialization (the `materialize` DAG) clears it.

`concept`: the statistics stay as generated, but from the change time on outcomes follow
`concept_probability`: the generator's logit without conv_rate (its coefficient 6 -> 0) and with
avg_daily_trips' effect flipped and six times as strong (-0.04 -> +0.24 per trip): busy drivers
now complete more often and the conversion rate no longer tells anything. The champion leans
on conv_rate most, so its ranking loses nearly all its value; the new relation carries as
much signal as the old one, so a retrained model can come back. Sized in data_pipeline/README.md.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from data_pipeline.generate import (
    COEF_ACC_RATE,
    COEF_AVG_DAILY_TRIPS,
    COEF_CONV_RATE,
    INTERCEPT,
    completion_probability,
)

Scenario = Literal["stable", "drift", "concept", "stale"]
SCENARIOS: tuple[Scenario, ...] = ("stable", "drift", "concept", "stale")
CONV_SHIFT, ACC_SHIFT, TRIPS_SHIFT = -0.15, -0.10, 8
CONCEPT_CONV_FACTOR, CONCEPT_TRIPS_FACTOR = 0.0, -6.0


def shifted(stats: pd.DataFrame) -> pd.DataFrame:
    """STATS (conv_rate, acc_rate, avg_daily_trips columns) after the drift shift."""
    out = stats.copy()
    out["conv_rate"] = np.clip(out["conv_rate"] + CONV_SHIFT, 0, 1).astype("float32")
    out["acc_rate"] = np.clip(out["acc_rate"] + ACC_SHIFT, 0, 1).astype("float32")
    out["avg_daily_trips"] = (out["avg_daily_trips"] + TRIPS_SHIFT).astype("int64")
    return out


def moved(stats: pd.DataFrame, seed: int) -> pd.DataFrame:
    """STATS with their feature rows permuted among the drivers (a derangement: every driver
    gets another driver's statistics): new values per driver, the same distribution."""
    out = stats.copy()
    n = len(out)
    if n < 2:
        return out
    order = np.random.default_rng(seed).permutation(n)
    shift = 1 + int(np.random.default_rng(seed + 1).integers(0, n - 1))
    source = order[(np.argsort(order) + shift) % n]  # position i takes a row != i
    for column in ("conv_rate", "acc_rate", "avg_daily_trips"):
        out[column] = out[column].to_numpy()[source]
    return out


def concept_probability(
    conv_rate: np.ndarray, acc_rate: np.ndarray, avg_daily_trips: np.ndarray
) -> np.ndarray:
    """P(trip_completed = 1) after the concept change (same centring as the generator's)."""
    logit = (
        INTERCEPT
        + CONCEPT_CONV_FACTOR * COEF_CONV_RATE * (np.asarray(conv_rate, dtype="float64") - 0.5)
        + COEF_ACC_RATE * (np.asarray(acc_rate, dtype="float64") - 0.7)
        + CONCEPT_TRIPS_FACTOR
        * COEF_AVG_DAILY_TRIPS
        * (np.asarray(avg_daily_trips, dtype="float64") - 20.0)
    )
    return 1.0 / (1.0 + np.exp(-logit))


def outcome_probability(stats: pd.DataFrame, *, concept_changed: bool) -> np.ndarray:
    """P(trip completed) for drivers with STATS: the generator's function, or the concept
    scenario's once its change time has passed. Reads STATS, never changes them."""
    completion = concept_probability if concept_changed else completion_probability
    return np.asarray(
        completion(
            stats["conv_rate"].to_numpy(),
            stats["acc_rate"].to_numpy(),
            stats["avg_daily_trips"].to_numpy(),
        ),
        dtype="float64",
    )
