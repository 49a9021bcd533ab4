"""Diagnostic plots logged with each trained model (PNG, rendered with matplotlib's Agg)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: tasks run without a display

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd


def _save(fig: plt.Figure, target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(target, format="png", dpi=100, metadata={"Software": None})
    plt.close(fig)
    return target


def calibration_plot(
    label: np.ndarray, predicted: np.ndarray, target: Path, bins: int = 10
) -> Path:
    """Observed completion rate per bin of predicted score (calibration), against the diagonal."""
    frame = pd.DataFrame({"label": label, "predicted": predicted})
    frame["bin"] = pd.qcut(frame["predicted"], q=bins, duplicates="drop")
    grouped = frame.groupby("bin", observed=True).agg(
        predicted=("predicted", "mean"), observed=("label", "mean"), n=("label", "size")
    )
    fig, ax = plt.subplots(figsize=(5, 5))
    low = float(min(grouped["predicted"].min(), grouped["observed"].min(), 0.0))
    high = float(max(grouped["predicted"].max(), grouped["observed"].max(), 1.0))
    ax.plot([low, high], [low, high], linestyle="--", color="grey", label="perfect calibration")
    ax.plot(grouped["predicted"], grouped["observed"], marker="o", label="model")
    ax.set_xlabel("mean predicted score (bin)")
    ax.set_ylabel("observed completion rate")
    ax.set_title(f"Predicted vs actual ({len(grouped)} quantile bins)")
    ax.legend()
    return _save(fig, target)


def residuals_plot(label: np.ndarray, predicted: np.ndarray, target: Path) -> Path:
    """Residuals (label - prediction) against the prediction, and their distribution."""
    residuals = np.asarray(label, dtype="float64") - np.asarray(predicted, dtype="float64")
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.scatter(predicted, residuals, s=4, alpha=0.3)
    left.axhline(0.0, color="grey", linestyle="--")
    left.set_xlabel("predicted score")
    left.set_ylabel("residual")
    left.set_title("Residuals vs prediction")
    right.hist(residuals, bins=40)
    right.set_xlabel("residual")
    right.set_title("Residual distribution")
    return _save(fig, target)


def coefficients_plot(coefficients: dict[str, float], target: Path) -> Path:
    """The linear model's coefficients on standardised features (effect of one sd)."""
    names = list(coefficients)
    values = [coefficients[name] for name in names]
    fig, ax = plt.subplots(figsize=(6, 0.6 * len(names) + 1.5))
    ax.barh(names, values, color=["tab:green" if v >= 0 else "tab:red" for v in values])
    ax.axvline(0.0, color="grey")
    ax.set_xlabel("log-odds per standard deviation")
    ax.set_title("Logistic regression coefficients (log-odds)")
    return _save(fig, target)


def reliability_plot(
    label: np.ndarray, probability: np.ndarray, target: Path, bins: int = 10
) -> Path:
    """Reliability diagram of the held-out split: observed completion rate per bin of equal
    width in predicted probability, against the diagonal, with how many rows each bin holds
    (a probability served to the dispatcher should mean what it says)."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    probability = np.asarray(probability, dtype="float64")
    which = np.clip(np.digitize(probability, edges[1:-1]), 0, bins - 1)
    frame = pd.DataFrame({"label": label, "probability": probability, "bin": which})
    grouped = frame.groupby("bin").agg(
        predicted=("probability", "mean"), observed=("label", "mean"), n=("label", "size")
    )
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(5, 6.5), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    top.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect calibration")
    top.plot(grouped["predicted"], grouped["observed"], marker="o", label="model (test split)")
    top.set_ylabel("observed completion rate")
    top.set_title(f"Reliability on the test split ({len(frame)} rows)")
    top.legend()
    bottom.bar((edges[:-1] + edges[1:])[grouped.index] / 2, grouped["n"], width=1 / bins * 0.9)
    bottom.set_xlabel("predicted probability of completion")
    bottom.set_ylabel("rows")
    return _save(fig, target)
