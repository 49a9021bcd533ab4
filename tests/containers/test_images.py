"""The pipeline images: each from its folder's Dockerfile on the project's pipeline base
images, one base, the CLI as entry point, non-root, the feature repo inside."""

from __future__ import annotations

import json
from typing import Any

import pytest

PIPELINES = ("data_pipeline", "training_pipeline", "model_serving", "monitoring_pipeline")
CLIS = {p: p.replace("_", "-") for p in PIPELINES}


def inspect(engine: Any, image: str) -> dict[str, Any]:
    result = engine.podman("image", "inspect", image)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)[0]


@pytest.mark.parametrize("pipeline", PIPELINES)
def test_image_runs_its_cli_as_a_non_root_user(
    engine: Any, images: dict[str, str], pipeline: str
) -> None:
    config = inspect(engine, images[pipeline])["Config"]
    assert config["Entrypoint"] == [CLIS[pipeline]]
    assert config["User"] == "app"

    result = engine.podman("run", "--rm", images[pipeline], "--help")

    assert result.returncode == 0, result.stderr
    assert "Usage" in result.stdout


@pytest.mark.parametrize("pipeline", PIPELINES)
def test_image_finds_the_one_feature_repo_from_its_settings(
    engine: Any, images: dict[str, str], pipeline: str
) -> None:
    probe = (
        "from mlops_common.settings import get_feast_settings, get_path_settings;"
        "f = get_feast_settings(); p = get_path_settings();"
        "print(f.repo_path, (f.repo_path / 'features.py').is_file(), p.data_dir)"
    )
    result = engine.podman("run", "--rm", "--entrypoint", "python3", images[pipeline], "-c", probe)

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["/app/data_pipeline/feature_repo", "True", "/artifacts/data"]


@pytest.mark.parametrize("pipeline", PIPELINES)
def test_image_holds_no_platform_code_and_no_test_fixtures(
    engine: Any, images: dict[str, str], pipeline: str
) -> None:
    # Only the pipeline's distribution and its locked dependencies are installed.
    unwanted = ("mlops_platform", "mlops_testing", "mlops_airflow", "supervisor", "pytest")
    probe = (
        "import importlib.util, json;"
        f"print(json.dumps({{m: importlib.util.find_spec(m) is not None for m in {unwanted!r}}}))"
    )
    result = engine.podman("run", "--rm", "--entrypoint", "python3", images[pipeline], "-c", probe)

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == dict.fromkeys(unwanted, False)


def test_images_share_one_base_image(engine: Any, images: dict[str, str]) -> None:
    first_layers = {inspect(engine, image)["RootFS"]["Layers"][0] for image in images.values()}
    assert len(first_layers) == 1


def test_serving_image_declares_a_readiness_healthcheck(
    engine: Any, images: dict[str, str]
) -> None:
    data = inspect(engine, images["model_serving"])
    # podman reports it beside Config, Docker inside it
    healthcheck = data.get("Healthcheck") or data["Config"].get("Healthcheck") or {}
    assert "/readyz" in " ".join(healthcheck.get("Test", []))


@pytest.mark.parametrize("pipeline", PIPELINES)
def test_the_pipelines_own_dockerfile_builds_its_image(
    engine: Any, images: dict[str, str], pipeline: str
) -> None:
    # The documented command, nothing else (build_images.sh has built the pipeline bases):
    # it must give the image the project uses: the same configuration and the same layers
    # (from the layer cache here), all but the last, the workspace packages, which a source
    # changed since the image was built would rebuild.
    result = engine.podman(
        "build", "--format", "docker", "-q", "-f", f"{pipeline}/Dockerfile", ".", timeout=900
    )

    assert result.returncode == 0, result.stderr[-3000:]
    built = inspect(engine, result.stdout.strip().splitlines()[-1])
    used = inspect(engine, images[pipeline])
    assert built["RootFS"]["Layers"][:-1] == used["RootFS"]["Layers"][:-1]
    for key in ("Entrypoint", "User", "Env", "WorkingDir", "ExposedPorts"):
        assert built["Config"].get(key) == used["Config"].get(key), key
