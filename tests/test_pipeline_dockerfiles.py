"""Each pipeline folder's own Dockerfile: its workspace package, its CLI as entry point, and
nothing of the shared build steps (those are in deployment/containers/pipeline-base.Dockerfile).

Read as text: the images themselves are built and run by `tests/containers` (`-m containers`).
"""

from __future__ import annotations

import re
import tomllib

import pytest
import yaml
from mlops_common.settings import project_root

PIPELINES = ("data_pipeline", "training_pipeline", "model_serving", "monitoring_pipeline")


def instructions(pipeline: str) -> list[str]:
    """The Dockerfile's instructions, one string each (continuations joined, comments out)."""
    text = (project_root() / pipeline / "Dockerfile").read_text()
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    return [i.strip() for i in re.split(r"(?<!\\)\n", "\n".join(lines)) if i.strip()]


@pytest.mark.parametrize("pipeline", PIPELINES)
def test_dockerfile_installs_its_package_and_runs_its_cli(pipeline: str) -> None:
    project = tomllib.loads((project_root() / pipeline / "pyproject.toml").read_text())["project"]
    steps = instructions(pipeline)

    # Declared before the first FROM: the base's ONBUILD steps install this package.
    assert steps[0] == f"ARG PACKAGE={project['name']}"
    assert steps[1] == "FROM driver-ranking-pipeline-builder AS build"
    assert steps[2] == "FROM driver-ranking-pipeline-runtime"
    [entrypoint] = [s.removeprefix("ENTRYPOINT ") for s in steps if s.startswith("ENTRYPOINT ")]
    assert yaml.safe_load(entrypoint) == [pipeline.replace("_", "-")]
    assert pipeline.replace("_", "-") in project["scripts"]


@pytest.mark.parametrize("pipeline", PIPELINES)
def test_dockerfile_repeats_none_of_the_shared_build_steps(pipeline: str) -> None:
    steps = instructions(pipeline)

    assert not [s for s in steps if s.startswith(("RUN ", "USER ", "WORKDIR "))]
    assert [s for s in steps if s.startswith("COPY ")] == ["COPY --from=build /opt/app /opt/app"]
