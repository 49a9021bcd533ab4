"""The traffic simulator: real requests to the running online service over a time window, and
the outcome of every dispatch after a delay.

Each request asks the service (`POST /inference`) to rank CANDIDATES drivers drawn among those
whose statistics are within the feature view's ttl; the service answers the best one. After
OUTCOME_DELAY seconds the outcome of that dispatch (trip completed or not for the chosen
driver) is drawn from the generator's documented completion function
(`data_pipeline.generate.completion_probability`) on the driver's statistics as of the request
time, and written keyed by request id to `DATA_DIR/outcomes/` (one parquet file per flush,
atomically), where the monitoring DAG joins it.

Scenario `stable` keeps the drivers' statistics as generated. Scenario `drift` shifts them
(`data_pipeline.scenarios.shifted`) from DRIFT_AT on: the simulator, standing in for the
upstream database, appends the shifted statistics to the offline store and materializes them
into Redis, so the service serves them and the outcomes follow them. Scenario `concept` keeps
the statistics as generated and draws the outcomes of requests from DRIFT_AT on from the
changed completion function (`data_pipeline.scenarios.concept_probability`). Scenario `stale`
appends moved statistics to the offline store at DRIFT_AT without materializing them
(`data_pipeline.scenarios`, materialization paused): the service keeps serving the previous
ones.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from mlops_common.errors import UserError
from mlops_common.files import write_parquet
from mlops_common.paths import outcomes_dir
from prediction_log.outcomes import OUTCOME_SCHEMA, write_outcomes

from data_pipeline.generate import STATS_SCHEMA
from data_pipeline.scenarios import Scenario, moved, outcome_probability, shifted
from data_pipeline.settings import get_data_settings

logger = logging.getLogger(__name__)

TTL = timedelta(days=2)  # the feature view's ttl: older statistics are not served


@dataclass
class SimulationResult:
    simulation_id: str
    scenario: str
    requests: int = 0
    answered: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    outcomes: int = 0
    completed: int = 0
    drift_applied_at: str | None = None
    concept_changed_at: str | None = None
    stale_from: str | None = None  # `stale`: when the unmaterialized statistics were appended
    outcome_files: list[str] = field(default_factory=list)

    @property
    def completion_rate(self) -> float:
        return self.completed / self.outcomes if self.outcomes else float("nan")


def latest_statistics(stats_path: Path, now: datetime) -> pd.DataFrame:
    """Each driver's latest statistics at NOW, for drivers whose latest row is within the ttl."""
    if not stats_path.is_file():
        raise UserError(f"no driver statistics at {stats_path}; run the data_pipeline DAG first")
    stats = pd.read_parquet(stats_path)
    stats = stats[stats["event_timestamp"] <= pd.Timestamp(now)]
    latest = stats.sort_values(["event_timestamp", "created"]).groupby("driver_id").tail(1)
    latest = latest[latest["event_timestamp"] > pd.Timestamp(now - TTL)]
    if latest.empty:
        raise UserError(
            f"no driver has statistics within the ttl at {now.isoformat()} in {stats_path}; "
            "run the data_pipeline DAG (it generates up to the run's time)"
        )
    return latest.set_index("driver_id")


def _append_statistics(
    stats_path: Path, at: datetime, change: Callable[[pd.DataFrame], pd.DataFrame]
) -> pd.DataFrame:
    """Append every served driver's latest statistics, changed by CHANGE and stamped AT, to
    the offline store (atomically); the appended rows, by driver."""
    latest = latest_statistics(stats_path, at)
    rows = change(latest.reset_index())
    stamp = pd.Timestamp(at).as_unit("us")
    rows["event_timestamp"] = stamp
    rows["created"] = stamp
    stats = pd.concat([pd.read_parquet(stats_path), rows[STATS_SCHEMA.names]], ignore_index=True)
    write_parquet(
        pa.Table.from_pandas(stats, schema=STATS_SCHEMA, preserve_index=False), stats_path
    )
    return rows.set_index("driver_id")


def apply_drift(stats_path: Path, at: datetime) -> pd.DataFrame:
    """Append every served driver's shifted statistics at AT to the offline store (atomically)
    and materialize them into Redis; the new latest statistics."""
    from data_pipeline.materialize import materialize

    rows = _append_statistics(stats_path, at, shifted)
    materialize(at + timedelta(seconds=1))
    logger.info("drift applied at %s to %d drivers", at.isoformat(), len(rows))
    return rows


def append_moved(stats_path: Path, at: datetime, seed: int) -> pd.DataFrame:
    """Append every served driver's moved statistics (`scenarios.moved`) at AT to the offline
    store (atomically), without materializing them: what the upstream database does while
    materialization is paused. The appended rows."""
    rows = _append_statistics(stats_path, at, lambda latest: moved(latest, seed))
    logger.info("statistics of %d drivers moved on at %s, not materialized", len(rows), at)
    return rows


