"""Training-serving parity: after materialize at a fixed time, the online features of every
driver (`get_online_features`, Redis) equal the offline point-in-time features at that time
(`get_historical_features` with one entity row per driver at that time), including drivers
past ttl, which have no features either way."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from data_pipeline.materialize import materialize
from feature_store.apply import apply_repo
from feature_store.store import get_store

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.mark.parametrize("engine", ["fast", "feast"])
def test_online_features_equal_offline_point_in_time_features(
    published, redis_env, engine: str
) -> None:
    apply_repo()
    materialize(published.end, engine=engine)
    store = get_store()
    service = store.get_feature_service("driver_ranking")
    features = [f.name for p in service.feature_view_projections for f in p.features]
    stats = pd.read_parquet(published.driver_stats)
    ids = [*sorted(int(i) for i in stats.driver_id.unique()), 999_999]  # every driver, one unknown

    online = store.get_online_features(
        features=service, entity_rows=[{"driver_id": i} for i in ids]
    ).to_dict()
    entity_df = pd.DataFrame(
        {"driver_id": ids, "event_timestamp": pd.Timestamp(published.end).as_unit("us")}
    )
    offline = (
        store.get_historical_features(entity_df=entity_df, features=service)
        .to_df()
        .set_index("driver_id")
        .loc[ids]
    )

    assert online["driver_id"] == ids
    without = 0
    for row, driver in enumerate(ids):
        missing_offline = offline.loc[driver, features].isna()
        missing_online = [online[name][row] is None for name in features]
        assert missing_offline.tolist() == missing_online, driver
        if all(missing_online):
            without += 1
            continue
        for name in features:
            # float32 features come back as float64 offline and as Python floats online
            assert np.float32(online[name][row]) == np.float32(offline.loc[driver, name]), (
                driver,
                name,
            )
    # Past ttl: drivers that stopped reporting more than ttl before END (and the unknown id).
    ttl = pd.Timedelta(store.get_feature_view("driver_stats").ttl)
    last = stats.groupby("driver_id").event_timestamp.max()
    stale = set(last[last < pd.Timestamp(published.end) - ttl].index)
    assert stale, "the batch should hold drivers past ttl"
    assert without == len(stale) + 1
    assert without < len(ids) - 10
