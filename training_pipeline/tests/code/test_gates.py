"""The release gates decide on the candidate's and the champion's held-out scores."""

from __future__ import annotations

from typing import Any

from training_pipeline.register import check_gates
from training_pipeline.run_files import Evaluation
from training_pipeline.settings import TrainSettings

SETTINGS = TrainSettings(
    max_rmse=0.48,
    max_mae=0.47,
    min_roc_auc=0.6,
    min_baseline_improvement=0.01,
    champion_tolerance=0.002,
)
BASELINE = {"constant": 0.46, "rmse": 0.4986, "mae": 0.4972, "r2": 0.0, "roc_auc": 0.5}


def evaluation(rmse: float, mae: float = 0.38, auc: float = 0.79) -> Evaluation:
    return Evaluation(
        mlflow_run_id="run",
        model_uri="runs:/run/model",
        data_fingerprint="f",
        test_rows=100,
        model={"rmse": rmse, "mae": mae, "r2": 0.2, "roc_auc": auc},
        baseline=BASELINE,
    )


def failed(gates: list[Any]) -> set[str]:
    return {g.name for g in gates if not g.passed}


def test_a_good_first_model_passes_every_gate() -> None:
    assert failed(check_gates(evaluation(0.433), None, SETTINGS)) == set()


def test_a_constant_model_fails_the_baseline_and_quality_gates() -> None:
    gates = check_gates(evaluation(0.4986, mae=0.4972, auc=0.5), None, SETTINGS)
    assert failed(gates) == {"max_rmse", "max_mae", "min_roc_auc", "beats_baseline"}


def test_the_baseline_margin_is_relative() -> None:
    lenient = SETTINGS.model_copy(update={"max_rmse": 0.6})
    just_better = evaluation(0.4986 * 0.995)  # 0.5 % better, 1 % required
    clearly_better = evaluation(0.4986 * 0.985)
    assert failed(check_gates(just_better, None, lenient)) == {"beats_baseline"}
    assert failed(check_gates(clearly_better, None, lenient)) == set()


def test_the_champion_may_be_matched_within_the_tolerance_only() -> None:
    champion = ("3", {"rmse": 0.430, "mae": 0.38, "r2": 0.25, "roc_auc": 0.8})
    assert failed(check_gates(evaluation(0.4315), champion, SETTINGS)) == set()
    assert failed(check_gates(evaluation(0.4330), champion, SETTINGS)) == {
        "not_worse_than_champion"
    }
