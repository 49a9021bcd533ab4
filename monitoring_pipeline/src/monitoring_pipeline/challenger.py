"""Live judgement of a challenger: champion and challenger compared on the same served requests'
outcomes, and the decision to promote, retire or keep watching.

Input: one row per request that has an outcome, since the challenger's start: the outcome of
the driver the champion chose, the champion's score of that driver and the challenger's score
of the same driver (the prediction log holds both). Both models are judged on exactly the
same pairs, so the comparison is paired: most of the noise of a window (which drivers, which
hour) is shared and cancels in the difference.

Measures: each model's live ROC AUC and log loss; the AUC difference (challenger - champion)
with DeLong's paired standard error (DeLong, DeLong & Clarke-Pearson 1988, via the placement
values of Sun & Xu 2014), and the log-loss difference with the standard error of its
per-request mean.

The rule looks every hour at everything since the challenger's start. A fixed-sample 95 %
interval checked every hour would promote an equally good challenger far more often than 5 %
(a random walk crosses a fixed boundary eventually), so the interval the rule uses is an
asymptotic confidence sequence (Waudby-Smith, Arbour, Sinha, Kennedy & Ramdas, "Time-uniform
central limit theory and asymptotic confidence sequences", 2021/2024, Theorem 2.2, Robbins'
normal mixture): with probability 1 - alpha it holds the true difference at every look at
once, however often and whenever one looks. It replaces the fixed 1.96 of the standard error
by a multiplier that grows like sqrt(log n) (about 3.0 at 300 outcomes, 3.2 at 3,000 for alpha
0.05), tuned (rho) to be tightest at PROMOTION_MIN_SAMPLES. Chosen over an alpha-spending
plan (O'Brien-Fleming over K looks) because the looks here are neither fixed in number nor in
information: outcomes per hour vary with traffic, the hourly task may be late or run twice, a
challenger may run days; a confidence sequence needs no plan and stays valid when the
monitoring schedule changes. The price is a wider interval at any one look (3.0 vs 1.96
standard errors), i.e. more samples for the same effect; the statistical test in the suite
states how many.

Hand-written: the reference implementation of these boundaries (`confseq`) has no wheel for
this Python and its source build needs Boost; the boundary is one closed-form line here, and
DeLong's placements a few numpy lines over midranks (a test checks the AUCs against
scikit-learn's).

Decision at each look, in this order:
- with at least PROMOTION_MIN_SAMPLES outcomes of both classes:
  - `promote`: the sequence's lower bound of the AUC difference is above PROMOTION_MARGIN and
    the challenger's log loss is not shown worse (the upper bound of the champion-minus-
    challenger log-loss gain is not below zero): better ranking, probabilities not worse;
  - `retire` (not better): the upper bound of the AUC difference is below the margin, or the
    log loss is shown worse;
- `retire` (max duration): the challenger has run PROMOTION_MAX_HOURS without a decision (the
  last look may still promote: the sequence is valid at every look, that one included);
- `continue` otherwise.

Outcomes exist only for the drivers the champion chose: both models are judged on the
champion's choices, a population the champion selected (see the README on this bias).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np
from mlops_common.settings import PromotionSettings

Decision = Literal["promote", "retire", "continue"]
EPSILON = 1e-15  # scores clipped away from 0 and 1 in the log loss, as scikit-learn does


@dataclass(frozen=True)
class Comparison:
    """Champion and challenger on the same outcomes: each model's live figures, the paired
    differences (challenger - champion for AUC, champion - challenger for log loss: positive
    means the challenger is better in both) and their anytime-valid intervals."""

    samples: int
    positives: int
    champion_auc: float
    challenger_auc: float
    champion_log_loss: float
    challenger_log_loss: float
    auc_difference: float
    auc_standard_error: float
    auc_lower: float
    auc_upper: float
    log_loss_gain: float
    log_loss_lower: float
    log_loss_upper: float
    multiplier: float  # the sequence's width in standard errors at this look

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


@dataclass(frozen=True)
class Judgement:
    decision: Decision
    reason: str
    comparison: Comparison | None
    hours: float


def log_losses(outcome: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Each observation's log loss (natural log) of SCORE as the probability of OUTCOME=1."""
    p = np.clip(np.asarray(score, dtype=np.float64), EPSILON, 1 - EPSILON)
    return -(outcome * np.log(p) + (1 - outcome) * np.log1p(-p))


def midranks(values: np.ndarray) -> np.ndarray:
    """Ranks from 1, ties sharing the mean of their ranks (what scipy's `rankdata` gives)."""
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    return ((2 * ends - counts + 1) / 2)[inverse]


