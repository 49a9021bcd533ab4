"""The online service's prediction log: every answered /inference request recorded, off the
request path.

`record` costs a length check and a `deque.append` (atomic under the GIL, no lock): the request
never waits on a file. A background thread takes the buffered requests when `flush_rows` have
gathered or every `flush_seconds`, turns them into columns and writes them with
`model_serving.prediction_log.PredictionLogWriter` (Feast's feature logging for the served
features, the scores and model version beside them). A full buffer drops the new request and
counts it (`driver_ranking_prediction_log_dropped_total{reason="buffer_full"}`); a write that
fails (unwritable folder, full disk) drops that batch, counts it (`reason="write_error"`) and
logs one error line until a write succeeds again. `close` (the service's shutdown hook) writes
what is left.

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
from dataclasses import dataclass
from functools import cache
from typing import Any, NamedTuple

import numpy as np

from model_serving.online.features import FeatureRows
from model_serving.online.schemas import InferenceResponse
from model_serving.prediction_log import LogBatch, PredictionLogWriter, open_writer

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
    its features and score, and every candidate without features (NOT_FOUND, no score)."""
    request_ids: list[str] = []
    stamps: list[float] = []
    driver_ids: list[int] = []
    blocks: list[np.ndarray] = []
    found: list[bool] = []
    scores: list[float] = []
    ranks: list[int] = []
    chosen: list[bool] = []
    names: list[str] = []
    versions: list[str] = []
    width = len(feature_names)
    for item in requests:
        request = LoggedRequest._make(item)
        ranked = zip(request.ranked_ids, request.ranked_scores, strict=True)
        rank_of = {d: (rank, score) for rank, (d, score) in enumerate(ranked, 1)}
        missing = request.missing_driver_ids
        ids = [*request.driver_ids, *missing]
        count = len(ids)
        request_ids += [request.request_id] * count
        stamps += [request.logged_at] * count
        driver_ids += ids
        blocks.append(np.asarray(request.values, dtype=np.float64).reshape(-1, width))
        if missing:
            blocks.append(np.full((len(missing), width), np.nan))
        found += [True] * len(request.driver_ids) + [False] * len(missing)
        for driver_id in ids:
            rank, score = rank_of.get(driver_id, (0, float("nan")))
            ranks.append(rank)
            scores.append(score)
            chosen.append(driver_id == request.best_driver_id)
        names += [request.model_name] * count
        versions += [request.model_version] * count
    return LogBatch(
        feature_names=feature_names,
        request_id=np.array(request_ids, dtype=object),
        logged_at=(np.array(stamps, dtype=np.float64) * 1e6).astype("datetime64[us]"),
        driver_id=np.array(driver_ids, dtype=np.int64),
        values=np.vstack(blocks) if blocks else np.empty((0, width)),
        found=np.array(found, dtype=bool),
        score=np.array(scores, dtype=np.float64),
        rank=np.array(ranks, dtype=np.int32),
        chosen=np.array(chosen, dtype=bool),
        model_name=np.array(names, dtype=object),
        model_version=np.array(versions, dtype=object),
        source="online",
    )


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
    ) -> None:
        self._write = write
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
        """Write everything buffered now, in batches of at most `flush_rows` requests."""
        total = 0
        while self._pending:
            taken: list[tuple[Any, ...]] = []
            while self._pending and len(taken) < self._flush_rows:
                taken.append(self._pending.popleft())
            total += self._write_batch(taken)
        self._metrics.buffered.set(len(self._pending))
        return total

    def _write_batch(self, requests: list[tuple[Any, ...]]) -> int:
        try:
            self._write(to_batch(requests, self._feature_names))
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
    feature_names: tuple[str, ...], on_ready: Callable[[], None] | None = None
) -> PredictionLog | None:
    """The service's prediction log from settings, started; None when it is switched off.
    ON_READY runs in the log's thread once its sink is open (the service freezes its heap
    again then: the Feast import adds some hundred thousand long-lived objects that the
    garbage collector would otherwise traverse on every full collection)."""
    from model_serving.settings import get_prediction_log_settings

    settings = get_prediction_log_settings()
    if not settings.enabled:
        logger.info("prediction log off (PREDICTION_LOG_ENABLED=false)")
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
    )
    log.start()
    logger.info("prediction log: %s", sink.destination)
    return log
