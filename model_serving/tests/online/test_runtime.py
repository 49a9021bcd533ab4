"""The service's start-up heap settings: GC thresholds applied, the heap frozen, bad values
refused."""

from __future__ import annotations

import gc

import pytest
from model_serving.online.runtime import freeze_heap
from model_serving.online.settings import OnlineSettings
from pydantic import ValidationError


@pytest.fixture
def restore_gc():
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


@pytest.mark.usefixtures("restore_gc")
def test_freeze_heap_sets_the_thresholds_and_freezes() -> None:
    gc.unfreeze()
    freeze_heap(OnlineSettings(gc_thresholds=(5000, 15, 40)))
    assert gc.get_threshold() == (5000, 15, 40)
    assert gc.get_freeze_count() > 0


@pytest.mark.usefixtures("restore_gc")
def test_thresholds_apply_without_the_freeze() -> None:
    gc.unfreeze()
    freeze_heap(OnlineSettings(gc_freeze=False, gc_thresholds=(900, 11, 12)))
    assert gc.get_threshold() == (900, 11, 12)
    assert gc.get_freeze_count() == 0


def test_thresholds_from_the_environment_and_zero_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SERVING_GC_THRESHOLDS", "[700, 10, 10]")
    assert OnlineSettings().gc_thresholds == (700, 10, 10)
    with pytest.raises(ValidationError, match="at least 1"):
        OnlineSettings(gc_thresholds=(0, 10, 10))
