"""Traffic scenarios of the simulator: the drivers' statistics kept as generated (`stable`)
or shifted from a given time (`drift`), a documented, deterministic change.

The drift shift, applied to every driver's statistics from the drift time on::

    conv_rate       -= 0.15   (clipped to [0, 1])
    acc_rate        -= 0.10   (clipped to [0, 1])
    avg_daily_trips += 8

About one standard deviation of each feature's spread across drivers: the completion
probability drops (`data_pipeline.generate.completion_probability`), and the served features
no longer look like the ones the champion was trained on.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

Scenario = Literal["stable", "drift"]
CONV_SHIFT, ACC_SHIFT, TRIPS_SHIFT = -0.15, -0.10, 8


def shifted(stats: pd.DataFrame) -> pd.DataFrame:
    """STATS (conv_rate, acc_rate, avg_daily_trips columns) after the drift shift."""
    out = stats.copy()
    out["conv_rate"] = np.clip(out["conv_rate"] + CONV_SHIFT, 0, 1).astype("float32")
    out["acc_rate"] = np.clip(out["acc_rate"] + ACC_SHIFT, 0, 1).astype("float32")
    out["avg_daily_trips"] = (out["avg_daily_trips"] + TRIPS_SHIFT).astype("int64")
    return out
