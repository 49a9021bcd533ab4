"""`make status` names the champion and the challenger from the real registry."""

from __future__ import annotations

import uuid

import mlflow
import pytest
from mlops_common.settings import reset_settings_cache
from mlops_platform.status import registry_line
from mlops_testing import MlflowServer, register_tiny_champion

pytestmark = pytest.mark.integration


def test_status_names_champion_and_challenger(
    mlflow_env: MlflowServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = f"driver_ranking_{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("MLFLOW_MODEL_NAME", name)
    reset_settings_cache()
    assert registry_line() == f"{name} champion none (run training_pipeline), no challenger"

    champion = register_tiny_champion(mlflow_env.uri, name)
    assert registry_line() == f"{name} champion v{champion.version}, no challenger"

    challenger = register_tiny_champion(mlflow_env.uri, name, alias="challenger", seed=1)
    mlflow.MlflowClient(mlflow_env.uri).set_model_version_tag(
        name, challenger.version, "challenger_since", "2026-12-04T10:00:00+00:00"
    )
    assert registry_line() == (
        f"{name} champion v{champion.version}, challenger v{challenger.version} "
        "(in shadow since 2026-12-04T10:00:00+00:00)"
    )

    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")  # nothing listens there
    reset_settings_cache()
    assert registry_line().startswith("registry unavailable (MLflow at http://127.0.0.1:9")
