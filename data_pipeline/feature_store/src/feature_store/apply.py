"""`feast apply` of the project's one feature repo, and the `feast-apply` command of every
pipeline CLI (data, training and model serving each mount this one function)."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import typer
from mlops_common.settings import get_feast_settings

from feature_store.store import get_store

logger = logging.getLogger(__name__)


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
    """Register the repo's entities, sources, views and services in Feast's registry."""
    from feast.repo_operations import apply_total

    store = get_store()
    repo_path = get_feast_settings().repo_path
    with _importable_repo(repo_path):
        apply_total(store.config, repo_path, skip_source_validation=True)
    logger.info("applied the feature repo %s to %s", repo_path, store.config.registry.path)


def feast_apply_command(
    run_id: str | None = typer.Option(None, "--run-id", help="The DAG run (for the logs)."),
) -> None:
    """Register the feature repo (entities, sources, views, services) in Feast's registry."""
    apply_repo()
    typer.echo(f"feast apply done (run {run_id})" if run_id else "feast apply done")
