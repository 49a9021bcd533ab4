"""The prediction log: buffered off the request path, flushed by size and by time, bounded
(drops counted, never blocking), a failing sink counted and logged once; written through
Feast's feature logging with the scores beside, atomically."""

from __future__ import annotations

import logging
import threading

import numpy as np
import pytest
from mlops_platform.processes import wait_for
from online_service.features import FeatureRows
from online_service.recorder import LoggedRequest, PredictionLog, to_batch
from online_service.schemas import DriverScore, InferenceResponse
from prediction_log.writer import LogBatch

FEATURES = ("conv_rate", "acc_rate", "avg_daily_trips")


def answered(request_id: str, scored: dict[int, float], missing: list[int]) -> tuple:
    """An answer and the feature rows it came from (scores keyed by driver, request order)."""
    ids = list(scored)
    values = np.array([[0.1 * i, 0.5, float(i)] for i in range(1, len(ids) + 1)])
    ranked = sorted(ids, key=lambda d: -scored[d])
    response = InferenceResponse(
        request_id=request_id,
        best_driver_id=ranked[0],
        scores=[DriverScore(driver_id=d, score=scored[d]) for d in ranked],
        missing_driver_ids=missing,
        model_name="driver_ranking",
        model_version="7",
    )
    return response, FeatureRows(FEATURES, ids, values, missing)


class Recorder:
    """A sink that keeps what it is given; it can be told to fail (fault injection)."""

    def __init__(self) -> None:
        self.batches: list[LogBatch] = []
        self.fail = False
        self.lock = threading.Lock()

    def __call__(self, batch: LogBatch) -> int:
        if self.fail:
            raise OSError(28, "No space left on device")
        with self.lock:
            self.batches.append(batch)
        return len(batch)

    def request_ids(self) -> set[str]:
        return {rid for batch in self.batches for rid in batch.request_id}


def make_log(sink: Recorder, **options: float) -> PredictionLog:
    settings = {"capacity": 100, "flush_rows": 1000, "flush_seconds": 3600.0, **options}
    return PredictionLog(sink, FEATURES, **settings)  # type: ignore[arg-type]


def test_rows_hold_each_candidate_with_its_features_and_score() -> None:
    response, rows = answered("r1", {1001: 0.2, 1002: 0.9}, missing=[1003])
    batch = to_batch([], FEATURES)
    assert len(batch) == 0
    batch = to_batch([LoggedRequest.of(1.5, response, rows)], FEATURES)
    assert list(batch.driver_id) == [1001, 1002, 1003]
    assert list(batch.request_id) == ["r1"] * 3
    assert list(batch.rank) == [2, 1, 0]
    assert list(batch.chosen) == [False, True, False]
    assert list(batch.found) == [True, True, False]
    np.testing.assert_array_equal(batch.values[:2], rows.values)
    assert np.isnan(batch.values[2]).all()
    assert batch.score[1] == 0.9
    assert np.isnan(batch.score[2])
    assert batch.logged_at[0] == np.datetime64(1_500_000, "us")


def _rows_one_by_one(requests: list[tuple]) -> list[tuple]:
    """Each logged row as (request id, driver, found, rank, score, chosen, features), built
    per request and driver: the reference the column-wise `to_batch` must equal."""
    rows = []
    for item in requests:
        request = LoggedRequest._make(item)
        rank_of = {
            d: (rank, score)
            for rank, (d, score) in enumerate(
                zip(request.ranked_ids, request.ranked_scores, strict=True), 1
            )
        }
        for position, driver_id in enumerate(request.driver_ids):
            rank, score = rank_of[driver_id]
            features = tuple(request.values[position])
            rows.append(
                (
                    request.request_id,
                    driver_id,
                    True,
                    rank,
                    score,
                    driver_id == request.best_driver_id,
                    features,
                )
            )
        for driver_id in request.missing_driver_ids:
            rows.append((request.request_id, driver_id, False, 0, None, False, None))
    return rows


def test_batch_columns_equal_rows_built_one_by_one() -> None:
    """Many requests of every shape (ties, missing drivers, one driver) give the same rows
    as building them request by request."""
    rng = np.random.default_rng(11)
    requests = []
    for index in range(300):
        ids = [int(i) for i in rng.choice(np.arange(1000, 1100), rng.integers(1, 8), False)]
        n_missing = int(rng.integers(0, len(ids)))  # at least one driver keeps features
        found, missing = ids[n_missing:], ids[:n_missing]
        scores = (
            rng.choice([0.1, 0.5, 0.9], len(found)) if index % 3 == 0 else rng.random(len(found))
        )
        response, rows = answered(
            f"r{index}", dict(zip(found, scores.tolist(), strict=True)), missing
        )
        requests.append(LoggedRequest.of(1_700_000_000.0 + index, response, rows))
    batch = to_batch(requests, FEATURES)
    got = []
    for i in range(len(batch)):
        scored = bool(batch.found[i])
        got.append(
            (
                batch.request_id[i],
                int(batch.driver_id[i]),
                scored,
                int(batch.rank[i]),
                float(batch.score[i]) if scored else None,
                bool(batch.chosen[i]),
                tuple(batch.values[i]) if scored else None,
            )
        )
        if not scored:
            assert np.isnan(batch.values[i]).all()
            assert np.isnan(batch.score[i])
    assert got == _rows_one_by_one(requests)
    stamps = batch.logged_at.astype(np.int64)
    assert stamps[0] == 1_700_000_000_000_000  # microseconds of the first request's time
    assert batch.model_version.tolist() == ["7"] * len(batch)


