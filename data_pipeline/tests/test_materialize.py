"""The fast materialization writes exactly what Feast's materialize writes, incrementally, with
Feast's local compute engine and with its Spark compute engine."""

from __future__ import annotations

from datetime import timedelta

import pytest
from data_pipeline.materialize import fast_path_supported, materialize
from feature_store.apply import apply_repo
from feature_store.store import get_store
from mlops_common.errors import UserError
from mlops_common.settings import get_feast_settings, reset_settings_cache

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def stored_hashes(servers) -> dict[bytes, dict[bytes, bytes]]:
    """Every hash on SERVERS (one standalone server, or each master of a cluster)."""
    hashes = {}
    for server in servers:
        client = server.client()
        hashes.update({key: client.hgetall(key) for key in client.keys("*")})
        client.close()
    return hashes


def run_engine(engine: str, published, redis_env) -> dict[str, object]:
    """Materialize in two increments on an empty Redis and registry; return what it left."""
    servers = getattr(redis_env, "servers", [redis_env])  # a RedisCluster or a RedisServer
    for server in servers:
        server.client().flushall()
    registry = get_feast_settings().registry_path
    assert registry is not None
    registry.unlink(missing_ok=True)
    apply_repo()

    first = materialize(published.end - timedelta(hours=5), engine=engine)
    second = materialize(published.end, engine=engine)
    again = materialize(published.end, engine=engine)

    store = get_store()
    view = store.get_feature_view("driver_stats")
    ids = [*range(1001, 1061), 999_999]  # every driver and one unknown id
    online = store.get_online_features(
        features=store.get_feature_service("driver_ranking"),
        entity_rows=[{"driver_id": i} for i in ids],
    ).to_dict()
    return {
        "redis": stored_hashes(servers),
        "per_server": [len(stored_hashes([server])) for server in servers],
        "intervals": view.materialization_intervals,
        "rows": [r.rows for r in first + second],
        "again": again,
        "online": online,
    }


def test_fast_engine_writes_what_feast_writes(published, redis_env) -> None:
    feast = run_engine("feast", published, redis_env)
    fast = run_engine("fast", published, redis_env)

    assert fast["redis"], "something was materialized"
    assert fast["redis"] == feast["redis"], "same keys, fields and serialized values"
    assert fast["intervals"] == feast["intervals"]
    assert fast["intervals"] == [
        (published.end - timedelta(days=2, hours=5), published.end - timedelta(hours=5)),
        (published.end - timedelta(hours=5), published.end),
    ]
    assert fast["online"] == feast["online"]
    assert fast["again"] == [], "an up-to-date view has nothing to do"
    assert feast["again"] == []
    assert fast["rows"] == feast["rows"]


def test_fast_engine_writes_what_feast_writes_on_a_cluster(published, redis_cluster_env) -> None:
    """On a real 3-master Redis Cluster (REDIS_TYPE=cluster): the same keys, fields and values
    as Feast's materialize, spread over every master, read back equal by Feast."""
    feast = run_engine("feast", published, redis_cluster_env)
    fast = run_engine("fast", published, redis_cluster_env)

    store = get_store()
    assert store.config.online_store.redis_type == "redis_cluster"
    assert fast_path_supported(store, store.get_feature_view("driver_stats")), "no fallback"
    assert fast["redis"], "something was materialized"
    assert fast["redis"] == feast["redis"], "same keys, fields and serialized values"
    assert all(count > 0 for count in fast["per_server"]), "keys on every master"
    assert fast["per_server"] == feast["per_server"]
    assert fast["intervals"] == feast["intervals"]
    assert fast["online"] == feast["online"]
    assert fast["rows"] == feast["rows"]
    online = fast["online"]
    assert isinstance(online, dict)
    assert online["conv_rate"][-1] is None, "the unknown id has no features"


@pytest.mark.spark
def test_spark_engine_writes_what_the_fast_path_writes(
    published, redis_env, spark_session, monkeypatch
) -> None:
    fast = run_engine("fast", published, redis_env)  # DuckDB offline store, FileSource
    with pytest.raises(UserError, match="FEAST_OFFLINE_STORE=spark"):
        materialize(published.end, engine="spark")

    monkeypatch.setenv("FEAST_OFFLINE_STORE", "spark")
    reset_settings_cache()
    spark = run_engine("spark", published, redis_env)
    fast_on_spark_source = run_engine("fast", published, redis_env)

    assert type(get_store().get_feature_view("driver_stats").batch_source).__name__ == (
        "SparkSource"
    )
    assert spark["redis"], "something was materialized"
    assert spark["redis"] == fast["redis"], "same keys, fields and serialized values"
    assert fast_on_spark_source["redis"] == fast["redis"], "the fast path reads the SparkSource"
    assert spark["intervals"] == fast["intervals"]
    assert spark["online"] == fast["online"]
    assert spark["again"] == []
    assert spark["rows"] == fast["rows"]


def test_materialize_pushes_its_freshness(published, redis_env, pushgateway_env) -> None:
    """Prometheus alerts on stale features from what materialize pushes: how far each view is
    materialized, also when a run had nothing new to load."""
    from prometheus_client.parser import text_string_to_metric_families

    apply_repo()

    def pushed() -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
        found: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
        for family in text_string_to_metric_families(pushgateway_env.metrics()):
            for sample in family.samples:
                if sample.name.startswith("driver_ranking_materialization"):
                    labels = tuple(sorted(sample.labels.items()))
                    found.setdefault(sample.name, {})[labels] = sample.value
        return found

    materialize(published.end)
    labels = (("feature_view", "driver_stats"), ("instance", ""), ("job", "materialize"))
    first = pushed()
    end = "driver_ranking_materialization_end_timestamp_seconds"
    assert first[end] == {labels: published.end.timestamp()}
    assert first["driver_ranking_materialization_rows"][labels] > 0

    assert materialize(published.end) == [], "nothing new"
    again = pushed()
    assert again[end] == {labels: published.end.timestamp()}
    assert again["driver_ranking_materialization_rows"][labels] == 0


def test_materialize_command_records_the_interval(published, redis_env) -> None:
    """The CLI task (Feast imported without its type checks, `feast_type_checks_skipped`)
    writes what the in-process engine writes and records the interval in the registry."""
    import subprocess
    import sys
    from pathlib import Path

    expected = run_engine("fast", published, redis_env)
    redis_env.client().flushall()
    registry = get_feast_settings().registry_path
    assert registry is not None
    registry.unlink()
    apply_repo()
    cli = Path(sys.executable).with_name("data-pipeline")
    for _ in ("first", "again"):
        subprocess.run(
            [str(cli), "materialize", "--end-time", published.end.isoformat()],
            check=True,
            capture_output=True,
            timeout=300,
        )
    view = get_store().get_feature_view("driver_stats")
    assert view.materialization_intervals == [(published.end - timedelta(days=2), published.end)]
    assert stored_hashes([redis_env]) == expected["redis"]
