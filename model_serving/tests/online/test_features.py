"""The service's Redis reader returns exactly what Feast's `get_online_features` returns."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from mlops_testing import RedisServer

from .conftest import KNOWN_IDS, materialize_features

pytestmark = pytest.mark.integration


@pytest.fixture
def reader(project_env: Path, redis_env: RedisServer):
    from feature_store.store import get_store
    from model_serving.online.features import RedisFeatureReader

    materialize_features(KNOWN_IDS)
    feature_reader = RedisFeatureReader.from_store(
        get_store(),
        "driver_ranking",
        host=redis_env.host,
        port=redis_env.port,
        password=None,
        socket_timeout=0.5,
        connect_timeout=0.25,
    )
    yield feature_reader
    feature_reader.close()


def test_reader_equals_get_online_features(reader) -> None:
    from feature_store.store import get_store

    store = get_store()
    ids = [1003, 9001, 1001, 1020, 9002, 1010]
    expected = store.get_online_features(
        features=store.get_feature_service("driver_ranking"),
        entity_rows=[{"driver_id": i} for i in ids],
    ).to_dict()
    rows = reader.read(ids)

    # Feature names come from the feature service in the registry (in its projection order).
    service = store.get_feature_service("driver_ranking")
    assert rows.feature_names == tuple(
        f.name for p in service.feature_view_projections for f in p.features
    )
    assert set(rows.feature_names) == set(expected) - {"driver_id"}
    assert rows.missing_driver_ids == [9001, 9002]
    assert rows.driver_ids == [1003, 1001, 1020, 1010]
    for row, driver_id in zip(rows.values, rows.driver_ids, strict=True):
        position = ids.index(driver_id)
        for column, name in enumerate(rows.feature_names):
            assert row[column] == expected[name][position]  # exact, not approximate
    for driver_id in rows.missing_driver_ids:
        position = ids.index(driver_id)
        assert all(expected[name][position] is None for name in rows.feature_names)


def test_all_known_drivers_equal_feast(reader) -> None:
    from feature_store.store import get_store

    store = get_store()
    expected = store.get_online_features(
        features=store.get_feature_service("driver_ranking"),
        entity_rows=[{"driver_id": i} for i in KNOWN_IDS],
    ).to_dict()
    rows = reader.read(KNOWN_IDS)
    for column, name in enumerate(rows.feature_names):
        assert [float(v) for v in rows.values[:, column]] == [float(v) for v in expected[name]]
    assert not any(math.isnan(v) for v in rows.values.ravel())


def test_dead_redis_fails_fast_and_recovers(reader, redis_env: RedisServer) -> None:
    import time

    from model_serving.online.features import FeaturesUnavailableError

    assert reader.read([1001]).driver_ids == [1001]
    redis_env.stop()
    try:
        started = time.monotonic()
        with pytest.raises(FeaturesUnavailableError):
            reader.read([1001])
        assert reader.ping() is False
        elapsed = time.monotonic() - started
        assert elapsed < 5, "a dead Redis must not hang the reader"
    finally:
        redis_env.start()
    materialize_features(KNOWN_IDS)  # the restarted server is empty (no persistence)
    assert reader.read([1001]).driver_ids == [1001]
