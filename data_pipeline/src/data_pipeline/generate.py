"""Deterministic synthetic data standing in for the upstream database.

Three files, all written atomically:

* `driver_stats.parquet`: hourly statistics per driver (ids 1001.., 1001-1005 always present and
  always reporting): driver_id int64, event_timestamp and created (UTC), conv_rate and acc_rate
  float32 in [0, 1], avg_daily_trips int64 >= 0. Each driver has its own level, a linear trend
  over the window, a daily cycle and an AR(1) deviation (hourly autocorrelation 0.9, so a value
  is nearly unrelated to itself two days later).
* `orders.parquet`: labelled orders (driver_id, event_timestamp, trip_completed 0/1).
* `batch_requests.parquet`: the same kind of rows without the label (an independent draw).

The label, as a documented function of the driver's statistics at the order time (the last
hourly value at or before the order, which is exactly what a point-in-time join returns while
the driver reports)::

    logit = -0.3 + 6.0 * (conv_rate - 0.5) + 4.0 * (acc_rate - 0.7)
                 - 0.04 * (avg_daily_trips - 20)
    P(trip_completed = 1) = 1 / (1 + exp(-logit))

conv_rate and acc_rate raise the completion probability; a busier driver (more daily trips) is
slightly less likely to complete (fatigue, more cancellations). While a driver is not reporting
(before the first record, inside a reporting gap) the label still follows the driver's
unobserved hourly state: the data has no features for those orders (a feature store returns
nulls past the ttl), so nothing can be learnt from them.

Most of the variation is the hourly deviation, not the driver's level, so the latest value of a
driver says little about an order a few days earlier. With the default settings (seed 42,
200 drivers, 7 days, 20,000 orders) the true probabilities reach ROC AUC 0.79 on the generated
labels, the same function applied to each driver's latest values only 0.55
(see `GenerationSummary`; the figures for a given run are in `generation_summary.json`).

Edge rows: besides 1001-1005, about 5 % of drivers start reporting late (orders before their
first record), 3 % stop reporting early and 3 % have a reporting gap of 3-4 days, longer than
the feature view's 2-day ttl (orders in the gap's tail have no in-ttl features). Windows too
short to hold such a gap get late starters only.

Memory stays bounded for 10,000 drivers x 30 days (7.2 M rows): statistics are produced and
written in chunks of drivers (one parquet row group each). Every driver draws from its own
random stream (seed, driver id), so the output does not depend on the chunk size.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from mlops_common.files import atomic_path, write_json, write_parquet
from tqdm import tqdm

from data_pipeline.settings import get_data_settings

logger = logging.getLogger(__name__)

FIRST_DRIVER_ID = 1001
ALWAYS_PRESENT = 5  # drivers 1001-1005 report every hour of the window
HOUR = np.timedelta64(1, "h")

# Label model (see the module docstring).
INTERCEPT = -0.3
COEF_CONV_RATE = 6.0
COEF_ACC_RATE = 4.0
COEF_AVG_DAILY_TRIPS = -0.04

# Hourly dynamics.
AR_PHI = 0.9
CONV_SD, ACC_SD, TRIPS_SD = 0.18, 0.12, 7.0
# Reporting coverage (shares of drivers other than 1001-1005).
LATE_START_SHARE, CHURN_SHARE, GAP_SHARE = 0.05, 0.03, 0.03
GAP_HOURS = (72, 96)  # longer than the feature view's 2-day ttl
CHUNK_DRIVERS = 500

STATS_SCHEMA = pa.schema(
    [
        ("driver_id", pa.int64()),
        ("event_timestamp", pa.timestamp("us", tz="UTC")),
        ("created", pa.timestamp("us", tz="UTC")),
        ("conv_rate", pa.float32()),
        ("acc_rate", pa.float32()),
        ("avg_daily_trips", pa.int64()),
    ]
)
# The statistics the feature view serves (the columns after the keys and times).
FEATURES = ["conv_rate", "acc_rate", "avg_daily_trips"]
REQUEST_SCHEMA = pa.schema(
    [("driver_id", pa.int64()), ("event_timestamp", pa.timestamp("us", tz="UTC"))]
)
ORDERS_SCHEMA = REQUEST_SCHEMA.append(pa.field("trip_completed", pa.int64()))


@dataclass(frozen=True)
class GeneratedData:
    """Where one generation wrote its files."""

    driver_stats: Path
    orders: Path
    batch_requests: Path
    summary: Path


@dataclass(frozen=True)
class GenerationSummary:
    """What was generated and how much signal the labels carry."""

    seed: int
    n_drivers: int
    days: int
    window_start: str
    end_time: str
    stats_rows: int
    n_orders: int
    n_batch_requests: int
    positive_rate: float
    true_probability_auc: float
    latest_value_auc: float
    orders_without_reported_state: int


def floor_hour(moment: datetime) -> datetime:
    """MOMENT in UTC, truncated to the hour (naive input is taken as UTC)."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def completion_logit(
    conv_rate: np.ndarray, acc_rate: np.ndarray, avg_daily_trips: np.ndarray
) -> np.ndarray:
    """The log-odds of completing a trip given the driver's statistics at the order time."""
    return (
        INTERCEPT
        + COEF_CONV_RATE * (np.asarray(conv_rate, dtype="float64") - 0.5)
        + COEF_ACC_RATE * (np.asarray(acc_rate, dtype="float64") - 0.7)
        + COEF_AVG_DAILY_TRIPS * (np.asarray(avg_daily_trips, dtype="float64") - 20.0)
    )