def test_flushes_when_enough_requests_wait() -> None:
    sink = Recorder()
    log = make_log(sink, flush_rows=3)
    log.start()
    for i in range(3):
        log.record(*answered(f"r{i}", {1001: 0.5}, []))
    wait_for(
        lambda: len(sink.batches) == 1,
        timeout=30,
        interval=0.05,
        timeout_error=lambda: AssertionError("no flush after flush_rows requests"),
    )
    assert sink.request_ids() == {"r0", "r1", "r2"}
    log.close()
    assert (log.recorded, log.written, log.dropped) == (3, 3, 0)


def test_a_flush_writes_what_was_buffered_when_it_started() -> None:
    """Requests answered while a batch is being written wait for the next flush instead of
    being written right after it in small batches (one file pair each)."""
    log: PredictionLog

    class ArrivingDuringWrites(Recorder):
        def __call__(self, batch: LogBatch) -> int:
            if len(self.batches) < 2:  # answered while the first two batches are written
                for i in range(2):
                    log.record(*answered(f"late{len(self.batches)}-{i}", {1001: 0.5}, []))
            return super().__call__(batch)

    sink = ArrivingDuringWrites()
    log = make_log(sink, flush_rows=3)  # not started: flushed by hand
    for i in range(5):
        log.record(*answered(f"r{i}", {1001: 0.5}, []))
    assert log.flush() == 5
    assert [len(set(batch.request_id)) for batch in sink.batches] == [3, 2]
    assert sink.request_ids() == {f"r{i}" for i in range(5)}
    assert log.flush() == 4  # the four late ones, in the next flush
    assert sink.request_ids() == {f"r{i}" for i in range(5)} | {
        "late0-0",
        "late0-1",
        "late1-0",
        "late1-1",
    }


def test_flushes_by_time_and_on_close() -> None:
    sink = Recorder()
    log = make_log(sink, flush_seconds=0.1)
    log.start()
    log.record(*answered("early", {1001: 0.5}, []))
    wait_for(
        lambda: "early" in sink.request_ids(),
        timeout=30,
        interval=0.05,
        timeout_error=lambda: AssertionError("no flush after flush_seconds"),
    )
    slow = make_log(sink)  # an hour between timed flushes: only close writes it
    slow.start()
    slow.record(*answered("late", {1001: 0.5}, []))
    assert "late" not in sink.request_ids()
    slow.close()
    assert "late" in sink.request_ids()
    log.close()


def test_a_full_buffer_drops_and_counts_without_blocking() -> None:
    from online_service.recorder import get_log_metrics

    dropped = get_log_metrics().dropped.labels(reason="buffer_full")
    before = dropped._value.get()
    sink = Recorder()
    log = make_log(sink, capacity=2)  # not started: nothing drains the buffer
    results = [log.record(*answered(f"r{i}", {1001: 0.5}, [])) for i in range(5)]
    assert results == [True, True, False, False, False]
    assert log.dropped == 3
    assert dropped._value.get() - before == 3
    log.close()  # the two buffered ones are still written
    assert sink.request_ids() == {"r0", "r1"}


def test_a_failing_sink_is_counted_and_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    sink = Recorder()
    sink.fail = True
    log = make_log(sink, flush_rows=1)
    with caplog.at_level(logging.INFO, logger="online_service.recorder"):
        for i in range(3):
            log.record(*answered(f"lost{i}", {1001: 0.5}, []))
            log.flush()
        sink.fail = False
        log.record(*answered("kept", {1001: 0.5}, []))
        log.flush()
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "No space left on device" in errors[0].getMessage()
    assert "writable again" in caplog.text
    assert log.dropped == 3
    assert sink.request_ids() == {"kept"}


def holding(model: object) -> object:
    """A challenger holder that holds MODEL (no registry: the holder's own tests cover that)."""
    from online_service.holder import ChampionHolder

    return ChampionHolder(
        tracking_uri="http://unused",
        name="driver_ranking",
        alias="challenger",
        source_features=FEATURES,
        refresh_seconds=3600,
        optional=True,
        current=model,  # type: ignore[arg-type]
    )


