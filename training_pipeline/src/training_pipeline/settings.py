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

    seed: int = Field(42, description="Seed of the estimator (the split is by time).")
    window_days: float = Field(
        7.0,
        gt=0,
        description="Training window: only orders from the last N days before the newest "
        "order's event time are used, so a model learns the present relation.",
    )
    window_from_relation_change: bool = Field(
        True,
        description="Start the training window where monitoring recorded that the relation "
        "between features and outcomes changed (the champion's live ROC AUC fell below its "
        "gate; a registered-model tag), when that is later than TRAIN_WINDOW_DAYS and at least "
        "TRAIN_MIN_ROWS rows follow it: rows from before a concept change teach the old "
        "relation.",
    )
    test_size: float = Field(
        0.2, gt=0, lt=1, description="Share of the window's latest rows held out for tests."
    )
    c: float = Field(
        1.0,
        gt=0,
        description="Inverse regularisation strength of the logistic regression (smaller = "
        "stronger; a tiny value gives constant predictions).",
    )
    l1_ratio: float = Field(
        0.5, ge=0, le=1, description="Elastic-net L1 share of the penalty (0 = ridge, 1 = lasso)."
    )
    max_null_share: float = Field(
        0.1, ge=0, le=1, description="Largest share of null values a feature may have."
    )
    min_rows: int = Field(100, ge=10, description="Fewest training rows validation accepts.")
    min_roc_auc: float = Field(0.6, ge=0, le=1, description="Gate: lowest test ROC AUC.")
    max_log_loss: float = Field(0.66, gt=0, description="Gate: highest test log loss accepted.")
    min_baseline_improvement: float = Field(
        0.01,
        ge=0,
        lt=1,
        description="Gate: relative log-loss improvement over the constant baseline (the "
        "training positive rate).",
    )
    reference_rows: int = Field(
        5_000, ge=100, description="Train rows logged with the model as monitoring's reference."
    )
    champion_tolerance: float = Field(
        0.002,
        ge=0,
        description="Promotion: how much higher than the champion's log loss (same test set) "
        "is accepted.",
    )
    min_champion_improvement: float = Field(
        0.01,
        ge=0,
        lt=1,
        description="Promotion: how much higher than the champion's ROC AUC on the same recent "
        "test set the candidate's must be; a smaller gain is logged but not registered.",
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
