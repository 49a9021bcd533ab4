"""The online service's prediction log: every answered /inference request recorded, off the
request path.

`record` costs a length check and a `deque.append` (atomic under the GIL, no lock): the request
never waits on a file. A background thread takes the buffered requests when `flush_rows` have
gathered or every `flush_seconds`, turns them into columns and writes them with
`prediction_log.writer.PredictionLogWriter` (Feast's feature logging for the served
features, the scores and model version beside them). A full buffer drops the new request and
counts it (`driver_ranking_prediction_log_dropped_total{reason="buffer_full"}`); a write that
fails (unwritable folder, full disk) drops that batch, counts it (`reason="write_error"`) and
logs one error line until a write succeeds again. `close` (the service's shutdown hook) writes
what is left. With a challenger in shadow (`online_service.shadow`), each batch is scored by it
before the write, into the predictions dataset's challenger columns
(`prediction_log.schema.CHALLENGER_FIELDS`).

Hand-written rather than a library's queue handler: the standard `QueueHandler`/`QueueListener`
pair logs records one by one and has no batching by size and time or drop counting, and
`queue.Queue` takes a lock on every put.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import cache
from itertools import chain
from typing import Any, NamedTuple

import numpy as np
from prediction_log.writer import LogBatch, PredictionLogWriter, open_writer

from online_service.features import FeatureRows
from online_service.schemas import InferenceResponse
from online_service.shadow import ShadowScorer

logger = logging.getLogger(__name__)


class LoggedRequest(NamedTuple):
    """One answered request as the log reads it at flush time.

    The buffer holds it as an exact `tuple` of plain values (`of`), which the garbage collector
    stops tracking after one pass (it untracks exact tuples of untracked items, not NamedTuple
    instances, nor lists). Holding the answer's objects themselves (a pydantic model, its score
    models, lists) for the seconds until a flush made every buffered request survive into the
    collector's old generation, and each full collection traversed them all: about a third of
    the service's throughput under load (measured with `make bench_prediction_log`)."""

    logged_at: float  # Unix time
    request_id: str
    model_name: str
    model_version: str
    best_driver_id: int
    ranked_ids: tuple[int, ...]  # best first
    ranked_scores: tuple[float, ...]
    driver_ids: tuple[int, ...]  # the rows of `values`
    values: np.ndarray  # not tracked by the collector either
    missing_driver_ids: tuple[int, ...]

    @staticmethod
    def of(logged_at: float, response: InferenceResponse, rows: FeatureRows) -> tuple[Any, ...]:
        """The buffered form: an exact tuple in the fields' order."""
        scores = response.scores
        return (
            logged_at,
            response.request_id,
            response.model_name,
            response.model_version,
            response.best_driver_id,
            tuple([s.driver_id for s in scores]),
            tuple([s.score for s in scores]),
            tuple(rows.driver_ids),
            rows.values,
            tuple(rows.missing_driver_ids),
        )


@dataclass(frozen=True)
class LogMetrics:
    written: Any
    dropped: Any
    buffered: Any


@cache
def get_log_metrics() -> LogMetrics:
    """The prediction log's metrics, created once per worker (see `online.metrics`)."""
    import prometheus_client as prom

    dropped = prom.Counter(
        "driver_ranking_prediction_log_dropped",
        "Answered requests the prediction log dropped, by reason (buffer_full, write_error).",
        ["reason"],
    )
    for reason in ("buffer_full", "write_error"):
        dropped.labels(reason=reason)
    return LogMetrics(
        written=prom.Counter(
            "driver_ranking_prediction_log_requests",
            "Answered requests written to the prediction log.",
        ),
        dropped=dropped,
        buffered=prom.Gauge(
            "driver_ranking_prediction_log_buffered",
            "Answered requests waiting in the prediction log's buffer.",
            multiprocess_mode="livesum",
        ),
    )