def challenger(predict: object, version: str = "9") -> object:
    from mlops_common.models import ScoringModel

    return ScoringModel(
        name="driver_ranking",
        version=version,
        model_id="models:/m-test",
        features=FEATURES,
        predict_array=predict,  # type: ignore[arg-type]
    )


def test_the_challenger_scores_each_found_driver_of_the_sampled_requests() -> None:
    from online_service.shadow import ShadowScorer
    from prediction_log.schema import PREDICTIONS_SCHEMA
    from prediction_log.writer import PredictionLogWriter

    sink = Recorder()
    scorer = ShadowScorer(holding(challenger(lambda rows: rows[:, 0] * 2)), share=1.0)  # type: ignore[arg-type]
    log = PredictionLog(
        sink, FEATURES, capacity=100, flush_rows=1000, flush_seconds=3600, shadow=scorer
    )
    for request_id in ("a", "b"):
        log.record(*answered(request_id, {1001: 0.2, 1002: 0.9}, missing=[1003]))
    log.flush()
    (batch,) = sink.batches
    assert batch.challenger_version is not None
    assert batch.challenger_score is not None
    assert list(batch.challenger_version) == ["9", "9", None] * 2
    np.testing.assert_allclose(
        batch.challenger_score[[0, 1, 3, 4]], batch.values[[0, 1, 3, 4], 0] * 2
    )
    assert np.isnan(batch.challenger_score[[2, 5]]).all()
    assert scorer.status.scored_requests == 2
    table = PredictionLogWriter.predictions_table(batch)
    assert table.schema == PREDICTIONS_SCHEMA
    assert table["challenger_score"].null_count == 2

    # No challenger, or a share of 0: the columns are there and null.
    plain = PredictionLogWriter.predictions_table(to_batch([], FEATURES))
    assert plain.schema == PREDICTIONS_SCHEMA
    none_held = ShadowScorer(holding(None), share=1.0)  # type: ignore[arg-type]
    version, score = none_held.columns(batch, np.array([3, 3]))
    assert list(version) == [None] * 6
    assert np.isnan(score).all()
    never = ShadowScorer(holding(challenger(lambda rows: rows[:, 0])), share=0.0)  # type: ignore[arg-type]
    assert list(never.columns(batch, np.array([3, 3]))[0]) == [None] * 6


def test_a_sampled_share_of_requests_is_shadowed() -> None:
    from online_service.shadow import ShadowScorer

    scorer = ShadowScorer(holding(challenger(lambda rows: rows[:, 0])), share=0.3, seed=1)  # type: ignore[arg-type]
    requests = [
        LoggedRequest.of(1.0, *answered(f"r{i}", {1001: 0.2, 1002: 0.9}, missing=[]))
        for i in range(2000)
    ]
    batch = to_batch(requests, FEATURES)
    version, _ = scorer.columns(batch, np.full(2000, 2))
    per_request = version.reshape(2000, 2)
    assert ((per_request[:, 0] == None) == (per_request[:, 1] == None)).all()  # noqa: E711
    assert 0.25 < np.mean(per_request[:, 0] != None) < 0.35  # noqa: E711
    assert scorer.status.scored_requests == np.sum(per_request[:, 0] != None)  # noqa: E711


def test_a_failing_challenger_leaves_the_log_whole(caplog: pytest.LogCaptureFixture) -> None:
    from online_service.shadow import ShadowScorer

    def raising(rows: np.ndarray) -> np.ndarray:
        raise RuntimeError("broken challenger")

    sink = Recorder()
    scorer = ShadowScorer(holding(challenger(raising)), share=1.0)  # type: ignore[arg-type]
    wrong_shape = ShadowScorer(holding(challenger(lambda rows: rows)), share=1.0)  # type: ignore[arg-type]
    for shadow in (scorer, wrong_shape):
        log = PredictionLog(
            sink, FEATURES, capacity=100, flush_rows=1000, flush_seconds=3600, shadow=shadow
        )
        with caplog.at_level(logging.ERROR):
            for i in range(3):
                log.record(*answered(f"r{i}", {1001: 0.2, 1002: 0.9}, missing=[]))
                log.flush()
        assert log.written == 3
        assert log.dropped == 0
        assert shadow.status.failed_requests == 3
        assert shadow.status.scored_requests == 0
    assert all(np.isnan(b.challenger_score).all() for b in sink.batches)  # type: ignore[attr-defined]
    assert "broken challenger" in scorer.status.last_error  # type: ignore[operator]
    assert "scores for 2 rows" in wrong_shape.status.last_error  # type: ignore[operator]
    # Logged once per failing stretch, not per batch.
    assert sum("challenger v9" in r.getMessage() for r in caplog.records) == 2
