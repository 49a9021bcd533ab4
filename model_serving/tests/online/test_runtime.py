"""How the service runs inside BentoML: the start-up heap settings (GC thresholds applied, the
heap frozen, bad values refused) and the API callers built once per instance."""

from __future__ import annotations

import asyncio
import gc

import bentoml
import pytest
from online_service.runtime import CachedApiCaller, cache_api_callers, freeze_heap
from online_service.settings import OnlineSettings
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


@bentoml.service(name="cached_callers_probe")
class _Probe:
    def __init__(self) -> None:
        self.calls = 0
        self.cached = cache_api_callers(self)

    @bentoml.api
    async def double(self, value: int) -> int:
        self.calls += 1
        return 2 * value

    def plain(self) -> str:
        return "not an API"


def test_api_callers_are_built_once_and_still_call_the_method() -> None:
    probe = _Probe.inner()  # the class as written, as BentoML's worker instantiates it
    assert probe.cached == ["double"]
    cached = probe.double
    assert isinstance(cached, CachedApiCaller)
    # What BentoML's request handler looks up for every request: the same caller each time.
    assert probe.double.local is cached.local
    assert asyncio.run(cached.local(value=4)) == 8
    assert asyncio.run(probe.double(value=5)) == 10  # through the descriptor, as before
    assert probe.calls == 2
    assert probe.plain() == "not an API"
    # Without the cache the descriptor builds a new caller per lookup (the cost avoided).
    descriptor = type(probe).__dict__["double"]
    first = descriptor.__get__(probe, type(probe)).local
    assert first is not descriptor.__get__(probe, type(probe)).local


class _Base:
    @bentoml.api
    async def triple(self, value: int) -> int:
        return 3 * value


@bentoml.service(name="cached_callers_inherited_probe")
class _Inheriting(_Base):
    def __init__(self) -> None:
        self.cached = cache_api_callers(self)


def test_inherited_api_methods_are_cached_too() -> None:
    probe = _Inheriting.inner()
    assert probe.cached == ["triple"]
    assert isinstance(probe.triple, CachedApiCaller)
    assert asyncio.run(probe.triple.local(value=2)) == 6
