"""Course-style baseline of the online service, for the bench only (not shipped).

The design the course teaches: Feast SDK `get_online_features` -> pandas DataFrame -> MLflow
pyfunc `predict`, and a plain `dict` answer. Same data, same model, same answer fields as
`online_service.service.DriverRanking`, so `bench_online.py` can compare the two fairly.
"""

from __future__ import annotations

from typing import Any

import bentoml


@bentoml.service(name="driver_ranking_baseline")
class Baseline:
    """Feast SDK + pandas + pyfunc, loaded once at start-up."""

    def __init__(self) -> None:
        import mlflow
        from feature_store.store import get_store
        from mlops_common.settings import get_feast_settings, get_mlflow_settings

        mlflow_settings = get_mlflow_settings()
        mlflow.set_tracking_uri(mlflow_settings.resolved_tracking_uri)
        self.store = get_store()
        self.feature_service = self.store.get_feature_service(get_feast_settings().feature_service)
        self.model = mlflow.pyfunc.load_model(mlflow_settings.champion_uri)
        self.columns = self.model.metadata.get_input_schema().input_names()
        self.model_name = mlflow_settings.model_name

    @bentoml.api(route="/inference")
    def inference(self, request_id: str, driver_ids: list[int]) -> dict[str, Any]:
        frame = self.store.get_online_features(
            features=self.feature_service,
            entity_rows=[{"driver_id": driver_id} for driver_id in driver_ids],
        ).to_df()
        known = frame.dropna(subset=self.columns)
        missing = [int(i) for i in frame.loc[frame.index.difference(known.index), "driver_id"]]
        if known.empty:
            return {"request_id": request_id, "error": "no_features", "missing": missing}
        known = known.assign(score=self.model.predict(known[self.columns].astype("float64")))
        known = known.sort_values("score", ascending=False)
        return {
            "request_id": request_id,
            "best_driver_id": int(known.iloc[0]["driver_id"]),
            "scores": [
                {"driver_id": int(row.driver_id), "score": float(row.score)}
                for row in known.itertuples()
            ],
            "missing_driver_ids": missing,
            "model_name": self.model_name,
        }
