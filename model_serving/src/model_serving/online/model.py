"""The champion model in memory: loaded once, re-checked periodically, swapped atomically.

The registry alias (`models:/<name>@champion`) is the hand-off from training. The service
resolves it to a concrete version, loads that version once and predicts with the estimator
directly on a float64 array in the signature's column order: the same numbers as the pyfunc
model (a test asserts it) without building a DataFrame per request. A background thread
re-reads the alias; a new version is loaded off the request path and published by one
reference assignment, so a request sees either the old model or the new one, never a mix.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)


class ModelUnavailableError(RuntimeError):
    """The champion could not be resolved or loaded from MLflow."""


@dataclass(frozen=True)
class LoadedModel:
    """One registered model version, ready to score rows of the feature source's columns."""

    name: str
    version: str
    feature_names: tuple[str, ...]
    predict_array: Callable[[np.ndarray], np.ndarray]
    column_order: tuple[int, ...]

    def predict(self, rows: np.ndarray) -> np.ndarray:
        """Scores of ROWS, whose columns follow the feature source's order."""
        if rows.shape[0] == 0:
            return np.empty(0, dtype=np.float64)
        return np.asarray(self.predict_array(rows[:, self.column_order]), dtype=np.float64)


def _sklearn_predictor(
    estimator: object, names: Sequence[str]
) -> Callable[[np.ndarray], np.ndarray]:
    """A predictor on a plain array for ESTIMATOR, fitted on columns NAMES in that order.

    The compiled numpy form when the pipeline is linear (checked against the estimator's own
    predict on probe rows before use), else the estimator's `predict`.
    """
    from model_serving.online.fast_predict import compile_linear

    fitted = getattr(estimator, "feature_names_in_", None)
    if fitted is not None and tuple(fitted) != tuple(names):
        raise ModelUnavailableError(
            f"the model was fitted on columns {list(fitted)} but its signature lists "
            f"{list(names)}; re-register it with a matching signature"
        )
    # The estimator was fitted on a DataFrame; an array in the same column order is the same
    # input without names, which scikit-learn would warn about on every call. A process-wide
    # filter (catch_warnings per call is neither cheap nor thread-safe).
    warnings.filterwarnings(
        "ignore", message="X does not have valid feature names", category=UserWarning
    )
    predict = estimator.predict  # type: ignore[attr-defined]
    compiled = compile_linear(estimator)
    if compiled is not None:
        probe = np.random.default_rng(0).normal(size=(64, len(names))) * 10
        if np.allclose(compiled(probe), predict(probe), rtol=1e-9, atol=1e-12):
            return compiled
        logger.warning("compiled linear predict disagrees with the estimator; not used")
    return predict


def _pyfunc_predictor(model_dir: str, names: Sequence[str]) -> Callable[[np.ndarray], np.ndarray]:
    """Fallback for a model without the scikit-learn flavor: pyfunc on a DataFrame."""
    import mlflow.pyfunc
    import pandas as pd

    model = mlflow.pyfunc.load_model(model_dir)

    def predict_array(rows: np.ndarray) -> np.ndarray:
        return np.asarray(model.predict(pd.DataFrame(rows, columns=list(names))))

    return predict_array


def load_version(
    tracking_uri: str, name: str, version: str, source_features: Sequence[str]
) -> LoadedModel:
    """Download and load version VERSION of NAME, mapping SOURCE_FEATURES to its signature."""
    import mlflow.artifacts
    from mlflow.models import Model

    with tempfile.TemporaryDirectory(prefix="champion-") as tmp:
        model_dir = mlflow.artifacts.download_artifacts(
            artifact_uri=f"models:/{name}/{version}", dst_path=tmp, tracking_uri=tracking_uri
        )
        meta = Model.load(str(Path(model_dir) / "MLmodel"))
        signature = meta.signature
        if signature is None or signature.inputs is None:
            raise ModelUnavailableError(
                f"model {name} v{version} has no input signature; log it with one"
            )
        names = tuple(signature.inputs.input_names())
        missing = sorted(set(names) - set(source_features))
        if missing:
            raise ModelUnavailableError(
                f"model {name} v{version} needs features {missing} that the feature service "
                f"does not serve ({list(source_features)})"
            )
        order = tuple(list(source_features).index(n) for n in names)
        if "sklearn" in meta.flavors:
            import mlflow.sklearn

            predictor = _sklearn_predictor(mlflow.sklearn.load_model(model_dir), names)
        else:
            predictor = _pyfunc_predictor(model_dir, names)
    return LoadedModel(name, version, names, predictor, order)