def placements(outcome: np.ndarray, score: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """AUC of SCORE and DeLong's placement values: for each positive, the share of negatives
    it outranks (ties count half); for each negative, the share of positives outranking it."""
    positive = outcome == 1
    pos, neg = score[positive], score[~positive]
    m, n = len(pos), len(neg)
    all_ranks = midranks(np.concatenate([pos, neg]))
    pos_within, neg_within = midranks(pos), midranks(neg)
    v10 = (all_ranks[:m] - pos_within) / n
    v01 = 1.0 - (all_ranks[m:] - neg_within) / m
    return float(v10.mean()), v10, v01


def sequence_multiplier(samples: int, alpha: float, tuned_for: int) -> float:
    """Half-width of the asymptotic confidence sequence in standard errors at SAMPLES:
    sqrt((t rho^2 + 1) / (t rho^2) * 2 log(sqrt(t rho^2 + 1) / alpha)), rho chosen so the
    sequence is tightest at TUNED_FOR samples (Waudby-Smith et al., eq. for rho*)."""
    log_term = -2 * math.log(alpha)
    rho2 = (log_term + math.log(log_term + 1)) / tuned_for
    trho2 = samples * rho2
    return math.sqrt((trho2 + 1) / trho2 * 2 * math.log(math.sqrt(trho2 + 1) / alpha))


def compare(
    outcome: np.ndarray,
    champion: np.ndarray,
    challenger: np.ndarray,
    *,
    alpha: float = 0.05,
    tuned_for: int = 300,
) -> Comparison | None:
    """Both models on the same OUTCOMES (0/1) with their scores; None when one class is
    missing (no AUC)."""
    outcome = np.asarray(outcome, dtype=np.int64)
    champion = np.asarray(champion, dtype=np.float64)
    challenger = np.asarray(challenger, dtype=np.float64)
    positives = int(outcome.sum())
    samples = len(outcome)
    if positives == 0 or positives == samples:
        return None
    auc_a, v10_a, v01_a = placements(outcome, champion)
    auc_b, v10_b, v01_b = placements(outcome, challenger)
    m, n = positives, samples - positives
    # DeLong: var(AUC_b - AUC_a) = var(V10_b - V10_a) / m + var(V01_b - V01_a) / n
    d10, d01 = v10_b - v10_a, v01_b - v01_a
    auc_var = (d10.var(ddof=1) if m > 1 else 0.0) / m + (d01.var(ddof=1) if n > 1 else 0.0) / n
    auc_se = math.sqrt(max(auc_var, 0.0))
    loss_a, loss_b = log_losses(outcome, champion), log_losses(outcome, challenger)
    gain = loss_a - loss_b
    gain_se = float(gain.std(ddof=1)) / math.sqrt(samples)
    k = sequence_multiplier(samples, alpha, tuned_for)
    difference, mean_gain = auc_b - auc_a, float(gain.mean())
    return Comparison(
        samples=samples,
        positives=positives,
        champion_auc=auc_a,
        challenger_auc=auc_b,
        champion_log_loss=float(loss_a.mean()),
        challenger_log_loss=float(loss_b.mean()),
        auc_difference=difference,
        auc_standard_error=auc_se,
        auc_lower=difference - k * auc_se,
        auc_upper=difference + k * auc_se,
        log_loss_gain=mean_gain,
        log_loss_lower=mean_gain - k * gain_se,
        log_loss_upper=mean_gain + k * gain_se,
        multiplier=k,
    )


def judge(
    outcome: np.ndarray,
    champion: np.ndarray,
    challenger: np.ndarray,
    hours: float,
    settings: PromotionSettings,
) -> Judgement:
    """The decision at one look: OUTCOME and both models' scores of every shadowed request
    with an outcome since the challenger started, HOURS ago."""
    comparison = (
        compare(outcome, champion, challenger, alpha=settings.alpha, tuned_for=settings.min_samples)
        if len(outcome)
        else None
    )
    c = comparison
    if c is not None and c.samples >= settings.min_samples:
        if c.auc_lower > settings.margin and c.log_loss_upper >= 0:
            return Judgement("promote", f"better by the margin{_evidence(c)}", c, hours)
        if c.auc_upper < settings.margin:
            return Judgement("retire", f"not better by the margin{_evidence(c)}", c, hours)
        if c.log_loss_upper < 0:
            return Judgement(
                "retire", f"log loss worse than the champion's{_evidence(c)}", c, hours
            )
    if hours >= settings.max_hours:
        return Judgement(
            "retire",
            f"no decision within PROMOTION_MAX_HOURS {settings.max_hours:g} "
            f"({len(outcome)} outcomes{_evidence(c)})",
            c,
            hours,
        )
    if c is None or c.samples < settings.min_samples:
        return Judgement(
            "continue",
            f"{len(outcome)} outcomes of both classes needed {settings.min_samples} "
            "(PROMOTION_MIN_SAMPLES)",
            c,
            hours,
        )
    return Judgement("continue", f"undecided{_evidence(c)}", c, hours)


def _evidence(c: Comparison | None) -> str:
    if c is None:
        return ""
    return (
        f": {c.samples} outcomes, ROC AUC champion {c.champion_auc:.4f} challenger "
        f"{c.challenger_auc:.4f}, difference {c.auc_difference:+.4f} in "
        f"[{c.auc_lower:+.4f}, {c.auc_upper:+.4f}] (anytime-valid), log loss champion "
        f"{c.champion_log_loss:.4f} challenger {c.challenger_log_loss:.4f}"
    )
