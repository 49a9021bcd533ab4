"""Registered models loaded for scoring, once per model and cached on local disk.

Batch predict, evaluate, register and the online service all score with the same loader.
Loading a scikit-learn model through MLflow costs 9-20 s here: `import mlflow` (2-3 s), a
download, and skops' type scan at unpickling (about 8 s), for a model whose prediction is a
few numpy operations. So the first load of a logged model (`models:/m-<id>`, which a registered
version's `source` names) downloads it once into the cache directory and, when the model is
linear (StandardScaler steps + a linear regressor, or + a binary LogisticRegression wrapped in
`mlops_common.classifier.PositiveProbability`, what training produces: its score is the
probability of completion), stores its fitted parameters as plain arrays (`linear.npz`, no
pickle). Later loads of that model read the arrays and import only numpy. Other models keep
their downloaded MLflow directory in the cache and load it with MLflow (no second download).
Logged models are immutable, so the model id is a safe cache key.

The linear form is the same arithmetic scikit-learn runs, in the same order (subtract mean,
divide by scale, dot + intercept, then the sigmoid for a logistic regression); it is used only
after it matched the estimator's own `predict` on probe rows, and a test asserts it equals the
MLflow pyfunc model's predictions.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np

from mlops_common.errors import UserError
from mlops_common.paths import safe_name
from mlops_common.settings import get_path_settings

logger = logging.getLogger(__name__)

Predictor = Callable[[np.ndarray], np.ndarray]
_LINEAR = "linear.npz"
_META = "model.json"
_MLFLOW_DIR = "mlflow-model"


class ModelLoadError(RuntimeError):
    """The model cannot be scored by this project (no signature, unsupported shape)."""


@dataclass(frozen=True)
class ScoringModel:
    """A model a task or the service scores with: the project's one type for it.

    A registered version (`name`, `version`, the training `run_id`) or a logged model not
    registered yet (training's candidate: `version` None), identified by its logged model
    `model_id` (`models:/m-<id>`; immutable, so the local cache's key). Resolving an alias
    (`mlops_common.champion`) gives one that is not loaded yet: one registry call, no
    download. `load_model` gives it loaded: its input `features` in the order `predict` takes
    them, and `predict` on float64 rows in that order.
    """

    name: str
    version: str | None
    model_id: str
    run_id: str | None = None
    features: tuple[str, ...] = ()
    predict_array: Predictor | None = field(default=None, repr=False, compare=False)
    kind: str | None = None  # once loaded: "linear" (cached arrays), "sklearn" or "pyfunc"
    # The registered version's tags when resolved from an alias (e.g. `challenger_since`).
    tags: dict[str, str] = field(default_factory=dict, repr=False, compare=False)

    @property
    def label(self) -> str:
        """How messages name it: `<name> v<version>`, or the logged model."""
        return f"{self.name} v{self.version}" if self.version else self.model_id

    def predict(self, rows: np.ndarray) -> np.ndarray:
        """Scores of ROWS (n x len(features)), as float64."""
        if self.predict_array is None:
            raise ModelLoadError(f"{self.label} is not loaded; load it with load_model first")
        if rows.shape[0] == 0:
            return np.empty(0, dtype=np.float64)
        return np.asarray(self.predict_array(rows), dtype=np.float64).ravel()

    def missing_features(self, columns: Sequence[str]) -> list[str]:
        """The features this model needs that COLUMNS (what a source serves) lack."""
        available = set(columns)
        return [name for name in self.features if name not in available]

    def require_features(self, columns: Sequence[str]) -> None:
        """A UserError when COLUMNS (what the feature service served) lack one of its features."""
        if missing := self.missing_features(columns):
            raise UserError(
                f"{self.label} needs feature {missing[0]!r}, which the feature service does not "
                f"serve (it serves {list(columns)}); retrain on the current feature service"
            )

    def taking_columns(self, columns: Sequence[str]) -> ScoringModel:
        """This model scoring rows whose columns follow COLUMNS (all of its features among
        them, any order): the online reader's rows, without a copy into the model's order."""
        if tuple(columns) == self.features:
            return self
        if missing := self.missing_features(columns):
            raise ModelLoadError(f"{self.label} needs features {missing} not in {list(columns)}")
        predict = self.predict_array
        if predict is None:
            raise ModelLoadError(f"{self.label} is not loaded; load it with load_model first")
        order = np.array([list(columns).index(name) for name in self.features])
        return replace(
            self, features=tuple(columns), predict_array=lambda rows: predict(rows[:, order])
        )


def cache_dir() -> Path:
    path = get_path_settings().model_cache_dir
    assert path is not None  # set in PathSettings.model_post_init
    return path


# --- the linear form ------------------------------------------------------------------------


Link = Literal["identity", "logistic"]


@dataclass(frozen=True)
class LinearForm:
    """A fitted linear pipeline's parameters: standardisation steps, then coef and intercept,
    then the link: `identity` (a regressor's prediction) or `logistic` (a binary logistic
    regression's probability of class 1, the sigmoid of the linear score)."""

    means: tuple[np.ndarray | None, ...]
    scales: tuple[np.ndarray | None, ...]
    coef: np.ndarray
    intercept: float
    link: Link = "identity"

    def predict(self, rows: np.ndarray) -> np.ndarray:
        values = np.array(rows, dtype=np.float64)  # a copy: the steps below work in place
        for mean, scale in zip(self.means, self.scales, strict=True):
            if mean is not None:
                values -= mean
            if scale is not None:
                values /= scale
        linear = values @ self.coef + self.intercept
        if self.link == "logistic":
            # scipy's expit, what LogisticRegression.predict_proba applies, without scipy:
            # 1 / (1 + exp(-z)) overflows harmlessly to 0 for very negative z.
            with np.errstate(over="ignore"):
                return 1.0 / (1.0 + np.exp(-linear))
        return linear

    def save(self, path: Path) -> None:
        arrays: dict[str, np.ndarray] = {"coef": self.coef, "intercept": np.array(self.intercept)}
        for index, (mean, scale) in enumerate(zip(self.means, self.scales, strict=True)):
            if mean is not None:
                arrays[f"mean_{index}"] = mean
            if scale is not None:
                arrays[f"scale_{index}"] = scale
        arrays["steps"] = np.array(len(self.means))
        arrays["link"] = np.array(self.link)  # a unicode array: loads without pickle
        with path.open("wb") as out:
            np.savez(out, **arrays)  # type: ignore[arg-type]  # numpy's stub types the kwargs oddly

    @classmethod
    def load(cls, path: Path) -> LinearForm:
        with np.load(path, allow_pickle=False) as data:
            steps = int(data["steps"])
            means = tuple(data.get(f"mean_{i}") for i in range(steps))
            scales = tuple(data.get(f"scale_{i}") for i in range(steps))
            # Entries cached before the logistic link existed hold regressors: identity.
            link = str(data["link"]) if "link" in data else "identity"
            if link not in ("identity", "logistic"):
                raise ModelLoadError(f"{path}: unknown link {link!r}; delete the cache entry")
            return cls(
                means,
                scales,
                np.array(data["coef"]),
                float(data["intercept"]),
                "logistic" if link == "logistic" else "identity",
            )


def linear_form(estimator: object) -> LinearForm | None:
    """ESTIMATOR's parameters when it is StandardScaler steps + a plain linear regressor, or
    the same with a binary LogisticRegression (scored as P(class 1), inside
    `mlops_common.classifier.PositiveProbability`), else None (any other step or final
    estimator keeps scikit-learn's own predict)."""
    from sklearn.linear_model import LogisticRegression, _base
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    from mlops_common.classifier import PositiveProbability

    link: Link = "identity"
    if type(estimator) is PositiveProbability:
        estimator = estimator.classifier
        link = "logistic"
    steps = (
        [step for _, step in estimator.steps] if isinstance(estimator, Pipeline) else [estimator]
    )
    means: list[np.ndarray | None] = []
    scales: list[np.ndarray | None] = []
    for step in steps[:-1]:
        if step is None or step == "passthrough":
            continue
        if type(step) is not StandardScaler:  # exactly: a subclass may transform differently
            return None
        scaler: Any = step  # scikit-learn has no type information
        means.append(np.asarray(scaler.mean_, dtype=np.float64) if scaler.with_mean else None)
        scales.append(np.asarray(scaler.scale_, dtype=np.float64) if scaler.with_std else None)
    final: Any = steps[-1]
    if link == "logistic":
        # Exactly LogisticRegression with two classes: predict_proba[:, 1] is then
        # expit(decision_function), the decision function being X @ coef_[0] + intercept_[0].
        if type(final) is not LogisticRegression or np.size(final.classes_) != 2:
            return None
        coef = np.asarray(final.coef_, dtype=np.float64).reshape(-1)
        intercept = float(np.asarray(final.intercept_).reshape(-1)[0])
        return LinearForm(tuple(means), tuple(scales), coef, intercept, "logistic")
    linear_predicts = {
        getattr(_base, cls).predict
        for cls in ("LinearModel", "MultiOutputLinearModel")
        if hasattr(_base, cls)
    }
    if (
        not isinstance(final, _base.LinearModel)
        or type(final).predict not in linear_predicts
        or np.ndim(final.coef_) != 1
    ):
        return None
    coef = np.asarray(final.coef_, dtype=np.float64)
    return LinearForm(tuple(means), tuple(scales), coef, float(final.intercept_))


def verified_linear_form(estimator: object, n_inputs: int) -> LinearForm | None:
    """`linear_form`, used only when it matches the estimator's predict on probe rows (for a
    classifier wrapped in PositiveProbability, predict is predict_proba[:, 1])."""
    form = linear_form(estimator)
    if form is None:
        return None
    # Probe rows around the fitted inputs (the first scaler's mean and scale), one and ten
    # scales wide: far rows alone would sit on a sigmoid's flat ends, where any coefficients
    # give 0 or 1, and hide a wrong form.
    centre = next((m for m in form.means if m is not None), np.zeros(n_inputs))
    spread = next((s for s in form.scales if s is not None), np.ones(n_inputs))
    noise = np.random.default_rng(0).normal(size=(128, n_inputs))
    noise[64:] *= 10
    probe = centre + spread * noise
    expected = _quiet_predict(estimator.predict, probe)  # type: ignore[attr-defined]
    if np.allclose(form.predict(probe), expected, rtol=1e-9, atol=1e-12):
        return form
    logger.warning("the linear form disagrees with the estimator's predict; not used")
    return None


def _quiet_predict(predict: Predictor, rows: np.ndarray) -> np.ndarray:
    """PREDICT on a plain array. The estimator was fitted on a DataFrame; an array in the same
    column order is the same input without names, which scikit-learn would warn about on every
    call: a process-wide filter (catch_warnings per call is neither cheap nor thread-safe)."""
    import warnings

    warnings.filterwarnings(
        "ignore", message="X does not have valid feature names", category=UserWarning
    )
    return np.asarray(predict(rows), dtype=np.float64)


def sklearn_predictor(estimator: object, names: Sequence[str]) -> Predictor:
    """A predictor on plain arrays for a fitted scikit-learn ESTIMATOR over columns NAMES."""
    fitted = getattr(estimator, "feature_names_in_", None)
    if fitted is not None and tuple(fitted) != tuple(names):
        raise ModelLoadError(
            f"the model was fitted on columns {list(fitted)} but its signature lists "
            f"{list(names)}; re-register it with a matching signature"
        )
    form = verified_linear_form(estimator, len(names))
    if form is not None:
        return form.predict
    predict = estimator.predict  # type: ignore[attr-defined]
    return lambda rows: _quiet_predict(predict, rows)


# --- the cache ------------------------------------------------------------------------------


def _entry(source: str, root: Path) -> Path:
    return root / safe_name(source.removeprefix("models:/"))


def _publish(staging: Path, entry: Path) -> None:
    """Move a complete STAGING directory to ENTRY (a concurrent loader may have won)."""
    try:
        os.replace(staging, entry)
    except OSError:
        if not (entry / _META).is_file():
            raise
        shutil.rmtree(staging, ignore_errors=True)


def cache_fitted(
    source: str, estimator: object, input_names: Sequence[str], root: Path | None = None
) -> Path | None:
    """Store a just-logged model's linear form under SOURCE (training primes the cache with
    the estimator it fitted, so evaluate and register load arrays). None when not linear."""
    root = root or cache_dir()
    entry = _entry(source, root)
    form = verified_linear_form(estimator, len(input_names))
    if form is None or (entry / _META).is_file():
        return None
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=root))
    form.save(staging / _LINEAR)
    meta = {"source": source, "input_names": list(input_names), "kind": "linear"}
    (staging / _META).write_text(json.dumps(meta, indent=2) + "\n")
    _publish(staging, entry)
    return entry


def _download(source: str, tracking_uri: str, root: Path) -> Path:
    """Download SOURCE once into the cache and record its signature and linear form."""
    import mlflow.artifacts
    from mlflow.models import Model

    from mlops_common.mlflow_plugins import skip_feast_request_headers

    skip_feast_request_headers()
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=root))
    try:
        model_dir = Path(
            mlflow.artifacts.download_artifacts(
                artifact_uri=source, dst_path=str(staging / _MLFLOW_DIR), tracking_uri=tracking_uri
            )
        )
        meta_model = Model.load(str(model_dir / "MLmodel"))
        signature = meta_model.signature
        if signature is None or signature.inputs is None:
            raise ModelLoadError(f"model {source} has no input signature; log it with one")
        names = list(signature.inputs.input_names())
        kind = "sklearn" if "sklearn" in meta_model.flavors else "pyfunc"
        if kind == "sklearn":
            import mlflow.sklearn

            form = verified_linear_form(mlflow.sklearn.load_model(str(model_dir)), len(names))
            if form is not None:
                form.save(staging / _LINEAR)
                kind = "linear"
        meta = {
            "source": source,
            "input_names": names,
            "kind": kind,
            "model_dir": str(model_dir.relative_to(staging)),
        }
        (staging / _META).write_text(json.dumps(meta, indent=2) + "\n")
        entry = _entry(source, root)
        _publish(staging, entry)
        return entry
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def load_model(
    model: ScoringModel | str, *, tracking_uri: str, root: Path | None = None
) -> ScoringModel:
    """MODEL ready to score (a `ScoringModel` from the registry, or a logged model's id
    `models:/m-<id>`), from the local cache when it holds it, else downloaded once."""
    if isinstance(model, str):
        model = ScoringModel(name="", version=None, model_id=model)
    root = root or cache_dir()
    entry = _entry(model.model_id, root)
    if not (entry / _META).is_file():
        entry = _download(model.model_id, tracking_uri, root)
    meta = json.loads((entry / _META).read_text())
    names = tuple(meta["input_names"])
    predict: Predictor
    if meta["kind"] == "linear":
        predict = LinearForm.load(entry / _LINEAR).predict
    elif meta["kind"] == "sklearn":
        import mlflow.sklearn

        predict = sklearn_predictor(
            mlflow.sklearn.load_model(str(entry / meta["model_dir"])), names
        )
    else:
        predict = _pyfunc_predictor(entry / meta["model_dir"], names)
    logger.info("loaded %s (%s) from %s", model.label, meta["kind"], entry)
    return replace(model, features=names, predict_array=predict, kind=meta["kind"])


def _pyfunc_predictor(model_dir: Path, names: Sequence[str]) -> Predictor:
    """Fallback for a model without the scikit-learn flavor: pyfunc on a DataFrame."""
    import mlflow.pyfunc
    import pandas as pd

    model = mlflow.pyfunc.load_model(str(model_dir), suppress_warnings=True)

    def predict_array(rows: np.ndarray) -> np.ndarray:
        return np.asarray(model.predict(pd.DataFrame(rows, columns=list(names))))

    return predict_array
