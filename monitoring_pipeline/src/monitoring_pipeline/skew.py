"""Training-serving skew in production: for a sample of one window's served rows, the feature
values the online service answered with (the prediction log's feature columns, read from Redis
at request time) against the values a training join of the same request would get: the offline
store's point-in-time features for the same driver as of the request's time, through the
project's sorted engine (`feature_store.point_in_time.join_sorted`) over the views' files.

Per feature, the share of sampled rows
- `differing`: both sides have a value and they differ beyond MONITORING_SKEW_TOLERANCE
  (relative and absolute; float32 features are compared as float32);
- `missing_served`: the offline store has a value, the service served none (a driver missing
  from Redis);
- `missing_offline`: the service served a value the offline store does not hold at that time
  (a row past the ttl offline, or deleted upstream);
- `any`: the three together.

Healthy, every share is 0: materialization copies the latest offline row of each driver into
Redis, and rows reach the offline store before they are materialized. When materialization
lags behind the offline store (paused, failing), the service answers with older values than a
training join sees, and `differing` rises with the share of drivers that changed since.

The sample is drawn with a seed from the window's start, so a re-run of a window measures the
same rows.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

import numpy as np
import pandas as pd
from mlops_common.errors import UserError
from mlops_common.settings import get_feast_settings
from prediction_log import schema as log
from pydantic import BaseModel

logger = logging.getLogger(__name__)

APPLY_COMMAND = "data-pipeline feast-apply"
KINDS = ("differing", "missing_served", "missing_offline", "any")


class FeatureSkew(BaseModel):
    """Shares of the sampled rows, for one feature."""

    differing: float
    missing_served: float
    missing_offline: float
    any: float


class SkewFigures(BaseModel):
    rows: int  # sampled served rows
    served_rows: int  # served rows in the window, sampled from
    tolerance: float
    features: dict[str, FeatureSkew]
    max_share: float  # the largest `any` share among the features
    worst_feature: str
    gate: float  # MONITORING_MAX_SKEW_SHARE
    detected: bool  # max_share > gate

    def line(self) -> str:
        """One line for the report and the logs."""
        worst = self.features[self.worst_feature]
        return (
            f"training-serving skew on {self.rows} sampled served rows: largest share "
            f"{self.max_share:.3f} ({self.worst_feature}: {worst.differing:.3f} differing, "
            f"{worst.missing_served:.3f} missing served, {worst.missing_offline:.3f} missing "
            f"offline), gate {self.gate}" + (": skew detected" if self.detected else "")
        )


def window_seed(window_start: datetime) -> int:
    """The sample's seed: the window's start, so a re-run samples the same rows."""
    return int(window_start.timestamp()) % (2**32)


def offline_features(
    drivers: np.ndarray, times: pd.Series, features: Sequence[str]
) -> pd.DataFrame:
    """The offline store's point-in-time FEATURES for each (driver, time), in order: what a
    training join of those requests reads (the sorted engine, Feast's semantics: the latest
    row at or before the time, within the view's ttl)."""
    from feature_store.apply import current_sources
    from feature_store.point_in_time import TIMESTAMP_COLUMN, join_sorted

    sources = current_sources(get_feast_settings().feature_service, APPLY_COMMAND)
    [key] = {k for source in sources for k in source.join_keys.values()}
    requests = pd.DataFrame(
        {
            key: drivers.astype("int64"),
            TIMESTAMP_COLUMN: pd.to_datetime(times, utc=True)
            .dt.as_unit("us")
            .reset_index(drop=True),
        }
    )
    joined = join_sorted(requests, sources)
    return joined.select(list(features)).to_pandas()


def compare(
    served: pd.DataFrame, offline: pd.DataFrame, features: Sequence[str], tolerance: float
) -> dict[str, FeatureSkew]:
    """Per feature, the shares of rows (SERVED and OFFLINE aligned by position) that differ
    beyond TOLERANCE or miss a value on one side."""
    rows = len(served)
    figures: dict[str, FeatureSkew] = {}
    for feature in features:
        # float32 on both sides (the view's type for the rates): equal values compare equal
        s = pd.to_numeric(served[feature], errors="coerce").to_numpy("float64")
        o = pd.to_numeric(offline[feature], errors="coerce").to_numpy("float64")
        s_missing, o_missing = np.isnan(s), np.isnan(o)
        both = ~s_missing & ~o_missing
        close = np.isclose(s.astype("float32"), o.astype("float32"), rtol=tolerance, atol=tolerance)
        differing = both & ~close
        missing_served = s_missing & ~o_missing
        missing_offline = ~s_missing & o_missing
        figures[feature] = FeatureSkew(
            differing=float(differing.sum() / rows),
            missing_served=float(missing_served.sum() / rows),
            missing_offline=float(missing_offline.sum() / rows),
            any=float((differing | missing_served | missing_offline).sum() / rows),
        )
    return figures


def measure_skew(
    served: pd.DataFrame,
    features: Sequence[str],
    *,
    sample_rows: int,
    tolerance: float,
    gate: float,
    seed: int,
) -> SkewFigures | None:
    """The skew of a sample of SERVED (one row per request and candidate: driver_id,
    log_timestamp and the FEATURES as served, with the candidates the service found no
    features for); None when there is nothing to sample or SAMPLE_ROWS is 0, or the offline
    store's layout is not there (a warning says so: skew is not worth failing monitoring)."""
    if sample_rows <= 0 or served.empty:
        return None
    sample = (
        served.sample(n=sample_rows, random_state=seed) if len(served) > sample_rows else served
    )
    try:
        offline = offline_features(
            sample[log.DRIVER_ID].to_numpy(), sample[log.LOGGED_AT], features
        )
    except (UserError, FileNotFoundError) as exc:  # no applied layout, or no offline file yet
        logger.warning("training-serving skew not measured: %s", exc)
        return None
    per_feature = compare(sample.reset_index(drop=True), offline, features, tolerance)
    worst = max(per_feature, key=lambda name: per_feature[name].any)
    max_share = per_feature[worst].any
    return SkewFigures(
        rows=len(sample),
        served_rows=len(served),
        tolerance=tolerance,
        features=per_feature,
        max_share=max_share,
        worst_feature=worst,
        gate=gate,
        detected=max_share > gate,
    )
