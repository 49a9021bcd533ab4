"""Shadow scoring: the challenger scores what the champion answered, off the request path.

The answer is the champion's alone. The challenger (`models:/<name>@challenger`, held by a
second `ChampionHolder`) scores the same drivers on the same served features in the prediction
log's thread, once per written batch, vectorised over every row of the sampled requests
(SERVING_SHADOW_SHARE); its version and scores go to the log's challenger columns beside the
champion's. So a request does exactly the same work with a challenger loaded as without one,
and a challenger that raises, returns nonsense or is slow costs no answer anything: its failure
is counted (`driver_ranking_shadow_requests_total{outcome="failed"}`), reported in `/readyz`
and logged once until it scores again, and that batch is logged without challenger scores.

The price of scoring at write time: the challenger version scored is the one held when the
batch is written (up to PREDICTION_LOG_FLUSH_SECONDS after the answer), and the column names it.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from prediction_log.writer import LogBatch

    from online_service.holder import ChampionHolder
    from online_service.metrics import ServiceMetrics

logger = logging.getLogger(__name__)


@dataclass
class ShadowStatus:
    """What `/readyz` reports about scoring with the challenger."""

    scored_requests: int = 0
    failed_requests: int = 0
    last_error: str | None = None
    last_error_at: datetime | None = None

    def report(self) -> dict[str, object]:
        return {
            "scored_requests": self.scored_requests,
            "failed_requests": self.failed_requests,
            "last_error": self.last_error,
            "last_error_at": self.last_error_at,
        }


@dataclass
class ShadowScorer:
    """Scores a sampled SHARE of each written batch's requests with the HOLDER's challenger."""

    holder: ChampionHolder
    share: float
    metrics: ServiceMetrics | None = None
    seed: int | None = None
    status: ShadowStatus = field(default_factory=ShadowStatus)
    _rng: np.random.Generator = field(init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._rng = np.random.default_rng(self.seed)

    def columns(
        self, batch: LogBatch, rows_per_request: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """(challenger version, challenger score) for each row of BATCH, whose requests have
        ROWS_PER_REQUEST rows each, in order: None and NaN where the challenger did not score
        (none held, request not sampled, driver without features, or the challenger failed)."""
        version = np.full(len(batch), None, dtype=object)
        score = np.full(len(batch), np.nan)
        model = self.holder.current
        if model is None or len(batch) == 0:
            return version, score
        with self._lock:  # the generator is not thread-safe (close() may flush concurrently)
            sampled = self._rng.random(len(rows_per_request)) < self.share
        rows = np.repeat(sampled, rows_per_request) & np.asarray(batch.found, dtype=bool)
        requests = int(np.count_nonzero(sampled & (rows_per_request > 0)))
        if not rows.any():
            return version, score
        try:
            predicted = np.asarray(model.predict(batch.values[rows]), dtype=np.float64)
            if predicted.shape != (int(rows.sum()),):
                raise ValueError(
                    f"the challenger answered {predicted.shape} scores for {int(rows.sum())} rows"
                )
        except Exception as exc:  # any failure of the challenger: the log goes on without it
            self._failed(model.version, requests, exc)
            return version, score
        score[rows] = predicted
        version[rows] = model.version
        self.status.scored_requests += requests
        if self.metrics is not None:
            self.metrics.shadow_requests.labels(outcome="scored").inc(requests)
        if self.status.last_error is not None:
            logger.info("challenger v%s scores again", model.version)
            self.status.last_error = None
        return version, score

    def _failed(self, version: str | None, requests: int, exc: Exception) -> None:
        message = f"v{version}: {type(exc).__name__}: {exc}"
        if self.status.last_error is None:
            logger.error(
                "challenger %s; its scores are left out of the log until it scores again "
                '(counted in driver_ranking_shadow_requests_total{outcome="failed"})',
                message,
            )
        self.status.failed_requests += requests
        self.status.last_error = message[:500]
        self.status.last_error_at = datetime.now(UTC)
        if self.metrics is not None:
            self.metrics.shadow_requests.labels(outcome="failed").inc(requests)

    def readiness(self, now: datetime, timeout_seconds: float) -> dict[str, Any]:
        """The challenger part of `/readyz` (never part of being ready)."""
        model = self.holder.current
        return {
            "alias": self.holder.alias,
            "model": {"name": model.name, "version": model.version} if model else None,
            "share": self.share,
            "registry": self.holder.status.report(
                now, self.holder.refresh_seconds, timeout_seconds
            ),
            "scoring": self.status.report(),
        }
