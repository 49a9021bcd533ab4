"""Feast on the published offline store: online reads after materialization and point-in-time
historical reads agree with an independent pandas computation on every row."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
import pytest
from data_pipeline.materialize import materialize
from feature_store.apply import apply_repo
from feature_store.store import get_store

pytestmark = pytest.mark.integration


def service_features(store) -> list[str]:
    """The model's feature names, from the registry's feature service (not hard-coded)."""
    service = store.get_feature_service("driver_ranking")
    return [f.name for projection in service.feature_view_projections for f in projection.features]


def latest_in_ttl(stats: pd.DataFrame, end: datetime, ttl: pd.Timedelta) -> pd.DataFrame:
    """Per driver, the newest row with end - ttl <= event_timestamp <= end."""
    window = stats[(stats.event_timestamp >= end - ttl) & (stats.event_timestamp <= end)]
    return window.sort_values(["event_timestamp", "created"]).groupby("driver_id").tail(1)


@pytest.mark.slow
def test_online_features_are_the_latest_in_ttl_rows(published, redis_env) -> None:
    apply_repo()
    materialize(published.end)
    store = get_store()
    features = service_features(store)
    ttl = pd.Timedelta(store.get_feature_view("driver_stats").ttl)
    stats = pd.read_parquet(published.driver_stats)
    expected = latest_in_ttl(stats, published.end, ttl).set_index("driver_id")

    all_ids = sorted(stats.driver_id.unique())
    sample = np.random.default_rng(0).choice(all_ids, 15, replace=False).tolist()
    missing = sorted(set(all_ids) - set(expected.index))
    assert missing, "the batch should hold drivers that stopped reporting more than ttl ago"
    ids = sorted({1001, 1002, 1003, 1004, 1005, *sample, *missing})

    online = store.get_online_features(
        features=store.get_feature_service("driver_ranking"),
        entity_rows=[{"driver_id": int(i)} for i in ids],
    ).to_dict()
    for row, driver_id in enumerate(online["driver_id"]):
        for name in features:
            value = online[name][row]
            if driver_id in expected.index:
                assert value == expected.loc[driver_id, name], (driver_id, name)
            else:
                assert value is None, (driver_id, name)


@pytest.mark.slow
def test_historical_features_match_an_independent_point_in_time_join(
    published,
) -> None:
    apply_repo()
    store = get_store()
    features = service_features(store)
    ttl = pd.Timedelta(store.get_feature_view("driver_stats").ttl)
    orders = pd.read_parquet(published.orders)
    orders["order_id"] = np.arange(len(orders))
    stats = pd.read_parquet(published.driver_stats)

    # Entity rows exactly on a statistics timestamp, and exactly ttl after one (both inclusive).
    on_row = stats.iloc[[5]][["driver_id", "event_timestamp"]]
    at_ttl = on_row.assign(event_timestamp=on_row.event_timestamp + ttl)
    extra = pd.concat([on_row, at_ttl]).assign(trip_completed=0)
    extra["order_id"] = [len(orders), len(orders) + 1]
    entities = pd.concat([orders, extra], ignore_index=True)

    got = (
        store.get_historical_features(
            entity_df=entities, features=store.get_feature_service("driver_ranking")
        )
        .to_df()
        .sort_values("order_id")
        .reset_index(drop=True)
    )

    reference = (
        pd.merge_asof(
            entities.sort_values("event_timestamp"),
            stats.sort_values("event_timestamp")[["driver_id", "event_timestamp", *features]],
            on="event_timestamp",
            by="driver_id",
            direction="backward",
            allow_exact_matches=True,
            tolerance=ttl,
        )
        .sort_values("order_id")
        .reset_index(drop=True)
    )

    assert len(got) == len(entities), "no entity row may vanish"
    assert got.order_id.tolist() == reference.order_id.tolist()
    nulls = reference[features[0]].isna()
    assert nulls.sum() > 0, "the batch should hold orders without in-ttl features"
    assert not reference.loc[len(orders) :, features[0]].isna().any(), "inclusive bounds"
    for name in features:
        pd.testing.assert_series_equal(
            got[name].astype("float64"), reference[name].astype("float64"), check_names=False
        )
