"""The classifier the registry holds: a fitted binary scikit-learn classifier whose `predict`
is the probability of the positive class (trip completed), one number per row.

Why a wrapper: MLflow's scikit-learn flavor serves `predict` (or, with `pyfunc_predict_fn`,
the whole `predict_proba` matrix, one column per class). Every consumer of the model here
(`mlops_common.models`, the online service, `mlflow.pyfunc.spark_udf` in batch) wants one
score per row, and the score must be the probability, not the 0/1 class. This class gives
`predict` that meaning, so the MLflow model, its pyfunc form and the cached linear form all
answer the same number. It lives in the shared library because every environment that
unpickles a model has it installed. Imported only to fit or unpickle a model.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin


class PositiveProbability(ClassifierMixin, BaseEstimator):
    """CLASSIFIER (binary, with `predict_proba`) whose `predict` is P(class 1) per row."""

    def __init__(self, classifier: Any) -> None:
        self.classifier = classifier

    def fit(self, features: Any, label: Any) -> PositiveProbability:
        self.classifier.fit(features, label)
        classes = np.asarray(self.classifier.classes_)
        if classes.size != 2:
            raise ValueError(f"a binary label is needed; the training label has classes {classes}")
        self.classes_ = classes
        if hasattr(self.classifier, "feature_names_in_"):
            self.feature_names_in_ = self.classifier.feature_names_in_
        self.n_features_in_ = self.classifier.n_features_in_
        return self

    def predict(self, features: Any) -> np.ndarray:
        """The probability of the positive class (`classes_[1]`), one float per row."""
        return np.asarray(self.classifier.predict_proba(features)[:, 1], dtype=np.float64)

    def predict_proba(self, features: Any) -> np.ndarray:
        return np.asarray(self.classifier.predict_proba(features))


SKOPS_TRUSTED_TYPES = [f"{PositiveProbability.__module__}.{PositiveProbability.__qualname__}"]
"""What skops must trust, beyond scikit-learn's own types, to load a model made with it."""
