"""The prediction log's writer on a real Feast registry: Feast's feature logging schema, the
scores beside it, both writers alike, and nothing partial left by a failed write."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from prediction_log.reader import read_feature_log, read_predictions
from prediction_log.schema import NOT_FOUND, PRESENT
from prediction_log.writer import LogBatch, PredictionLogWriter

FEATURES = ("conv_rate", "acc_rate", "avg_daily_trips")


def _writer(feast_write: bool) -> PredictionLogWriter:
    from feature_store.store import get_store
    from mlops_common.paths import scores_log_dir

    return PredictionLogWriter(
        get_store(), "driver_ranking", scores_log_dir(), feast_write=feast_write
    )


@pytest.fixture(params=["arrow", "feast"])
def writer(project_env: Path, request: pytest.FixtureRequest) -> PredictionLogWriter:
    """The writer on a real Feast registry (the repo's feature service and LoggingConfig),
    with each way of writing the feature log (PREDICTION_LOG_WRITER)."""
    from feature_store.apply import apply_repo

    apply_repo()
    return _writer(feast_write=request.param == "feast")


def _two_requests() -> LogBatch:
    """Two answered requests: req-a scored 1001 (0.3) and 1002 (0.8, chosen), 1009 had no
    features; req-b scored 1003 (0.6, chosen)."""
    stamps = np.array([1_800_000_000_000_000] * 3 + [1_800_000_001_000_000], dtype="datetime64[us]")
    nan = np.nan
    return LogBatch(
        feature_names=FEATURES,
        request_id=np.array(["req-a", "req-a", "req-a", "req-b"], dtype=object),
        logged_at=stamps,
        driver_id=np.array([1001, 1002, 1009, 1003], dtype=np.int64),
        values=np.array([[0.1, 0.5, 1.0], [0.2, 0.5, 2.0], [nan, nan, nan], [0.1, 0.5, 1.0]]),
        found=np.array([True, True, False, True]),
        score=np.array([0.3, 0.8, nan, 0.6]),
        rank=np.array([2, 1, 0, 1], dtype=np.int32),
        chosen=np.array([False, True, False, True]),
        model_name=np.array(["driver_ranking"] * 4, dtype=object),
        model_version=np.array(["7"] * 4, dtype=object),
        source="online",
    )


@pytest.mark.integration
def test_written_through_feast_feature_logging_and_joinable(writer: PredictionLogWriter) -> None:
    from feast.feature_logging import FeatureServiceLoggingSource
    from feature_store.store import get_store

    store = get_store()
    service = store.get_feature_service("driver_ranking")
    assert service.logging_config is not None
    assert Path(service.logging_config.destination.path) == writer.features_dir

    assert writer.write(_two_requests()) == 4
    features = read_feature_log(writer.features_dir)
    assert features is not None
    expected = FeatureServiceLoggingSource(service, store.config.project).get_schema(store.registry)
    assert features.schema.names == expected.names
    predictions = read_predictions(writer.predictions_dir)
    joined = features.to_pandas().merge(
        predictions.to_pandas(),
        left_on=["__request_id", "driver_id"],
        right_on=["request_id", "driver_id"],
        validate="one_to_one",
    )
    assert len(joined) == 4
    by_key = joined.set_index(["request_id", "driver_id"])
    assert by_key.loc[("req-a", 1002), "chosen"]
    assert by_key.loc[("req-a", 1002), "score"] == pytest.approx(0.8)
    assert by_key.loc[("req-a", 1002), "driver_stats__conv_rate"] == pytest.approx(0.2)
    assert by_key.loc[("req-a", 1002), "driver_stats__avg_daily_trips"] == 2
    assert by_key.loc[("req-a", 1002), "driver_stats__conv_rate__status"] == PRESENT
    assert by_key.loc[("req-a", 1009), "driver_stats__conv_rate__status"] == NOT_FOUND
    assert np.isnan(by_key.loc[("req-a", 1009), "score"])
    assert set(joined["model_version"]) == {"7"}
    assert set(joined["source"]) == {"online"}
    # Nothing but complete files where readers look.
    assert not list(writer.features_dir.glob(".staging/*"))
    files = [
        p.relative_to(writer.features_dir) for p in writer.features_dir.rglob("*") if p.is_file()
    ]
    assert [str(p.parent) for p in files] == ["date=2027-01-15/hour=08"]  # the log time's hour
    assert [p.suffix for p in files] == [".parquet"]


@pytest.mark.integration
def test_an_unwritable_destination_leaves_no_partial_file(
    writer: PredictionLogWriter, monkeypatch: pytest.MonkeyPatch
) -> None:
    import prediction_log.writer as module

    def disk_full(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    # Feast's feature file is written, then the scores file fails: neither may appear.
    monkeypatch.setattr(module.pq, "write_table", disk_full)
    with pytest.raises(OSError, match="No space left"):
        writer.write(_two_requests())
    assert read_feature_log(writer.features_dir) is None
    assert read_predictions(writer.predictions_dir).num_rows == 0
    assert not [p for p in writer.features_dir.glob(".staging/**/*") if p.is_file()]
    monkeypatch.undo()

    blocked = PredictionLogWriter.__new__(PredictionLogWriter)
    blocked.__dict__.update(writer.__dict__)
    blocker = writer.features_dir.parent / "not-a-folder"
    blocker.write_text("a file where the log folder should be")
    blocked.features_dir = blocker / "features"
    with pytest.raises(NotADirectoryError):
        blocked.write(_two_requests())
    assert not list(blocker.parent.glob("**/*.parquet"))
    assert writer.write(_two_requests()) == 4


@pytest.mark.integration
def test_the_arrow_writer_writes_what_feast_writes(project_env: Path, tmp_path: Path) -> None:
    """PREDICTION_LOG_WRITER=arrow (the default) and =feast give the same feature log rows,
    schema and types; Feast's own reader of the log's files sees the same table."""
    from feature_store.apply import apply_repo

    apply_repo()
    tables = {}
    for name, feast_write in (("arrow", False), ("feast", True)):
        writer = _writer(feast_write)
        writer.features_dir = tmp_path / name / "features"
        writer.predictions_dir = tmp_path / name / "predictions"
        assert writer.write(_two_requests()) == 4
        table = read_feature_log(writer.features_dir)
        assert table is not None
        tables[name] = table.sort_by([("__request_id", "ascending"), ("driver_id", "ascending")])
    assert str(tables["arrow"].schema) == str(tables["feast"].schema)
    assert tables["arrow"].equals(tables["feast"])


@pytest.mark.integration
def test_readers_take_only_the_window_asked_for(writer: PredictionLogWriter) -> None:
    from datetime import UTC, datetime

    from prediction_log.reader import served_rows

    writer.write(_two_requests())  # req-a at 1_800_000_000 s, req-b one second later
    start = datetime.fromtimestamp(1_800_000_000, UTC)
    end = datetime.fromtimestamp(1_800_000_001, UTC)
    window = read_predictions(writer.predictions_dir, start, end)
    assert set(window.column("request_id").to_pylist()) == {"req-a"}
    assert read_predictions(writer.predictions_dir, end).column("request_id").to_pylist() == [
        "req-b"
    ]
    served = served_rows(writer.predictions_dir, writer.features_dir, start, end, list(FEATURES))
    # Scored candidates only (1009 had no features), with the features as served.
    assert sorted(served["driver_id"]) == [1001, 1002]
    assert served.set_index("driver_id").loc[1002, "conv_rate"] == pytest.approx(0.2)
    assert served.set_index("driver_id").loc[1002, "chosen"]


@pytest.mark.integration
def test_feast_reads_the_partitioned_feature_log(writer: PredictionLogWriter) -> None:
    """Feast's offline store pulls the log from a FileSource over the destination's partitions
    (a glob: Feast's DuckDB store reads a file or a pattern, not a folder)."""
    from datetime import UTC, datetime

    from feast import FileSource
    from feast.infra.offline_stores.duckdb import DuckDBOfflineStore
    from feature_store.store import get_store

    writer.write(_two_requests())
    source = FileSource(
        name="driver_ranking_log",
        path=f"{writer.features_dir}/**/*.parquet",
        timestamp_field="__log_timestamp",
    )
    pulled = DuckDBOfflineStore.pull_all_from_table_or_query(
        config=get_store().config,
        data_source=source,
        join_key_columns=["driver_id"],
        feature_name_columns=["__request_id", "driver_stats__conv_rate"],
        timestamp_field="__log_timestamp",
        start_date=datetime(2027, 1, 1, tzinfo=UTC),
        end_date=datetime(2027, 2, 1, tzinfo=UTC),
    ).to_arrow()
    pairs = zip(pulled["__request_id"].to_pylist(), pulled["driver_id"].to_pylist(), strict=True)
    assert sorted(pairs) == [
        ("req-a", 1001),
        ("req-a", 1002),
        ("req-a", 1009),
        ("req-b", 1003),
    ]


@pytest.mark.integration
def test_a_named_rerun_in_a_later_hour_replaces_its_rows(writer: PredictionLogWriter) -> None:
    """Batch scoring names its writes after the run: a re-run an hour later (a later log time,
    another partition) replaces the first run's rows instead of adding them again."""
    import dataclasses

    first = _two_requests()
    writer.write(first, name="batch-run-1")
    later = dataclasses.replace(first, logged_at=first.logged_at + np.timedelta64(2, "h"))
    writer.write(later, name="batch-run-1")
    assert read_predictions(writer.predictions_dir).num_rows == 4
    features = read_feature_log(writer.features_dir)
    assert features is not None
    assert features.num_rows == 4
