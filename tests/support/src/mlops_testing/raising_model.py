"""A model that loads but raises on every prediction: fault injection for the challenger.

In its own installed module (imported only by `register_raising_model`, it imports MLflow) so
that the online service's process can unpickle it by reference.
"""

from __future__ import annotations

from mlflow.pyfunc import PythonModel


class RaisingModel(PythonModel):
    # Unannotated: MLflow would derive an input schema from the hints (the signature is given).
    def predict(self, context, model_input, params=None):
        raise RuntimeError("this model raises on every prediction")
