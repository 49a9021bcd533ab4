"""Reference for the bench only: a BentoML service whose endpoint does nothing.

Its throughput is the ceiling of the framework on this machine; the bench reports the online
service against it, so figures taken on a busy machine stay comparable.
"""

from __future__ import annotations

import bentoml
from pydantic import BaseModel


class Request(BaseModel):
    request_id: str
    driver_ids: list[int]


class Answer(BaseModel):
    request_id: str


@bentoml.service(name="empty_reference", logging={"access": {"enabled": False}})
class Empty:
    """Echoes the request id: JSON in, JSON out, nothing else."""

    @bentoml.api(route="/inference")
    async def inference(self, request: Request, /) -> Answer:
        return Answer(request_id=request.request_id)
