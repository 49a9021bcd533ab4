"""The service's Redis reader returns exactly what Feast's `get_online_features` returns."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from mlops_testing import RedisServer

from .conftest import KNOWN_IDS, BlockingReader, materialize_features

pytestmark = pytest.mark.integration


def open_reader(reader_class, redis_env: RedisServer, **options):
    """READER_CLASS on the test Redis, laid out from the project's registry."""
    from feature_store.store import get_store

    return reader_class.from_store(
        get_store(),
        "driver_ranking",
        host=redis_env.host,
        port=redis_env.port,
        password=None,
        socket_timeout=0.5,
        connect_timeout=0.25,
        **options,
    )


@pytest.fixture
def reader(project_env: Path, redis_env: RedisServer):
    from online_service.features import AsyncRedisFeatureReader

    materialize_features(KNOWN_IDS)
    feature_reader = BlockingReader(lambda: open_reader(AsyncRedisFeatureReader, redis_env))
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

    from online_service.features import FeaturesUnavailableError

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


@pytest.fixture
def async_reader_factory(project_env: Path, redis_env: RedisServer):
    """Builds the service's async reader (inside the test's event loop, as the service does)."""
    from online_service.features import AsyncRedisFeatureReader

    materialize_features(KNOWN_IDS)

    def build(max_batch: int = 64) -> AsyncRedisFeatureReader:
        return open_reader(AsyncRedisFeatureReader, redis_env, max_batch=max_batch)

    return build


def _same_rows(left, right) -> bool:
    return (
        left.feature_names == right.feature_names
        and left.driver_ids == right.driver_ids
        and left.missing_driver_ids == right.missing_driver_ids
        and left.values.shape == right.values.shape
        and (left.values == right.values).all()
    )


def test_concurrent_async_reads_share_calls_and_equal_single_reads(
    async_reader_factory, reader, redis_env: RedisServer
) -> None:
    """Requests waiting at the same moment share one Redis call (counted by the server), and
    each gets exactly the rows it gets alone, unknown ids included."""
    import asyncio
    import random

    import redis

    rng = random.Random(7)
    requests = [rng.sample([*KNOWN_IDS, 9001, 9002, 9003], rng.randint(1, 6)) for _ in range(40)]
    requests.append([9001])  # a request with no known driver at all
    requests.append(list(requests[0]))  # the same ids twice in one batch
    admin = redis.Redis(host=redis_env.host, port=redis_env.port)

    def evalsha_calls() -> int:
        # Answered calls: the first call after a restart fails with NOSCRIPT and is re-sent.
        stats = admin.info("commandstats").get("cmdstat_evalsha", {})
        return int(stats.get("calls", 0)) - int(stats.get("failed_calls", 0))

    async def run(max_batch: int) -> list:
        async_reader = async_reader_factory(max_batch)
        try:
            return await asyncio.gather(*(async_reader.read(ids) for ids in requests))
        finally:
            await async_reader.close()

    admin.config_resetstat()
    batched = asyncio.run(run(64))
    batched_calls = evalsha_calls()
    admin.config_resetstat()
    chunked = asyncio.run(run(16))
    chunked_calls = evalsha_calls()

    assert batched_calls == 1, "42 reads waiting together take one call"
    assert chunked_calls == 3, "at most 16 requests per call: ceil(42 / 16)"
    for ids, one, other in zip(requests, batched, chunked, strict=True):
        alone = reader.read(ids)
        assert _same_rows(one, alone), ids
        assert _same_rows(other, alone), ids


def test_async_reads_fail_together_when_redis_is_down_then_recover(
    async_reader_factory, redis_env: RedisServer
) -> None:
    """Every request waiting on a failed call gets FeaturesUnavailableError (the service's
    503), none hangs, and reads work again once Redis is back."""
    import asyncio

    from online_service.features import FeaturesUnavailableError

    async def scenario() -> None:
        async_reader = async_reader_factory()
        try:
            assert (await async_reader.read([1001])).driver_ids == [1001]
            redis_env.stop()
            try:
                results = await asyncio.wait_for(
                    asyncio.gather(
                        *(async_reader.read([1001, 1002]) for _ in range(8)),
                        return_exceptions=True,
                    ),
                    timeout=5,
                )
                assert all(isinstance(r, FeaturesUnavailableError) for r in results), results
            finally:
                redis_env.start()
            materialize_features(KNOWN_IDS)
            assert (await async_reader.read([1001])).driver_ids == [1001]
        finally:
            await async_reader.close()

    asyncio.run(scenario())
