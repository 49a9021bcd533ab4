"""Each training task imports only what it uses: extract joins on the recorded layout without
Feast; evaluate and register score the cached models (plain arrays) without Feast, MLflow's
pyfunc layer or skops: the seconds they used to cost."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from mlops_common.files import read_json
from mlops_testing import command_imports
from training_pipeline.run_files import RunFiles

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_evaluate_and_register_need_neither_feast_nor_pyfunc(
    applied_repo: Path, model_name: str, run_steps: Callable[..., None]
) -> None:
    run_steps("first", "extract", "validate", "prepare", "train", "evaluate", "register")
    run_steps("second", "extract", "validate", "prepare", "train")

    # register compares the candidate with the champion: both come from the model cache.
    for step in ("evaluate", "register"):
        code, heavy = command_imports("training_pipeline.cli", step, "--run-id", "second")
        assert code == 0, step
        assert not {"feast", "mlflow.pyfunc", "skops"} & set(heavy), (step, heavy)
    gates = read_json(RunFiles.of("second").gates)
    assert gates["champion_before"]["version"] == "1"
    # The same orders as the champion's: compared, logged, not registered.
    assert gates["promoted"] is False
    assert gates["registered_version"] is None


def test_extract_needs_no_feast(applied_repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The sorted engine (the default) joins on the layout the apply recorded."""
    monkeypatch.delenv("TRAIN_EXTRACT_ENGINE", raising=False)
    code, heavy = command_imports("training_pipeline.cli", "extract", "--run-id", "sorted")
    assert code == 0
    assert "feast" not in heavy, heavy
    assert RunFiles.of("sorted").training_set.is_file()
