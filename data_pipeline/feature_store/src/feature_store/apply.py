"""`feast apply` of the project's one feature repo, and the `feast-apply` command of every
pipeline CLI (data, training and model serving each mount this one function).

Three DAGs start with `feast_apply`, almost always on definitions that did not change, and an
apply costs 5-15 s here (importing Feast alone is about 5 s). So an apply records a digest of
what it registered (`definitions_digest`) beside the registry, and the next one is skipped,
without importing Feast, when the registry exists and the digest is the same. `--force`
applies anyway (e.g. after editing the registry by other means).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import sys
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from mlops_common.errors import UserError
from mlops_common.files import read_json, write_json
from mlops_common.paths import driver_stats_path
from mlops_common.settings import get_feast_settings

from feature_store.layout import ViewSource, service_sources, source_from_json, source_to_json
from feature_store.store import feast_environment, get_store

if TYPE_CHECKING:
    from feast import FeatureService, FeatureStore

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


def definitions_digest() -> str:
    """A digest of everything `feast apply` registers: every file of the repo, the values the
    definitions and `feature_store.yaml` take from settings, and Feast's version."""
    repo = get_feast_settings().repo_path
    digest = hashlib.sha256()
    inputs = {
        **feast_environment(),
        "offline_store": str(driver_stats_path()),
        "feast": version("feast"),
    }
    digest.update(json.dumps(inputs, sort_keys=True).encode())
    for path in sorted(repo.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(repo)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def applied_record_path() -> Path:
    """Where an apply records the digest of the definitions it registered."""
    registry = get_feast_settings().registry_path
    assert registry is not None
    return registry.with_name(registry.name + ".applied.json")


def is_applied(digest: str) -> bool:
    """The registry exists and holds what the last apply registered from these definitions."""
    registry, record = get_feast_settings().registry_path, applied_record_path()
    if registry is None or not registry.is_file() or not record.is_file():
        return False
    try:
        return bool(read_json(record).get("definitions_digest") == digest)
    except (OSError, ValueError):
        return False


def apply_repo(*, force: bool = True) -> bool:
    """Register the repo's entities, sources, views and services in Feast's registry.

    With FORCE false, skip (and return False) when the registry already holds exactly these
    definitions; True when Feast applied them.
    """
    digest = definitions_digest()
    if not force and is_applied(digest):
        logger.info("the registry already holds these definitions (%s); skipped", digest[:12])
        return False
    from feast.repo_operations import apply_total

    store = get_store()
    repo_path = get_feast_settings().repo_path
    with _importable_repo(repo_path):
        apply_total(store.config, repo_path, skip_source_validation=True)
    layouts = {
        service.name: [source_to_json(s) for s in service_sources(store, service)]
        for service in store.list_feature_services()
        if _file_sourced(store, service)
    }
    write_json(applied_record_path(), {"definitions_digest": digest, "sources": layouts})
    logger.info("applied the feature repo %s to %s", repo_path, store.config.registry.path)
    return True


def _file_sourced(store: FeatureStore, service: FeatureService) -> bool:
    try:
        service_sources(store, service)
    except UserError:  # a view on another kind of source: only the Feast engine reads it
        return False
    return True


def applied_sources(service_name: str) -> list[ViewSource] | None:
    """SERVICE_NAME's file sources as the last apply recorded them, when the registry holds
    exactly the current definitions; None otherwise (then read them from the registry).

    The batch engines that read the parquet sources directly need only this layout: taking
    it from the record spares them importing Feast (about 5 s).
    """
    if not is_applied(definitions_digest()):
        return None
    recorded = read_json(applied_record_path()).get("sources", {}).get(service_name)
    return None if recorded is None else [source_from_json(s) for s in recorded]


def current_sources(service_name: str, apply_command: str) -> list[ViewSource]:
    """SERVICE_NAME's file sources: as the last apply recorded them (no Feast import), else
    read from the registry (a UserError naming APPLY_COMMAND when there is none)."""
    sources = applied_sources(service_name)
    if sources is not None:
        return sources
    from feature_store.layout import feature_service
    from feature_store.store import get_store, require_registry

    require_registry(apply_command)
    store = get_store()
    return service_sources(store, feature_service(store, service_name, apply_command))


def feast_apply_command(
    run_id: str | None = typer.Option(None, "--run-id", help="The DAG run (for the logs)."),
    force: bool = typer.Option(
        False, "--force", help="Apply even when the registry already holds these definitions."
    ),
) -> None:
    """Register the feature repo (entities, sources, views, services) in Feast's registry;
    skipped when the registry already holds exactly these definitions."""
    applied = apply_repo(force=force)
    outcome = "feast apply done" if applied else "feast apply skipped: definitions unchanged"
    typer.echo(f"{outcome} (run {run_id})" if run_id else outcome)
