"""The shared model loader: the linear form equals scikit-learn, the cache equals MLflow."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlops_common.models import LinearForm, cache_fitted, linear_form, load_model
from mlops_testing import MlflowServer, register_tiny_champion

HEAVY = ("mlflow", "sklearn", "scipy", "feast", "pandas")


def load_in_another_process(source: str, cache: Path, rows: np.ndarray) -> dict:
    """SOURCE loaded from CACHE in a fresh interpreter (an unreachable tracking server, so the
    cache alone must do): its kind, its scores of ROWS, and which HEAVY modules it imported."""
    script = (
        "import json, sys, numpy as np\n"
        "from pathlib import Path\n"
        "from mlops_common.models import load_model\n"
        f"model = load_model({source!r}, tracking_uri='http://127.0.0.1:9', "
        f"root=Path({str(cache)!r}))\n"
        f"rows = np.array({rows.tolist()!r})\n"
        "print(json.dumps({'kind': model.kind, 'scores': model.predict(rows).tolist(), "
        f"'heavy': sorted(m for m in {HEAVY!r} if m in sys.modules)}}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def test_linear_form_predicts_exactly_what_the_estimator_predicts(tmp_path: Path) -> None:
    from sklearn.linear_model import ElasticNet, Lasso, LinearRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 3)) * [1, 5, 40]
    y = x @ [0.3, -0.2, 0.01] + rng.normal(size=300)
    rows = rng.normal(size=(50, 3)) * 30
    for model in (
        make_pipeline(StandardScaler(), ElasticNet(alpha=0.01)),
        make_pipeline(StandardScaler(with_mean=False), LinearRegression()),
        Lasso(alpha=0.01),
        LinearRegression(),
    ):
        model.fit(x, y)
        form = linear_form(model)
        assert form is not None
        np.testing.assert_array_equal(form.predict(rows), model.predict(rows))
        form.save(tmp_path / "linear.npz")  # and the saved arrays predict the same, exactly
        np.testing.assert_array_equal(
            LinearForm.load(tmp_path / "linear.npz").predict(rows), model.predict(rows)
        )


def _logistic(rows: int = 2_000, l1_ratio: float = 0.5) -> tuple[object, np.ndarray]:
    """A fitted StandardScaler + elastic-net LogisticRegression (what training logs) and
    its inputs: three columns on very different scales, like the driver statistics."""
    from mlops_common.classifier import PositiveProbability
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(3)
    x = rng.normal(size=(rows, 3)) * [0.2, 0.1, 300] + [0.5, 0.8, 500]
    logit = 4 * (x[:, 0] - 0.5) + 2 * (x[:, 1] - 0.8) - 0.002 * (x[:, 2] - 500)
    y = (rng.uniform(size=rows) < 1 / (1 + np.exp(-logit))).astype(int)
    classifier = LogisticRegression(C=1.0, l1_ratio=l1_ratio, solver="saga", max_iter=10_000)
    model = PositiveProbability(Pipeline([("scale", StandardScaler()), ("clf", classifier)]))
    return model.fit(x, y), x


def test_the_logistic_form_equals_predict_proba_and_imports_no_sklearn(tmp_path: Path) -> None:
    model, x = _logistic()
    rows = np.vstack([x[:200], np.random.default_rng(4).normal(size=(50, 3)) * [1, 1, 3000]])
    expected = model.classifier.predict_proba(rows)[:, 1]  # type: ignore[attr-defined]
    form = linear_form(model)
    assert form is not None
    assert form.link == "logistic"
    np.testing.assert_allclose(form.predict(rows), expected, rtol=0, atol=1e-12)
    assert ((form.predict(rows) >= 0) & (form.predict(rows) <= 1)).all()

    entry = cache_fitted("models:/m-logistic", model, ["a", "b", "c"], root=tmp_path)
    assert entry is not None
    # Another process reads the cached arrays: the same probabilities, no scikit-learn import.
    answer = load_in_another_process("models:/m-logistic", tmp_path, rows)
    assert answer["heavy"] == []
    assert answer["kind"] == "linear"
    np.testing.assert_allclose(np.array(answer["scores"]), expected, rtol=0, atol=1e-12)


def test_a_logistic_form_that_disagrees_with_predict_proba_is_not_used(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from mlops_common import models

    model, _ = _logistic(rows=500)
    assert models.verified_linear_form(model, 3) is not None
    form = linear_form(model)
    assert form is not None
    # Off by a small intercept shift: the probe rows near the fitted inputs must catch it.
    shifted = LinearForm(form.means, form.scales, form.coef, form.intercept + 1e-6, "logistic")
    monkeypatch.setattr(models, "linear_form", lambda estimator: shifted)
    assert models.verified_linear_form(model, 3) is None


def test_non_linear_models_have_no_linear_form() -> None:
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.linear_model import ElasticNet
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import MinMaxScaler

    x, y = np.random.default_rng(0).normal(size=(50, 3)), np.arange(50.0)
    assert linear_form(RandomForestRegressor(n_estimators=2).fit(x, y)) is None
    assert linear_form(make_pipeline(MinMaxScaler(), ElasticNet()).fit(x, y)) is None


@pytest.mark.integration
def test_a_cached_model_is_the_same_model(mlflow_server: MlflowServer, tmp_path: Path) -> None:
    import mlflow
    import mlflow.pyfunc

    name = f"m_{uuid.uuid4().hex[:8]}"
    champion = register_tiny_champion(mlflow_server.uri, name)
    version = mlflow.MlflowClient(mlflow_server.uri).get_model_version(name, champion.version)
    cache = tmp_path / "cache"
    first = load_model(version.source, tracking_uri=mlflow_server.uri, root=cache)
    assert first.kind == "linear"
    assert first.features == champion.features
    entries = list(cache.iterdir())
    assert [p.name for p in entries] == [version.source.removeprefix("models:/")]
    assert not [p for p in cache.iterdir() if p.name.startswith(".staging")]

    rows = np.random.default_rng(1).uniform(0, 40, size=(20, 3))
    mlflow.set_tracking_uri(mlflow_server.uri)
    pyfunc = mlflow.pyfunc.load_model(f"models:/{name}/{champion.version}")
    expected = np.asarray(pyfunc.predict(pd.DataFrame(rows, columns=list(champion.features))))
    np.testing.assert_allclose(first.predict(rows), expected, rtol=1e-12, atol=0)

    # A second process loads it from the cache alone: no MLflow, no scikit-learn, same scores.
    answer = load_in_another_process(version.source, cache, rows)
    assert answer["heavy"] == []
    np.testing.assert_array_equal(np.array(answer["scores"]), first.predict(rows))


def test_training_primes_the_cache_with_the_fitted_estimator(tmp_path: Path) -> None:
    from sklearn.linear_model import ElasticNet
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x = np.random.default_rng(2).normal(size=(100, 2))
    model = make_pipeline(StandardScaler(), ElasticNet(alpha=0.01)).fit(x, x @ [1.0, -1.0])
    entry = cache_fitted("models:/m-abc", model, ["a", "b"], root=tmp_path)
    assert entry is not None
    # Nothing to download: an unreachable tracking server is never asked.
    loaded = load_model("models:/m-abc", tracking_uri="http://127.0.0.1:9", root=tmp_path)
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    assert loaded.features == ("a", "b")
