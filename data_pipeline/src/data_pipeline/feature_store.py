"""Access to the one Feast feature repo, configured from the project settings."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from feast import FeatureStore
from mlops_common.settings import get_feast_settings, get_redis_settings

logger = logging.getLogger(__name__)


def feast_environment() -> dict[str, str]:
    """The variables `feature_store.yaml` expands, derived from settings."""
    feast = get_feast_settings()
    return {
        "FEAST_REGISTRY_PATH": str(feast.registry_path),
        "FEAST_REDIS_CONNECTION": get_redis_settings().feast_connection_string,
    }


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """Set VALUES in os.environ for the block, then restore the previous state.

    Left behind, `FEAST_REGISTRY_PATH` would also feed `FeastSettings` (prefix `FEAST_`) and pin
    every later store of the process to the first registry (tests, long-lived workers).
    """
    previous = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def get_store() -> FeatureStore:
    """A FeatureStore on the project's repo, registry and Redis (from settings, not the shell)."""
    feast = get_feast_settings()
    assert feast.registry_path is not None
    feast.registry_path.parent.mkdir(parents=True, exist_ok=True)
    # feature_store.yaml is read (and its ${...} expanded) once, here.
    with _environment(feast_environment()):
        return FeatureStore(repo_path=str(feast.repo_path))


@contextlib.contextmanager
def _importable_repo(repo_path: Path) -> Iterator[None]:
    """Let Feast import the repo's modules fresh, as `feast apply` does from the repo folder.

    Feast imports `features.py` as the top-level module `features`: put the repo on sys.path,
    and drop any cached copy so the definitions see the current settings (paths), then restore
    the working directory Feast changes.
    """
    modules = {path.stem for path in repo_path.glob("*.py")}
    cwd = os.getcwd()
    sys.path.insert(0, str(repo_path))
    for name in modules:
        sys.modules.pop(name, None)
    try:
        yield
    finally:
        os.chdir(cwd)
        with contextlib.suppress(ValueError):
            sys.path.remove(str(repo_path))
        for name in modules:
            sys.modules.pop(name, None)


def apply_repo() -> None:
    """`feast apply` for the project's repo: register entities, sources, views and services."""
    from feast.repo_operations import apply_total

    store = get_store()
    repo_path = get_feast_settings().repo_path
    with _importable_repo(repo_path):
        apply_total(store.config, repo_path, skip_source_validation=True)
    logger.info("applied the feature repo %s to %s", repo_path, store.config.registry.path)
