"""The framework fixes (`online_service.framework`): the start-up heap settings (GC thresholds
applied, the heap frozen, bad values refused), the API callers built once per instance, and one
guard per fix asserting BentoML itself still behaves as the fix says."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator
from pathlib import Path

import bentoml
import httpx
import pytest
from online_service.framework import CachedApiCaller, cache_api_callers, freeze_heap
from online_service.settings import OnlineSettings
from pydantic import ValidationError

from .conftest import bentoml_serve


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


# --- Guards: BentoML 1.4.39 still behaves as `online_service.framework` says. When one fails,
# BentoML changed: drop the fix it guards (and the guard). ---------------------------------


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    """`framework_probe.Probe` under a real `bentoml serve` (its task store included)."""
    here = Path(__file__).parent
    tmp = tmp_path_factory.mktemp("probe")
    with (
        bentoml_serve(
            tmp, target="framework_probe:Probe", ready_path="/livez", working_dir=here
        ) as (url, _),
        httpx.Client(base_url=url, timeout=10) as client,
    ):
        yield client


def test_guard_the_api_descriptor_builds_a_caller_per_lookup() -> None:
    """Fix 3 (`cache_api_callers`): BentoML's handler looks the method up per request."""
    probe = _Probe.inner()
    descriptor = type(probe).__dict__["double"]
    assert descriptor.__get__(probe, type(probe)).local is not (
        descriptor.__get__(probe, type(probe)).local
    )


def test_guard_the_timeout_middleware_leaves_its_timer_pending() -> None:
    """Fix 2 (short timeout, GC settings): each request's timer outlives the request."""
    from bentoml._internal.server.http.traffic import TimeoutMiddleware

    async def app(scope, receive, send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    async def one_request() -> tuple[list, int]:
        loop = asyncio.get_running_loop()
        sent: list = []

        async def receive() -> dict:
            return {"type": "http.request", "body": b""}

        async def send(message: dict) -> None:
            sent.append(message)

        await TimeoutMiddleware(app, timeout=60)({"type": "http"}, receive, send)
        pending = [timer for timer in loop._scheduled if not timer.cancelled()]  # type: ignore[attr-defined]
        return sent, len(pending)

    sent, pending = asyncio.run(one_request())
    assert sent[-1]["body"] == b"ok"
    assert pending == 1, "the answered request's 60 s timer is still armed"


def test_guard_the_generated_openapi_disagrees_with_the_answers() -> None:
    """Fix 4 (`openapi_document`): BentoML's document cannot declare the service's errors
    and names task statuses its task store never reports."""
    from online_service.service import DriverRanking

    spec = DriverRanking.openapi_spec.asdict()
    responses = {str(code) for code in spec["paths"]["/inference"]["post"]["responses"]}
    assert not {"401", "413", "415", "422", "503"} & responses
    status = spec["components"]["schemas"]["TaskStatusResponse"]["properties"]["status"]
    assert "completed" not in status["enum"]


def test_guard_readiness_answers_a_bare_body(plain) -> None:
    """Fix 5 (`/readyz` with details): BentoML's readiness says only ready or not."""
    answer = plain.get("/readyz")
    assert answer.status_code == 503
    assert not answer.headers["content-type"].startswith("application/json")


def test_guard_every_task_gets_routes_the_service_does_not_offer(plain) -> None:
    """Fix 5 (hidden routes): BentoML adds /retry, /cancel and the bare task route."""
    task_id = plain.post("/slow/submit", json={"value": 1}).json()["task_id"]
    for method, path in (("PUT", "/slow/cancel"), ("POST", "/slow/retry")):
        answer = plain.request(method, path, params={"task_id": task_id})
        assert answer.status_code != 404, path


def test_guard_a_pending_task_result_is_400_like_a_missing_id(plain) -> None:
    """Fix 6 (409 for a task not completed): BentoML answers 400 for both."""
    task_id = plain.post("/slow/submit", json={"value": 1}).json()["task_id"]
    assert plain.get("/slow/get", params={"task_id": task_id}).status_code == 400
    assert plain.get("/slow/get").status_code == 400


def test_guard_multipart_without_boundary_is_a_500(plain) -> None:
    """Fix 7 (415 for a body that is not JSON)."""
    answer = plain.post("/echo", content=b"x", headers={"content-type": "multipart/form-data"})
    assert answer.status_code == 500


def test_guard_a_task_is_created_for_an_invalid_body(plain) -> None:
    """Fix 7 (the bulk submission validated first): BentoML accepts it and fails it later."""
    answer = plain.post("/slow/submit", json={"value": "not a number"})
    assert answer.status_code == 200
    assert "task_id" in answer.json()