def completion_probability(
    conv_rate: np.ndarray, acc_rate: np.ndarray, avg_daily_trips: np.ndarray
) -> np.ndarray:
    """P(trip_completed = 1): the logistic of `completion_logit`."""
    return 1.0 / (1.0 + np.exp(-completion_logit(conv_rate, acc_rate, avg_daily_trips)))


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """ROC AUC (Mann-Whitney, ties counted half) without a scikit-learn dependency."""
    labels = np.asarray(labels).astype(bool)
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = pd.Series(np.asarray(scores, dtype="float64")).rank(method="average").to_numpy()
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _driver_rng(seed: int, driver_id: int) -> np.random.Generator:
    return np.random.default_rng([seed, driver_id])


def _driver_series(
    seed: int, driver_ids: np.ndarray, hours: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Latent hourly conv_rate, acc_rate, avg_daily_trips (drivers x hours), the reporting mask
    and the `created` delays in seconds, each driver from its own random stream."""
    n = len(driver_ids)
    conv = np.empty((n, hours))
    acc = np.empty((n, hours))
    trips = np.empty((n, hours))
    present = np.ones((n, hours), dtype=bool)
    delays = np.empty((n, hours), dtype="int64")
    shocks = np.empty((n, 3, hours))
    t = np.arange(hours) / max(hours - 1, 1)  # 0..1 over the window, for the trend
    daily = 2 * np.pi * np.arange(hours) / 24.0
    stationary = 1.0 / np.sqrt(1.0 - AR_PHI**2)
    for i, driver_id in enumerate(driver_ids):
        rng = _driver_rng(seed, int(driver_id))
        levels = rng.uniform([0.42, 0.65, 15.0], [0.58, 0.8, 25.0])
        trends = rng.normal(0.0, [0.03, 0.03, 2.0])
        phase = rng.uniform(0, 2 * np.pi)
        shocks[i] = rng.standard_normal((3, hours))
        cycle = np.sin(daily + phase)
        conv[i] = levels[0] + trends[0] * t + 0.05 * cycle
        acc[i] = levels[1] + trends[1] * t + 0.03 * cycle
        trips[i] = levels[2] + trends[2] * t + 3.0 * cycle
        delays[i] = rng.integers(30, 600, hours)
        kind = rng.uniform()
        if driver_id < FIRST_DRIVER_ID + ALWAYS_PRESENT:
            continue
        if kind < LATE_START_SHARE:
            present[i, : rng.integers(1, max(2, int(0.6 * hours)))] = False
        elif hours > GAP_HOURS[1] + 48:
            gap = int(rng.integers(*GAP_HOURS))
            if kind < LATE_START_SHARE + CHURN_SHARE:
                present[i, hours - gap :] = False
            elif kind < LATE_START_SHARE + CHURN_SHARE + GAP_SHARE:
                start = int(rng.integers(1, hours - gap - 24))
                present[i, start : start + gap] = False
    # AR(1) deviations, started in their stationary distribution, scaled to unit variance.
    ar = np.empty_like(shocks)
    ar[:, :, 0] = shocks[:, :, 0] * stationary
    for h in range(1, hours):
        ar[:, :, h] = AR_PHI * ar[:, :, h - 1] + shocks[:, :, h]
    ar /= stationary
    conv += CONV_SD * ar[:, 0]
    acc += ACC_SD * ar[:, 1]
    trips += TRIPS_SD * ar[:, 2]
    conv = np.clip(conv, 0.0, 1.0).astype("float32")
    acc = np.clip(acc, 0.0, 1.0).astype("float32")
    trips = np.clip(np.rint(trips), 0, None).astype("int64")
    return conv, acc, trips, present, delays


def _requests(
    seed: int, stream: int, n: int, n_drivers: int, window_start: np.datetime64, hours: int
) -> pd.DataFrame:
    """N (driver_id, event_timestamp) rows, uniform over drivers and over the window."""
    rng = np.random.default_rng([seed, stream])
    driver_ids = FIRST_DRIVER_ID + rng.integers(0, n_drivers, n)
    seconds = rng.integers(0, hours * 3600 - 3600 + 1, n)  # up to end_time inclusive
    frame = pd.DataFrame(
        {
            "driver_id": driver_ids.astype("int64"),
            "event_timestamp": pd.to_datetime(
                window_start + seconds.astype("timedelta64[s]"), utc=True
            ).as_unit("ns"),
        }
    )
    frame["_u"] = rng.uniform(size=n)  # the label draw, fixed per row
    return frame


def _write_parquet(frame: pd.DataFrame, schema: pa.Schema, target: Path) -> Path:
    return write_parquet(pa.Table.from_pandas(frame, schema=schema, preserve_index=False), target)


def _output_paths(output_dir: Path | None) -> GeneratedData:
    """Where a generation writes: the settings' paths, or their file names in OUTPUT_DIR."""
    settings = get_data_settings()
    published = (settings.driver_stats_path, settings.orders_path, settings.batch_requests_path)
    stats, orders, requests = (
        published if output_dir is None else tuple(output_dir / path.name for path in published)
    )
    return GeneratedData(stats, orders, requests, stats.with_name("generation_summary.json"))


def _stats_batch(
    ids: np.ndarray,
    hour_stamps: np.ndarray,
    conv: np.ndarray,
    acc: np.ndarray,
    trips: np.ndarray,
    present: np.ndarray,
    delays: np.ndarray,
) -> pa.RecordBatch:
    """The reported hours of drivers IDS as rows of the offline store."""
    driver_idx, hour_idx = np.nonzero(present)
    stamps = hour_stamps[hour_idx]
    return pa.RecordBatch.from_arrays(
        [
            pa.array(ids[driver_idx]),
            pa.array(stamps, pa.timestamp("ns")).cast(STATS_SCHEMA.field(1).type),
            pa.array(
                stamps + delays[driver_idx, hour_idx].astype("timedelta64[s]"),
                pa.timestamp("ns"),
            ).cast(STATS_SCHEMA.field(2).type),
            pa.array(conv[driver_idx, hour_idx]),
            pa.array(acc[driver_idx, hour_idx]),
            pa.array(trips[driver_idx, hour_idx]),
        ],
        schema=STATS_SCHEMA,
    )


def generate(
    *,
    n_drivers: int | None = None,
    days: int | None = None,
    end_time: datetime | None = None,
    n_orders: int | None = None,
    n_batch_requests: int | None = None,
    seed: int | None = None,
    output_dir: Path | None = None,
    progress: bool = False,
) -> GeneratedData:
    """Generate driver statistics, labelled orders and batch requests; return where they went.

    Arguments default to `DataSettings`; END_TIME (the last hourly row) defaults to the current
    hour and is floored to the hour. Files go to OUTPUT_DIR under the settings' file names, or
    by default to the settings' paths. The same arguments always give the same files.
    """
    settings = get_data_settings()
    n_drivers = settings.n_drivers if n_drivers is None else n_drivers
    days = settings.days if days is None else days
    n_orders = settings.n_orders if n_orders is None else n_orders
    n_batch_requests = settings.n_batch_requests if n_batch_requests is None else n_batch_requests
    seed = settings.seed if seed is None else seed
    end = floor_hour(end_time or settings.end_time or datetime.now(UTC))
    if n_drivers < ALWAYS_PRESENT:
        raise ValueError(f"n_drivers must be at least {ALWAYS_PRESENT}, got {n_drivers}")
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")

    hours = days * 24
    window_start_dt = end - timedelta(hours=hours - 1)
    window_start = np.datetime64(window_start_dt.replace(tzinfo=None), "ns")
    hour_stamps = window_start + np.arange(hours) * HOUR

    paths = _output_paths(output_dir)
    stats_path, orders_path, requests_path = paths.driver_stats, paths.orders, paths.batch_requests

    orders = _requests(seed, 1, n_orders, n_drivers, window_start, hours)
    order_hour = (
        (orders["event_timestamp"].dt.tz_localize(None).to_numpy() - window_start) // HOUR
    ).astype("int64")
    order_index = orders["driver_id"].to_numpy() - FIRST_DRIVER_ID
    true_p = np.full(n_orders, np.nan)
    latest_p = np.full(n_orders, np.nan)
    unreported = np.zeros(n_orders, dtype=bool)

    all_ids = np.arange(FIRST_DRIVER_ID, FIRST_DRIVER_ID + n_drivers, dtype="int64")
    rows = 0
    logger.info("generating %d drivers x %d hours ending %s", n_drivers, hours, end.isoformat())
    with (
        atomic_path(stats_path) as tmp_stats,
        pq.ParquetWriter(tmp_stats, STATS_SCHEMA) as writer,
        tqdm(total=n_drivers, desc="driver_stats", unit="driver", disable=not progress) as bar,
    ):
        for first in range(0, n_drivers, CHUNK_DRIVERS):
            ids = all_ids[first : first + CHUNK_DRIVERS]
            conv, acc, trips, present, delays = _driver_series(seed, ids, hours)

            # Labels of the orders of these drivers, from their state at the order hour.
            in_chunk = (order_index >= first) & (order_index < first + len(ids))
            local = order_index[in_chunk] - first
            hour = order_hour[in_chunk]
            true_p[in_chunk] = completion_probability(
                conv[local, hour], acc[local, hour], trips[local, hour]
            )
            unreported[in_chunk] = ~present[local, hour]
            last = np.where(present.any(axis=1), hours - 1 - np.argmax(present[:, ::-1], 1), 0)
            latest = completion_probability(
                conv[np.arange(len(ids)), last],
                acc[np.arange(len(ids)), last],
                trips[np.arange(len(ids)), last],
            )
            latest_p[in_chunk] = latest[local]

            batch = _stats_batch(ids, hour_stamps, conv, acc, trips, present, delays)
            writer.write_batch(batch)
            rows += batch.num_rows
            bar.update(len(ids))

    labels = (orders["_u"].to_numpy() < true_p).astype("int64")
    orders = orders.drop(columns="_u").assign(trip_completed=labels)
    orders = orders.sort_values(["event_timestamp", "driver_id"], kind="stable")
    _write_parquet(orders, ORDERS_SCHEMA, orders_path)

    requests = _requests(seed, 2, n_batch_requests, n_drivers, window_start, hours)
    requests = requests.drop(columns="_u").sort_values(
        ["event_timestamp", "driver_id"], kind="stable"
    )
    _write_parquet(requests, REQUEST_SCHEMA, requests_path)

    summary = GenerationSummary(
        seed=seed,
        n_drivers=n_drivers,
        days=days,
        window_start=window_start_dt.isoformat(),
        end_time=end.isoformat(),
        stats_rows=rows,
        n_orders=n_orders,
        n_batch_requests=n_batch_requests,
        positive_rate=round(float(labels.mean()), 4),
        true_probability_auc=round(roc_auc(labels, true_p), 4),
        latest_value_auc=round(roc_auc(labels, latest_p), 4),
        orders_without_reported_state=int(unreported.sum()),
    )
    write_json(paths.summary, asdict(summary))
    logger.info("wrote %d statistics rows to %s; %s", rows, stats_path, summary)
    return paths