def to_batch(requests: Sequence[tuple[Any, ...]], feature_names: tuple[str, ...]) -> LogBatch:
    """The rows of REQUESTS (as `LoggedRequest.of` buffers them): every scored candidate with
    its features and score, and every candidate without features (NOT_FOUND, no score).

    Column-wise with numpy: the log's thread holds the GIL while it runs Python, and the event
    loop waits up to a switch interval (5 ms) each time it wants the GIL back. A loop per row
    cost ~35 us per request (70 ms per flush of 2,000 requests, the loop stalled meanwhile);
    this pays a few attribute reads per request and does the rest in numpy.
    """
    width = len(feature_names)
    n = len(requests)
    found_counts = np.fromiter((len(r[7]) for r in requests), np.int64, n)
    missing_counts = np.fromiter((len(r[9]) for r in requests), np.int64, n)
    counts = found_counts + missing_counts
    # Per request: its found drivers (feature rows' order), then its missing ones.
    driver_id = np.fromiter(chain.from_iterable(r[7] + r[9] for r in requests), np.int64)
    found = np.repeat(
        np.tile(np.array([True, False]), n), np.column_stack((found_counts, missing_counts)).ravel()
    )
    total = int(counts.sum())
    values = np.full((total, width), np.nan)
    if found.any():
        values[found] = np.concatenate(
            [np.asarray(r[8], dtype=np.float64).reshape(-1, width) for r in requests]
        )
    # Ranks: the answer lists the found drivers best first. Both sides sorted by (request,
    # driver) line up one to one (ids are unique within a request).
    request_of_found = np.repeat(np.arange(n), found_counts)
    ranked_ids = np.fromiter(chain.from_iterable(r[5] for r in requests), np.int64)
    ranked_scores = np.fromiter(chain.from_iterable(r[6] for r in requests), np.float64)
    starts = np.cumsum(found_counts) - found_counts
    ranks_in_answer = np.arange(len(ranked_ids)) - np.repeat(starts, found_counts) + 1
    by_row = np.lexsort((driver_id[found], request_of_found))
    by_answer = np.lexsort((ranked_ids, request_of_found))
    rank = np.zeros(total, dtype=np.int32)
    score = np.full(total, np.nan)
    found_rank = np.empty(len(ranked_ids), dtype=np.int32)
    found_score = np.empty(len(ranked_ids), dtype=np.float64)
    found_rank[by_row] = ranks_in_answer[by_answer]
    found_score[by_row] = ranked_scores[by_answer]
    rank[found] = found_rank
    score[found] = found_score
    best = np.repeat(np.fromiter((r[4] for r in requests), np.int64, n), counts)
    stamps = np.fromiter((r[0] for r in requests), np.float64, n)

    def per_row(column: int) -> np.ndarray:
        return np.repeat(np.array([r[column] for r in requests], dtype=object), counts)

    return LogBatch(
        feature_names=feature_names,
        request_id=per_row(1),
        logged_at=np.repeat(stamps * 1e6, counts).astype("datetime64[us]"),
        driver_id=driver_id,
        values=values,
        found=found,
        score=score,
        rank=rank,
        chosen=driver_id == best,
        model_name=per_row(2),
        model_version=per_row(3),
        source="online",
    )


def rows_per_request(requests: Sequence[tuple[Any, ...]]) -> np.ndarray:
    """How many log rows each buffered request makes (`to_batch`): found plus missing drivers."""
    return np.fromiter((len(r[7]) + len(r[9]) for r in requests), np.int64, len(requests))


def with_challenger(batch: LogBatch, version: np.ndarray, score: np.ndarray) -> LogBatch:
    return replace(batch, challenger_version=version, challenger_score=score)


