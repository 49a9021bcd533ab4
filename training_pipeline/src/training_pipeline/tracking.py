"""The MLflow connection: configured from settings, checked once with a clear error."""

from __future__ import annotations

import logging
import subprocess

import httpx
import mlflow
from mlops_common.errors import UserError
from mlops_common.mlflow_plugins import skip_feast_request_headers
from mlops_common.settings import get_mlflow_settings, project_root

logger = logging.getLogger(__name__)


def connect_mlflow() -> mlflow.MlflowClient:
    """Point mlflow at the tracking server from settings; UserError when it is unreachable.

    A quick health probe first: the client's own retries would otherwise take minutes to fail.
    """
    uri = get_mlflow_settings().resolved_tracking_uri
    if uri.startswith("http"):
        try:
            httpx.get(f"{uri.rstrip('/')}/health", timeout=10).raise_for_status()
        except httpx.HTTPError as exc:
            raise UserError(
                f"MLflow tracking server {uri} is not reachable ({exc.__class__.__name__}); "
                "start the platform with `make up` or set MLFLOW_TRACKING_URI"
            ) from exc
    skip_feast_request_headers()
    mlflow.set_tracking_uri(uri)
    return mlflow.MlflowClient(uri)


def git_commit() -> str | None:
    """The repository's HEAD commit, or None outside a git checkout (e.g. in an image)."""
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=project_root(),
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None
