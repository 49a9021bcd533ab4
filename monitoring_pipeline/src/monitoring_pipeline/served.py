"""The served traffic of one window, read from the prediction log (`mlops_common.paths`).

The online service writes two datasets per batch of requests (model_serving.prediction_log):
Feast's feature log (`__request_id`, `driver_id`, `<view>__<feature>` ...) and the scores
(`request_id`, `driver_id`, `log_timestamp`, model, `score`, `rank`, `chosen`, `source`).
Here they are joined by (request id, driver id) for the online rows logged in the window.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
from mlops_common.paths import feature_log_dir, scores_log_dir


@dataclass(frozen=True)
class Window:
    """[start, end) of served traffic, in UTC."""

    start: datetime
    end: datetime

    @classmethod
    def ending_at(cls, end: datetime, minutes: int) -> Window:
        return cls(end - timedelta(minutes=minutes), end)

    @property
    def label(self) -> str:
        return f"{self.start:%Y-%m-%dT%H:%M:%S%z}/{self.end:%Y-%m-%dT%H:%M:%S%z}"


def _between(table_dir: str, column: str, window: Window) -> pa.Table | None:
    dataset = ds.dataset(table_dir, format="parquet")
    start = pa.scalar(window.start, pa.timestamp("us", tz="UTC"))
    end = pa.scalar(window.end, pa.timestamp("us", tz="UTC"))
    table = dataset.to_table(filter=(ds.field(column) >= start) & (ds.field(column) < end))
    return table


def served_rows(window: Window, features: list[str]) -> pd.DataFrame:
    """One row per online request and scored candidate in WINDOW: request_id, driver_id,
    log_timestamp, model_version, score, chosen and the FEATURES as served."""
    columns = ["request_id", "driver_id", "log_timestamp", "model_version", "score", "chosen"]
    empty = pd.DataFrame(columns=[*columns, *features])
    predictions_dir, features_dir = scores_log_dir(), feature_log_dir()
    if not any(predictions_dir.glob("*.parquet")) or not any(features_dir.glob("*.parquet")):
        return empty
    predictions = _between(str(predictions_dir), "log_timestamp", window)
    assert predictions is not None
    predictions = predictions.filter(
        pc.and_(pc.equal(predictions["source"], "online"), pc.is_valid(predictions["score"]))
    )
    if predictions.num_rows == 0:
        return empty
    logged = _between(str(features_dir), "__log_timestamp", window)
    assert logged is not None
    names = logged.column_names
    renamed: dict[str, str] = {"__request_id": "request_id", "driver_id": "driver_id"}
    for feature in features:
        matches = [n for n in names if n.endswith(f"__{feature}")]
        if len(matches) != 1:
            raise KeyError(f"the feature log has no single column for feature {feature!r}")
        renamed[matches[0]] = feature
    served = logged.select(list(renamed)).rename_columns(list(renamed.values())).to_pandas()
    # A caller that reuses a request id would make the join ambiguous: each (request,
    # driver) counts once, and each request keeps one chosen driver.
    keys = ["request_id", "driver_id"]
    served = served.drop_duplicates(keys)
    scored = predictions.select(columns).to_pandas().drop_duplicates(keys)
    chosen = scored["chosen"].astype(bool)
    again = scored[chosen].duplicated("request_id").reindex(scored.index, fill_value=False)
    scored.loc[chosen & again, "chosen"] = False
    frame = scored.merge(served, on=keys, how="inner", validate="one_to_one")
    return frame.reset_index(drop=True)


def known_request_ids() -> set[str]:
    """Every request id the prediction log holds (outcomes naming others are unknown)."""
    folder = scores_log_dir()
    if not any(folder.glob("*.parquet")):
        return set()
    table = ds.dataset(str(folder), format="parquet").to_table(columns=["request_id"])
    return set(pc.unique(table["request_id"]).to_pylist())
