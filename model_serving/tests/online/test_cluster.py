"""The online reads on a real 3-master Redis Cluster (REDIS_TYPE=cluster, no replicas).

Both materialization engines fill the cluster; the service's reader then returns exactly what
Feast's `get_online_features` returns for every driver. With one master's process killed, only
the drivers whose keys live in that master's slots fail (`FeaturesUnavailableError`, a 503 from
the service, never a 500); once the master is back and refilled, every driver reads again.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from mlops_common.settings import reset_settings_cache
from mlops_platform.processes import cluster_state, wait_for
from mlops_testing import MlflowServer, RedisCluster, register_tiny_champion
from starlette.testclient import TestClient

from .conftest import (
    KNOWN_IDS,
    BlockingReader,
    materialize_features,
    service_app,
    write_driver_stats,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

UNKNOWN_IDS = (9001, 9002)


def fill_cluster(engine: str) -> None:
    """KNOWN_IDS' features in the cluster, written by ENGINE (Feast's or the fast path)."""
    if engine == "feast":
        materialize_features(KNOWN_IDS)
        return
    from data_pipeline.materialize import materialize
    from data_pipeline.settings import get_data_settings
    from feature_store.apply import apply_repo

    write_driver_stats(get_data_settings().driver_stats_path, KNOWN_IDS)
    apply_repo()
    results = materialize(datetime.now(UTC), engine="fast")
    assert [r.engine for r in results] == ["fast"]


def open_reader() -> BlockingReader:
    from feature_store.store import get_store
    from online_service.features import AsyncRedisFeatureReader

    return BlockingReader(
        lambda: AsyncRedisFeatureReader.from_store(
            get_store(),
            "driver_ranking",
            host="unused-on-a-cluster",
            port=1,
            password=None,
            socket_timeout=0.5,
            connect_timeout=0.25,
        )
    )


def feast_values(ids: list[int]) -> dict[str, list[object]]:
    from feature_store.store import get_store

    store = get_store()
    return store.get_online_features(
        features=store.get_feature_service("driver_ranking"),
        entity_rows=[{"driver_id": i} for i in ids],
    ).to_dict()


def driver_key(driver_id: int) -> bytes:
    from feature_store import feast_internals
    from feature_store.store import get_store

    store = get_store()
    key = feast_internals.int64_key_builder(
        store.project, "driver_id", store.config.entity_key_serialization_version
    )
    return key(driver_id)


def wait_cluster_ok(cluster: RedisCluster) -> None:
    wait_for(
        lambda: all(cluster_state(h, p) == "ok" for h, p in cluster.nodes),
        timeout=30,
        interval=0.2,
        timeout_error=lambda: RuntimeError("the cluster did not recover"),
    )


@pytest.mark.parametrize("engine", ["feast", "fast"])
def test_reader_equals_feast_for_every_driver(
    project_env, redis_cluster_env: RedisCluster, engine: str
) -> None:
    fill_cluster(engine)
    masters = {redis_cluster_env.server_of(driver_key(i)).port for i in KNOWN_IDS}
    assert len(masters) == 3, "the drivers' keys are spread over the three masters"

    ids = [*KNOWN_IDS, *UNKNOWN_IDS]
    expected = feast_values(ids)
    reader = open_reader()
    try:
        rows = reader.read(ids)
    finally:
        reader.close()
    assert rows.driver_ids == list(KNOWN_IDS)
    assert rows.missing_driver_ids == list(UNKNOWN_IDS)
    for column, name in enumerate(rows.feature_names):
        assert (
            [float(v) for v in rows.values[:, column]]
            == [
                float(v)  # type: ignore[arg-type]
                for v in expected[name][: len(KNOWN_IDS)]
            ]
        )
        assert expected[name][len(KNOWN_IDS) :] == [None, None]
    assert not any(math.isnan(v) for v in rows.values.ravel())


def test_a_dead_master_fails_only_its_slots_then_recovers(
    project_env, redis_cluster_env: RedisCluster
) -> None:
    from online_service.features import FeaturesUnavailableError

    fill_cluster("fast")
    victim = redis_cluster_env.server_of(driver_key(KNOWN_IDS[0]))
    on_victim = {i for i in KNOWN_IDS if redis_cluster_env.server_of(driver_key(i)) is victim}
    elsewhere = set(KNOWN_IDS) - on_victim
    assert on_victim
    assert elsewhere
    reader = open_reader()
    try:
        assert reader.read(list(KNOWN_IDS)).driver_ids == list(KNOWN_IDS)
        assert victim.process is not None
        victim.process.kill()  # SIGKILL: the master vanishes, as in a crash
        victim.process.wait(timeout=10)
        try:
            for driver_id in KNOWN_IDS:
                if driver_id in on_victim:
                    with pytest.raises(FeaturesUnavailableError):
                        reader.read([driver_id])
                else:
                    assert reader.read([driver_id]).driver_ids == [driver_id]
            assert reader.ping() is True, "the other masters still answer"
        finally:
            victim.start()  # the same port and nodes.conf: it rejoins with its slots, empty
        wait_cluster_ok(redis_cluster_env)
        fill_cluster("feast")  # the restarted master lost its keys (no persistence)
        assert reader.read(list(KNOWN_IDS)).driver_ids == list(KNOWN_IDS)
    finally:
        reader.close()


@pytest.fixture
def cluster_service(
    project_env,
    redis_cluster_env: RedisCluster,
    mlflow_env: MlflowServer,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[TestClient]:
    """The service in-process on the cluster with a fresh champion."""
    name = f"driver_ranking_{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("MLFLOW_MODEL_NAME", name)
    reset_settings_cache()
    fill_cluster("fast")
    register_tiny_champion(mlflow_env.uri, name)
    with TestClient(service_app()) as client:
        yield client


def test_service_answers_503_only_for_the_dead_masters_drivers(
    cluster_service: TestClient, redis_cluster_env: RedisCluster
) -> None:
    def status_of(driver_id: int) -> int:
        body = {"request_id": f"r{driver_id}", "driver_ids": [driver_id]}
        return cluster_service.post("/inference", json=body).status_code

    assert {status_of(i) for i in KNOWN_IDS} == {200}
    victim = redis_cluster_env.server_of(driver_key(KNOWN_IDS[-1]))
    on_victim = {i for i in KNOWN_IDS if redis_cluster_env.server_of(driver_key(i)) is victim}
    assert victim.process is not None
    victim.process.kill()
    victim.process.wait(timeout=10)
    try:
        statuses = {i: status_of(i) for i in KNOWN_IDS}
        assert cluster_service.get("/readyz").status_code == 200, "the other masters answer"
    finally:
        victim.start()
    assert {i for i, status in statuses.items() if status == 503} == on_victim
    assert {status for i, status in statuses.items() if i not in on_victim} == {200}
    wait_cluster_ok(redis_cluster_env)
    fill_cluster("feast")
    assert {status_of(i) for i in KNOWN_IDS} == {200}, "recovered once the master is back"
