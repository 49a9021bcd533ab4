"""The online service as a Bento (model_serving/bentofile.yaml): `make bento`'s build into a
throw-away BENTOML_HOME, `bentoml serve <tag>` of that Bento against a real Redis and MLflow
server, and POST /inference answered by the registered champion."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import httpx
import pytest
import yaml
from mlops_common.settings import project_root

from .conftest import OnlineEnv, bentoml_serve

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EXAMPLE = {"request_id": "bento-1", "driver_ids": [1001, 1002, 1003, 1004, 1005]}


def build_bento(home: Path) -> str:
    """`deployment/containers/bento.sh build` (what `make bento` runs) into HOME; its tag."""
    result = subprocess.run(
        ["bash", str(project_root() / "deployment/containers/bento.sh"), "build"],
        env={**os.environ, "BENTOML_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.strip().splitlines()[-1]


def test_the_bento_serves_inference(online_env: OnlineEnv, tmp_path: Path) -> None:
    tag = build_bento(tmp_path / "bentoml")
    name, version = tag.split(":")
    bento = tmp_path / "bentoml" / "bentos" / name / version
    # The Bento carries the lock's pins (no second resolution) and our packages as its source.
    requirements = (bento / "env/python/requirements.txt").read_text()
    lock = (project_root() / "uv.lock").read_text()
    assert "bentoml==1.4.39" in requirements
    assert 'name = "bentoml"\nversion = "1.4.39"' in lock
    assert {p.name for p in (bento / "src").iterdir()} >= {"model_serving", "mlops_common"}

    with bentoml_serve(tmp_path, target=tag) as (url, log):
        answer = httpx.post(f"{url}/inference", json=EXAMPLE, timeout=30)

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["model_version"] == online_env.champion.version
    assert body["best_driver_id"] in EXAMPLE["driver_ids"]
    # Served from the Bento's own source folder, not the project's.
    assert str(bento) in log.read_text() or tag in log.read_text()


def test_bentofile_serves_the_class_the_cli_serves() -> None:
    from online_service.cli import SERVICE

    bentofile = yaml.safe_load((project_root() / "model_serving/bentofile.yaml").read_text())
    assert bentofile["service"] == SERVICE
