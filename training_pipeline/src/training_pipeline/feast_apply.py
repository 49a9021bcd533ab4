"""`feast apply` of the project's one feature repo, so extraction sees the current definitions."""

from __future__ import annotations

import logging

from mlops_common.errors import UserError
from mlops_common.settings import get_feast_settings

logger = logging.getLogger(__name__)


def apply_feature_repo() -> None:
    """Register the feature repo's objects in the Feast registry (idempotent)."""
    from data_pipeline.feature_store import apply_repo

    repo = get_feast_settings().repo_path
    if not (repo / "feature_store.yaml").is_file():
        raise UserError(f"no Feast feature repo at {repo}; set FEAST_REPO_PATH to the repo folder")
    apply_repo()
    logger.info("applied the feature repo %s to %s", repo, get_feast_settings().registry_path)
