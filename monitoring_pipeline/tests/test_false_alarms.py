"""Drift detection on generated traffic: the drift scenario is detected, stable traffic is
not; the false-alarm rate over 20 stable seeds is printed and at most 5%.

Per seed: the generator's statistics (200 drivers, 7 days); the reference is what training
sees (the statistics as of uniformly drawn order times, scored); the window is what the online
service serves (each driver's latest statistics, scored); the drift window is the same after
the simulator's drift shift.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from data_pipeline.generate import completion_probability, generate
from data_pipeline.scenarios import shifted
from monitoring_pipeline.drift import judge_drift

FEATURES = ["conv_rate", "acc_rate", "avg_daily_trips"]
SEEDS = range(20)

pytestmark = pytest.mark.slow


def scored(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame[FEATURES].copy()
    out["score"] = completion_probability(out.conv_rate, out.acc_rate, out.avg_daily_trips)
    return out


def traffic(seed: int, folder: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    data = generate(n_drivers=200, days=7, n_orders=5000, n_batch_requests=10, seed=seed,
                    output_dir=folder, end_time=pd.Timestamp("2026-11-30", tz="UTC"))  # fmt: skip
    stats = pd.read_parquet(data.driver_stats).sort_values("event_timestamp")
    orders = pd.read_parquet(data.orders).sort_values("event_timestamp")
    joined = pd.merge_asof(orders, stats, on="event_timestamp", by="driver_id").dropna()
    latest = stats.groupby("driver_id").tail(1)
    return scored(joined), scored(latest)


def test_false_alarm_rate_over_stable_seeds(tmp_path: Path) -> None:
    alarms, detected = [], []
    for seed in SEEDS:
        reference, served = traffic(seed, tmp_path / str(seed))
        stable = judge_drift(reference, served, FEATURES, p_value=0.05, share_threshold=0.5)
        drift = judge_drift(
            reference, scored(shifted(served)), FEATURES, p_value=0.05, share_threshold=0.5
        )
        alarms.append(stable.detected)
        detected.append(drift.detected)
    rate = float(np.mean(alarms))
    print(
        f"\nfalse-alarm rate over {len(alarms)} stable seeds: {rate:.1%} "
        f"({sum(alarms)} alarms); drift detected in {sum(detected)} of {len(detected)}"
    )
    assert rate <= 0.05
    assert all(detected)