class PredictionLog:
    """A bounded buffer of answered requests and the thread that writes it out."""

    def __init__(
        self,
        write: Callable[[LogBatch], int],
        feature_names: tuple[str, ...],
        *,
        capacity: int,
        flush_rows: int,
        flush_seconds: float,
        destination: str = "the prediction log",
        on_start: Callable[[], None] | None = None,
        shadow: ShadowScorer | None = None,
    ) -> None:
        self._write = write
        self.shadow = shadow
        self._on_start = on_start
        self._feature_names = feature_names
        self._capacity = capacity
        self._flush_rows = flush_rows
        self._flush_seconds = flush_seconds
        self._destination = destination
        self._pending: deque[tuple[Any, ...]] = deque()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing = False
        self._metrics = get_log_metrics()
        self.recorded = 0
        self.written = 0
        self.dropped = 0

    def record(self, response: InferenceResponse, rows: FeatureRows) -> bool:
        """Buffer one answered request; False (counted) when the buffer is full. Never blocks."""
        pending = self._pending
        if len(pending) >= self._capacity:
            self.dropped += 1
            self._metrics.dropped.labels(reason="buffer_full").inc()
            return False
        pending.append(LoggedRequest.of(time.time(), response, rows))
        self.recorded += 1
        if len(pending) >= self._flush_rows:
            self._wake.set()
        return True

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        if self._on_start is not None:
            # Off the request path: the Feast sink opens the store here (seconds of imports),
            # not inside the first batch's write.
            try:
                self._on_start()
            except Exception as exc:  # the writes will fail too: counted and logged there
                logger.error("prediction log: could not open %s (%s)", self._destination, exc)
        while not self._stop.is_set():
            self._wake.wait(self._flush_seconds)
            self._wake.clear()
            self.flush()
        self.flush()

    def flush(self) -> int:
        """Write what is buffered now, in batches of at most `flush_rows` requests.

        Requests answered while it writes wait for the next flush (by size or time): draining
        them too wrote a file pair of ~100 requests every ~40 ms under load (the requests
        answered during the previous write), ~60 files a second in place of one every few
        seconds, each with its own fixed cost.
        """
        total = 0
        left = len(self._pending)
        while left > 0:
            take = min(left, self._flush_rows)
            taken = [self._pending.popleft() for _ in range(take)]
            left -= take
            total += self._write_batch(taken)
        self._metrics.buffered.set(len(self._pending))
        return total

    def _batch(self, requests: list[tuple[Any, ...]]) -> LogBatch:
        batch = to_batch(requests, self._feature_names)
        if self.shadow is None:
            return batch
        version, score = self.shadow.columns(batch, rows_per_request(requests))
        return with_challenger(batch, version, score)

    def _write_batch(self, requests: list[tuple[Any, ...]]) -> int:
        try:
            self._write(self._batch(requests))
        except Exception as exc:  # any failure of the sink: serving goes on, the loss is counted
            self.dropped += len(requests)
            self._metrics.dropped.labels(reason="write_error").inc(len(requests))
            if not self._failing:
                self._failing = True
                logger.error(
                    "prediction log: could not write %d requests to %s (%s: %s); dropping "
                    "batches until a write succeeds (counted in "
                    'driver_ranking_prediction_log_dropped_total{reason="write_error"})',
                    len(requests),
                    self._destination,
                    type(exc).__name__,
                    exc,
                )
            return 0
        if self._failing:
            self._failing = False
            logger.info("prediction log: %s is writable again", self._destination)
        self.written += len(requests)
        self._metrics.written.inc(len(requests))
        return len(requests)

    def close(self, timeout: float = 30.0) -> None:
        """Stop the thread after it wrote what is buffered (the service's shutdown hook)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                logger.error("prediction log: still writing after %.0f s at shutdown", timeout)
        else:
            self.flush()
        logger.info(
            "prediction log closed: %d requests recorded, %d written, %d dropped",
            self.recorded,
            self.written,
            self.dropped,
        )


class FeastLogSink:
    """The writer the log's thread calls, built by that thread when it starts (`prepare`):
    building it opens the Feast store, an import of Feast of about 10 s that would otherwise
    delay the service's start-up. A store without the feature service's logging config fails
    every batch the same way (counted as `write_error`, logged once with the fix)."""

    def __init__(self) -> None:
        from mlops_common.paths import feature_log_dir, scores_log_dir

        self._writer: PredictionLogWriter | None = None
        self.destination = f"{feature_log_dir()} and {scores_log_dir()}"

    def prepare(self) -> PredictionLogWriter:
        if self._writer is None:
            self._writer = open_writer()
        return self._writer

    def __call__(self, batch: LogBatch) -> int:
        return self.prepare().write(batch)


def open_prediction_log(
    feature_names: tuple[str, ...],
    on_ready: Callable[[], None] | None = None,
    shadow: ShadowScorer | None = None,
) -> PredictionLog | None:
    """The service's prediction log from settings, started; None when it is switched off.
    ON_READY runs in the log's thread once its sink is open (the service freezes its heap
    again then: the Feast import adds some hundred thousand long-lived objects that the
    garbage collector would otherwise traverse on every full collection)."""
    from prediction_log.settings import get_prediction_log_settings

    settings = get_prediction_log_settings()
    if not settings.enabled:
        logger.info(
            "prediction log off (PREDICTION_LOG_ENABLED=false)%s",
            "; the challenger is not scored" if shadow is not None else "",
        )
        return None
    sink = FeastLogSink()

    def on_start() -> None:
        sink.prepare()
        if on_ready is not None:
            on_ready()

    log = PredictionLog(
        sink,
        feature_names,
        capacity=settings.capacity,
        flush_rows=settings.flush_rows,
        flush_seconds=settings.flush_seconds,
        destination=sink.destination,
        on_start=on_start,
        shadow=shadow,
    )
    log.start()
    logger.info("prediction log: %s", sink.destination)
    return log