@dataclass
class ModelStatus:
    """What readiness reports about the registry."""

    last_check_at: datetime | None = None
    last_check_error: str | None = None
    last_success_at: datetime | None = None
    checking_since: datetime | None = None  # set while a re-check is running

    def report(
        self, now: datetime, refresh_seconds: float, timeout_seconds: float
    ) -> dict[str, object]:
        """The registry part of `/readyz`: the last check, the age of the last successful one,
        and a check running past its timeout reported as an error (MLflow not answering)."""
        error = self.last_check_error
        running = (now - self.checking_since).total_seconds() if self.checking_since else None
        if running is not None and running > timeout_seconds:
            error = (
                f"registry check running for {running:.0f} s, past its {timeout_seconds:.0f} s "
                "timeout: MLflow does not answer"
            )
        age = (now - self.last_success_at).total_seconds() if self.last_success_at else None
        return {
            "last_check_at": self.last_check_at,
            "last_check_error": error,
            "last_success_at": self.last_success_at,
            "last_success_age_seconds": round(age, 1) if age is not None else None,
            "check_running_seconds": round(running, 1) if running is not None else None,
            "refresh_seconds": refresh_seconds,
        }


@dataclass
class ChampionHolder:
    """Holds the current champion and keeps it in step with the registry alias."""

    tracking_uri: str
    name: str
    alias: str
    source_features: tuple[str, ...]
    refresh_seconds: float
    request_timeout_seconds: int = 10
    on_change: Callable[[LoadedModel | None, LoadedModel], None] | None = None
    current: LoadedModel | None = None
    status: ModelStatus = field(default_factory=ModelStatus)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __post_init__(self) -> None:
        # MLflow's HTTP client retries 7 times with backoff by default (minutes on a dead
        # server); the service has its own retry policy, so make each call short and single.
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", str(self.request_timeout_seconds))

    def resolve_version(self) -> str:
        """The version the alias points at now (one registry call)."""
        from mlflow import MlflowClient

        client = MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)
        return str(client.get_model_version_by_alias(self.name, self.alias).version)

    def refresh(self) -> bool:
        """Re-check the alias; load and swap in a new version. True when the model changed.

        Failures are recorded in `status` (readiness shows them) and the current model keeps
        serving.
        """
        try:
            self.status.checking_since = datetime.now(UTC)
            try:
                version = self.resolve_version()
            finally:
                self.status.checking_since = None
            changed = self.current is None or self.current.version != version
            if changed:
                loaded = load_version(self.tracking_uri, self.name, version, self.source_features)
                previous, self.current = self.current, loaded
                logger.info(
                    "serving %s v%s (was %s)",
                    self.name,
                    version,
                    f"v{previous.version}" if previous else "none",
                )
                if self.on_change is not None:
                    self.on_change(previous, loaded)
        except Exception as exc:
            self.status.last_check_error = f"{type(exc).__name__}: {exc}"
            self.status.last_check_at = datetime.now(UTC)
            if self.current is not None:
                logger.warning(
                    "champion re-check failed, still serving %s v%s: %s",
                    self.name,
                    self.current.version,
                    exc,
                )
            raise
        self.status.last_check_error = None
        self.status.last_check_at = self.status.last_success_at = datetime.now(UTC)
        return changed

    def load_with_retries(self, timeout_seconds: float) -> LoadedModel:
        """Load the champion at start-up, retrying with backoff for up to TIMEOUT_SECONDS."""
        deadline = time.monotonic() + timeout_seconds
        delay = 0.5
        while True:
            try:
                self.refresh()
                assert self.current is not None
                return self.current
            except Exception as exc:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise ModelUnavailableError(
                        f"could not load {self.name}@{self.alias} from MLflow at "
                        f"{self.tracking_uri} within {timeout_seconds:.0f} s ({exc}). Start the "
                        "tracking server (`make up`) or set MLFLOW_TRACKING_URI, and make sure "
                        f"a version carries the alias `{self.alias}` (run training)."
                    ) from exc
                logger.warning(
                    "champion not loadable yet (%s); retrying in %.1f s", exc, min(delay, remaining)
                )
                time.sleep(min(delay, remaining))
                delay = min(delay * 2, 10.0)

    def start_refreshing(self) -> None:
        """Re-check the alias every `refresh_seconds` in a daemon thread until `stop`."""
        if self._thread is not None:
            return

        def loop() -> None:
            while not self._stop.wait(self.refresh_seconds):
                with contextlib.suppress(Exception):
                    self.refresh()

        self._thread = threading.Thread(target=loop, name="champion-refresh", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
