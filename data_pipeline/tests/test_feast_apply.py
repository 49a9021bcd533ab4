"""`feast apply` runs only when the definitions changed; a skipped apply imports no Feast."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from feature_store.apply import applied_sources, apply_repo
from feature_store.layout import service_sources
from feature_store.store import get_store
from mlops_common.settings import get_feast_settings, reset_settings_cache
from mlops_testing import RedisServer, command_imports

pytestmark = pytest.mark.integration


def test_unchanged_definitions_are_not_applied_again(
    published: object,
    redis_env: RedisServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    repo = tmp_path / "feature_repo"
    shutil.copytree(
        get_feast_settings().repo_path, repo, ignore=shutil.ignore_patterns("__pycache__")
    )
    monkeypatch.setenv("FEAST_REPO_PATH", str(repo))
    reset_settings_cache()
    assert apply_repo(force=False) is True  # no registry yet
    registry = get_feast_settings().registry_path
    assert registry is not None
    before = registry.read_bytes()
    # The layout the fast engines read without Feast is the registry's own.
    store = get_store()
    service = store.get_feature_service(get_feast_settings().feature_service)
    assert applied_sources(service.name) == service_sources(store, service)

    # The DAG's task, in a fresh process: skipped, the registry untouched, Feast not imported.
    code, heavy = command_imports("data_pipeline.cli", "feast-apply", "--run-id", "again")
    assert code == 0
    assert "feast" not in heavy
    assert registry.read_bytes() == before

    # A changed definition is applied.
    definitions = repo / "features.py"
    text = definitions.read_text()
    assert "ttl=timedelta(days=2)" in text
    definitions.write_text(text.replace("ttl=timedelta(days=2)", "ttl=timedelta(days=3)"))
    assert applied_sources(service.name) is None  # stale: read from the registry instead
    assert apply_repo(force=False) is True
    assert [s.ttl for s in applied_sources(service.name) or []] == [timedelta(days=3)]
    assert get_store().get_feature_view("driver_stats").ttl == timedelta(days=3)
    assert apply_repo(force=False) is False
    # --force applies unchanged definitions anyway.
    assert apply_repo(force=True) is True
