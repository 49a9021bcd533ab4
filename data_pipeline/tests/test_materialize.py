"""The fast materialization writes exactly what Feast's materialize writes, incrementally."""

from __future__ import annotations

from datetime import timedelta

import pytest
from data_pipeline.materialize import materialize
from feature_store.apply import apply_repo
from feature_store.store import get_store
from mlops_common.settings import get_feast_settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def run_engine(engine: str, published, redis_env) -> dict[str, object]:
    """Materialize in two increments on an empty Redis and registry; return what it left."""
    client = redis_env.client()
    client.flushall()
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
        "redis": {key: client.hgetall(key) for key in client.keys("*")},
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
