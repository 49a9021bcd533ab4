"""The release gates judge the candidate alone; promotion compares it with the champion on the
same recent test set."""

from __future__ import annotations

from typing import Any

from training_pipeline.register import ChampionScores, check_gates, check_promotion
from training_pipeline.run_files import Evaluation
from training_pipeline.settings import TrainSettings

SETTINGS = TrainSettings(
    min_roc_auc=0.6,
    max_log_loss=0.66,
    min_baseline_improvement=0.01,
    champion_tolerance=0.002,
    min_champion_improvement=0.01,
)
BASELINE = {"constant": 0.46, "roc_auc": 0.5, "log_loss": 0.6902, "brier": 0.2484}


def evaluation(auc: float = 0.79, loss: float = 0.55, fingerprint: str = "new") -> Evaluation:
    return Evaluation(
        mlflow_run_id="run",
        model_uri="models:/m-1",
        data_fingerprint=fingerprint,
        test_rows=100,
        model={"roc_auc": auc, "log_loss": loss, "brier": 0.19},
        baseline=BASELINE,
    )


def champion(auc: float = 0.75, loss: float = 0.58) -> ChampionScores:
    return ChampionScores("3", "champion-run", "old", {"roc_auc": auc, "log_loss": loss})


def failed(gates: list[Any]) -> set[str]:
    return {g.name for g in gates if not g.passed}


def test_a_good_model_passes_every_release_gate() -> None:
    assert failed(check_gates(evaluation(), SETTINGS)) == set()


def test_a_constant_model_fails_the_quality_and_baseline_gates() -> None:
    constant = evaluation(auc=0.5, loss=BASELINE["log_loss"])
    assert failed(check_gates(constant, SETTINGS)) == {
        "min_roc_auc",
        "max_log_loss",
        "beats_baseline",
    }


def test_the_baseline_margin_is_relative() -> None:
    lenient = SETTINGS.model_copy(update={"max_log_loss": 0.7})
    just_better = evaluation(loss=BASELINE["log_loss"] * 0.995)  # 0.5 % better, 1 % required
    clearly_better = evaluation(loss=BASELINE["log_loss"] * 0.985)
    assert failed(check_gates(just_better, lenient)) == {"beats_baseline"}
    assert failed(check_gates(clearly_better, lenient)) == set()


def test_the_first_model_is_promoted() -> None:
    assert failed(check_promotion(evaluation(), None, SETTINGS)) == set()


def test_a_candidate_must_beat_the_champion_by_the_margin() -> None:
    assert failed(check_promotion(evaluation(auc=0.761), champion(auc=0.75), SETTINGS)) == set()
    assert failed(check_promotion(evaluation(auc=0.755), champion(auc=0.75), SETTINGS)) == {
        "beats_champion"
    }


def test_a_better_ranking_with_worse_probabilities_is_not_promoted() -> None:
    gates = check_promotion(evaluation(auc=0.80, loss=0.59), champion(loss=0.58), SETTINGS)
    assert failed(gates) == {"not_worse_than_champion"}


def test_the_champion_s_own_data_is_never_a_new_version() -> None:
    gates = check_promotion(evaluation(auc=0.9, fingerprint="old"), champion(), SETTINGS)
    assert failed(gates) == {"new_data"}
    assert "same data as champion v3" in next(g.detail for g in gates if not g.passed)