Pending = list[tuple[float, dict[str, object]]]


def _flush(
    pending: Pending,
    now: float,
    sim: str,
    part: int,
    result: SimulationResult,
    *,
    everything: bool = False,
) -> tuple[Pending, int]:
    """Write the outcomes due by NOW (all with EVERYTHING) as one file; the rest and the next
    file number."""
    due = [row for at, row in pending if everything or at <= now]
    rest = [(at, row) for at, row in pending if not (everything or at <= now)]
    if due:
        frame = pd.DataFrame(due)
        written = write_outcomes(
            pa.Table.from_pandas(frame, schema=OUTCOME_SCHEMA, preserve_index=False),
            outcomes_dir(),
            f"{sim}-{part:05d}",
        )
        result.outcomes += len(due)
        result.completed += int(frame["trip_completed"].sum())
        result.outcome_files.extend(str(path) for path in written)
        part += 1
    return rest, part


def simulate(
    service_url: str,
    *,
    duration_seconds: float,
    rate: float,
    candidates: int = 5,
    scenario: Scenario = "stable",
    drift_at: datetime | None = None,
    outcome_delay_seconds: float = 5.0,
    seed: int = 0,
    api_key: str | None = None,
    transport: Any = None,
) -> SimulationResult:
    """Send requests for DURATION_SECONDS at RATE per second; write their outcomes.

    DRIFT_AT (default: the start) is when the `drift` or `concept` scenario's change begins.
    TRANSPORT, an httpx transport, stands in for the network in tests.
    """
    import httpx

    if rate <= 0 or duration_seconds <= 0:
        raise UserError("--rate and --duration must be positive")
    stats_path = get_data_settings().driver_stats_path
    rng = np.random.default_rng(seed)
    sim = f"sim-{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
    result = SimulationResult(sim, scenario)
    started = datetime.now(UTC)
    drift_time = (drift_at or started) if scenario == "drift" else None
    concept_time = (drift_at or started) if scenario == "concept" else None
    stale_time = (drift_at or started) if scenario == "stale" else None
    latest = latest_statistics(stats_path, started)
    pending: Pending = []
    part = 0
    headers = {"X-API-Key": api_key} if api_key else {}
    begin = time.monotonic()
    total = int(duration_seconds * rate)
    with httpx.Client(
        base_url=service_url, timeout=10, headers=headers, transport=transport
    ) as client:
        for index in range(total):
            # Requests on a fixed schedule (not back to back): RATE per second.
            delay = begin + index / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            now = datetime.now(UTC)
            if drift_time is not None and result.drift_applied_at is None and now >= drift_time:
                latest = apply_drift(stats_path, now)
                result.drift_applied_at = now.isoformat()
            if stale_time is not None and result.stale_from is None and now >= stale_time:
                # Outcomes keep following `latest`, the statistics as served.
                append_moved(stats_path, now, seed)
                result.stale_from = now.isoformat()
            changed = concept_time is not None and now >= concept_time
            if changed and result.concept_changed_at is None:
                result.concept_changed_at = now.isoformat()
            count = min(candidates, len(latest))
            ids = [int(i) for i in rng.choice(latest.index.to_numpy(), count, replace=False)]
            request_id = f"{sim}-{index}"
            try:
                answer = client.post(
                    "/inference", json={"request_id": request_id, "driver_ids": ids}
                )
            except httpx.HTTPError as exc:
                raise UserError(
                    f"the online service at {service_url} did not answer ({exc}); start it with "
                    "`make serve`"
                ) from exc
            result.requests += 1
            result.statuses[answer.status_code] = result.statuses.get(answer.status_code, 0) + 1
            if answer.status_code == 200:
                result.answered += 1
                chosen = int(answer.json()["best_driver_id"])
                p = float(outcome_probability(latest.loc[[chosen]], concept_changed=changed)[0])
                outcome_at = now + timedelta(seconds=outcome_delay_seconds)
                pending.append(
                    (
                        time.monotonic() + outcome_delay_seconds,
                        {
                            "request_id": request_id,
                            "driver_id": chosen,
                            "outcome_timestamp": outcome_at,
                            "trip_completed": int(rng.uniform() < p),
                        },
                    )
                )
            if index % max(int(rate), 1) == 0:  # about once a second
                pending, part = _flush(pending, time.monotonic(), sim, part, result)
    # The last outcomes become due OUTCOME_DELAY after their request.
    if pending:
        time.sleep(max(0.0, max(at for at, _ in pending) - time.monotonic()))
    pending, part = _flush(pending, time.monotonic(), sim, part, result, everything=True)
    logger.info("simulation %s: %s", sim, result)
    return result
