"""References for the bench only: BentoML services whose endpoint does nothing.

`Empty` runs with BentoML's default configuration, `EmptyLean` with the online service's own
(`online_service.framework`: tracing sampled at 0, BentoML's HTTP metrics middleware off,
short traffic timeout, API callers built once, heap frozen after start-up). Their throughput
is the framework's ceiling on this machine at that moment; the bench reports the online
service as a share of each, so figures taken on a busy machine stay comparable.
"""

from __future__ import annotations

import bentoml
from online_service.framework import cache_api_callers, freeze_heap, service_config
from online_service.settings import get_online_settings
from pydantic import BaseModel


class Request(BaseModel):
    request_id: str | None = None
    driver_ids: list[int]


class Answer(BaseModel):
    request_id: str | None


@bentoml.service(name="empty_reference", logging={"access": {"enabled": False}})
class Empty:
    """Echoes the request id: JSON in, JSON out, nothing else (BentoML's defaults)."""

    @bentoml.api(route="/inference")
    async def inference(self, request: Request, /) -> Answer:
        return Answer(request_id=request.request_id)


@bentoml.service(name="empty_lean_reference", **service_config(get_online_settings()))
class EmptyLean:
    """The same endpoint with the online service's configuration."""

    def __init__(self) -> None:
        cache_api_callers(self)
        freeze_heap(get_online_settings())

    @bentoml.api(route="/inference")
    async def inference(self, request: Request, /) -> Answer:
        return Answer(request_id=request.request_id)


@bentoml.service(name="empty_lean_sync_reference", **service_config(get_online_settings()))
class EmptyLeanSync:
    """`EmptyLean` as a sync method: what BentoML's hop to its thread pool costs (`threads` 1)."""

    def __init__(self) -> None:
        cache_api_callers(self)
        freeze_heap(get_online_settings())

    @bentoml.api(route="/inference")
    def inference(self, request: Request, /) -> Answer:
        return Answer(request_id=request.request_id)
