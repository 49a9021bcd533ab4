"""Settings of the training pipeline (env prefix `TRAIN_`): extraction, split, model and release
gates."""

from __future__ import annotations

from typing import Literal

from mlops_common.errors import UserError
from mlops_common.settings import cached_settings, settings_config
from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings

PIPELINE = "training_pipeline"
ServedFeatures = Literal["log", "offline"]
ExtractEngine = Literal["sorted", "feast"]


class TrainSettings(BaseSettings):
    """How the training set is joined and split, the model fitted and a new version accepted."""

    model_config = settings_config("TRAIN_")

    extract_engine: ExtractEngine = Field(
        "sorted",
        description="Point-in-time join of the orders: `sorted` (numpy sorted search over the "
        "layout the last feast-apply recorded; no Feast import) or `feast` "
        "(`get_historical_features`, the reference; about 6 s more, mostly importing Feast). "
        "Both give the same training set.",
    )
    served_features: ServedFeatures = Field(
        "log",
        description="Features of the labelled dispatches (served requests with an outcome): "
        "`log`, the values the model was served (the prediction log; training sees what "
        "serving saw, stale or not), or `offline`, re-joined point in time from the offline "
        "store like the generated orders.",
    )

    seed: int = Field(42, description="Seed of the train/test split and the estimator.")
    test_size: float = Field(0.2, gt=0, lt=1, description="Share of rows held out for tests.")
    alpha: float = Field(0.001, ge=0, description="ElasticNet regularisation strength.")
    l1_ratio: float = Field(0.5, ge=0, le=1, description="ElasticNet L1 share (0 = ridge).")
    max_null_share: float = Field(
        0.1, ge=0, le=1, description="Largest share of null values a feature may have."
    )
    min_rows: int = Field(100, ge=10, description="Fewest training rows validation accepts.")
    max_rmse: float = Field(0.48, gt=0, description="Gate: highest test RMSE accepted.")
    max_mae: float = Field(0.47, gt=0, description="Gate: highest test MAE accepted.")
    min_roc_auc: float = Field(0.6, ge=0, le=1, description="Gate: lowest test ROC AUC.")
    min_baseline_improvement: float = Field(
        0.01,
        ge=0,
        lt=1,
        description="Gate: relative RMSE improvement over the constant (training mean) baseline.",
    )
    reference_rows: int = Field(
        5_000, ge=100, description="Train rows logged with the model as monitoring's reference."
    )
    champion_tolerance: float = Field(
        0.002,
        ge=0,
        description="Gate: how much higher than the champion's RMSE (same test set) is accepted.",
    )


@cached_settings
def get_train_settings() -> TrainSettings:
    """The training settings; a bad value becomes a one-line UserError naming the variable."""
    try:
        return TrainSettings()
    except ValidationError as exc:
        problems = "; ".join(
            f"TRAIN_{'_'.join(str(p) for p in err['loc']).upper()}: {err['msg']}"
            for err in exc.errors()
        )
        raise UserError(f"invalid training settings ({problems}); fix them in .env") from exc
