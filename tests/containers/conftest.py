"""Fixtures of the container tests: podman's API socket, the built images, the platform.

Every test here is marked `containers` and runs only when selected (`pytest -m containers`);
it skips (with the reason) where podman is missing or the images are not built.
`deployment/containers/ci.sh` builds the images and runs these tests.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mlops_common.settings import project_root

PIPELINES = ("data_pipeline", "training_pipeline", "model_serving", "monitoring_pipeline")
SCRIPTS = Path("deployment") / "containers"
Completed = subprocess.CompletedProcess[str]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "containers: builds or runs the pipeline images with podman (slow)"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test here; run them only when asked for (`-m containers`): they take about
    10 minutes (images built) and replace the containers platform's and the compose stack's
    network and volumes."""
    here = Path(__file__).parent
    asked = "containers" in (config.getoption("markexpr") or "")
    opt_in = pytest.mark.skip(
        reason="container tests run with `pytest -m containers` (deployment/containers/ci.sh)"
    )
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.containers)
            item.add_marker(pytest.mark.slow)
            item.add_marker(pytest.mark.integration)
            if not asked:
                item.add_marker(opt_in)


class Engine:
    """podman and the deployment/containers scripts, run from the repository root."""

    def __init__(self) -> None:
        self.root = project_root()
        self.env = {**os.environ, "CONTAINERS_CONF": str(self.root / SCRIPTS / "containers.conf")}

    def script(self, name: str, *args: str, timeout: float = 1800) -> Completed:
        """Run deployment/containers/NAME with ARGS."""
        return subprocess.run(
            ["bash", str(self.root / SCRIPTS / name), *args],
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def podman(self, *args: str, timeout: float = 300) -> Completed:
        """Run the podman CLI with the project's containers.conf, from the repository root."""
        return subprocess.run(
            ["podman", *args],
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            env=self.env,
        )

    def batch_summary(self) -> dict[str, Any]:
        """The batch run's summary.json on the artifact volume, read from inside a container
        of the serving image (the volume belongs to the container engine, not this host)."""
        read = (
            "import glob, json;"
            "[path] = glob.glob('/artifacts/runs/model_serving/*/batch/summary.json');"
            "print(open(path).read())"
        )
        result = self.podman(
            "run", "--rm", "-v", "driver-ranking-artifacts:/artifacts", "--entrypoint", "python3",
            self.image("model_serving"), "-c", read,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        return dict(json.loads(result.stdout))

    @staticmethod
    def image(pipeline: str) -> str:
        """The image name the operator factory uses for PIPELINE (default prefix and tag)."""
        return f"driver-ranking-{pipeline.replace('_', '-')}:latest"


@pytest.fixture(scope="session")
def engine() -> Engine:
    """podman and the container scripts; skips the test where podman is not installed."""
    if shutil.which("podman") is None:
        pytest.skip("podman is not installed: run deployment/containers/podman.sh install")
    return Engine()


@pytest.fixture(scope="session")
def podman_service(engine: Engine) -> Iterator[str]:
    """The Docker-compatible API socket of podman (started if needed); yields its URL."""
    started = engine.script("podman.sh", "status").returncode != 0
    result = engine.script("podman.sh", "start")
    assert result.returncode == 0, result.stderr
    url = result.stdout.strip().split()[-1]
    yield url
    if started:
        engine.script("podman.sh", "stop")


@pytest.fixture(scope="session")
def images(engine: Engine, podman_service: str) -> dict[str, str]:
    """The pipeline images; skips when they are not built (ci.sh builds them)."""
    missing = [p for p in PIPELINES if engine.podman("image", "exists", engine.image(p)).returncode]
    if missing:
        pytest.skip(
            f"images not built for {', '.join(missing)}: run deployment/containers/build_images.sh"
        )
    return {p: engine.image(p) for p in PIPELINES}


@pytest.fixture(scope="session")
def platform(engine: Engine, images: dict[str, str]) -> Iterator[None]:
    """Redis and MLflow containers on the task network, fresh volumes; removed afterwards."""
    if engine.podman("image", "exists", "driver-ranking-redis:latest").returncode:
        pytest.skip("the Redis image is not built: run deployment/containers/build_images.sh redis")
    engine.script("platform.sh", "purge")
    result = engine.script("platform.sh", "up", timeout=300)
    assert result.returncode == 0, result.stderr
    yield
    engine.script("platform.sh", "purge")
