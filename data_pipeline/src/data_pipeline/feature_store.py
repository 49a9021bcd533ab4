"""Access to the one Feast feature repo, configured from the project settings."""

from __future__ import annotations

import os

from feast import FeatureStore

from mlops_common.settings import get_feast_settings, get_redis_settings


def feast_environment() -> dict[str, str]:
    """The variables `feature_store.yaml` expands, derived from settings."""
    feast = get_feast_settings()
    return {
        "FEAST_REGISTRY_PATH": str(feast.registry_path),
        "FEAST_REDIS_CONNECTION": get_redis_settings().feast_connection_string,
    }


def get_store() -> FeatureStore:
    """A FeatureStore on the project's repo, registry and Redis (from settings, not the shell)."""
    os.environ.update(feast_environment())
    feast = get_feast_settings()
    assert feast.registry_path is not None
    feast.registry_path.parent.mkdir(parents=True, exist_ok=True)
    return FeatureStore(repo_path=str(feast.repo_path))


def apply_repo() -> None:
    """`feast apply` for the project's repo: register entities, sources, views and services."""
    from feast.repo_operations import apply_total

    store = get_store()
    cwd = os.getcwd()
    try:  # apply_total changes the working directory to the repo
        apply_total(store.config, get_feast_settings().repo_path, skip_source_validation=True)
    finally:
        os.chdir(cwd)
