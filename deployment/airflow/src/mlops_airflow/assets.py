"""The Airflow 3 Assets that chain the DAGs into a loop (serve -> monitor -> retrain -> serve).

- `DRIVER_STATS`, `ORDERS`: published by `data_pipeline` (its validate task publishes the
  offline store and the labelled orders).
- `DRIFT`: emitted by `monitoring` only when a window raised an alarm (drift share or live
  ROC AUC over its threshold; the signalling task is skipped otherwise, so no event).
- `LABELS`: emitted by `label_dispatches` when served dispatches with outcomes became new
  training rows. Training is not scheduled on it: an hourly trickle of labels is no reason to
  retrain; training reads them when an alarm (`DRIFT`) or new orders start it.
- `CHAMPION`: emitted by `training_pipeline`'s `publish` task only when register moved the
  `champion` alias (gates passed, better than the champion, PROMOTION_MODE=direct or no
  champion yet).
- `CHALLENGER`: emitted by `training_pipeline`'s `publish_challenger` task only when register
  moved the `challenger` alias (PROMOTION_MODE=shadow): the online service picks the new
  challenger up by itself; the event marks the start of its live judgement.

`training_pipeline` is scheduled on `ORDERS | DRIFT`, `batch_serving_pipeline` on `CHAMPION`;
both stay triggerable by hand.
"""

from __future__ import annotations

from airflow.sdk import Asset

DRIVER_STATS = Asset(name="driver_stats", uri="file:///driver-ranking/offline-store/driver_stats")
ORDERS = Asset(name="orders", uri="file:///driver-ranking/offline-store/orders")
LABELS = Asset(name="labels", uri="file:///driver-ranking/offline-store/labelled-dispatches")
DRIFT = Asset(name="drift", uri="file:///driver-ranking/monitoring/drift")
CHAMPION = Asset(name="champion", uri="file:///driver-ranking/registry/champion")
CHALLENGER = Asset(name="challenger", uri="file:///driver-ranking/registry/challenger")
