"""Small ASGI pieces of the service: API-key check, detailed readiness, JSON error answers.

Pure ASGI middlewares (no per-request objects beyond what they need): they run in front of
BentoML's request handling for every request, so they must stay cheap.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.responses import Response

from model_serving.online.schemas import ErrorBody

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

API_KEY_HEADER = b"x-api-key"


def error_response(
    status: int,
    error: str,
    message: str,
    *,
    request_id: str | None = None,
    missing_driver_ids: list[int] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """A JSON `ErrorBody` answer."""
    body = ErrorBody(
        error=error, message=message, request_id=request_id, missing_driver_ids=missing_driver_ids
    )
    return Response(
        body.model_dump_json(exclude_none=True),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


class ApiKeyMiddleware:
    """Require `X-API-Key` on the protected paths when a key is configured (401 otherwise).

    Runs before BentoML parses the body, so an unauthenticated caller learns nothing about
    the input rules. Health, metrics and docs stay open.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        key_getter: Callable[[], str | None],
        protected_paths: tuple[str, ...] = ("/inference",),
        on_reject: Callable[[], None] | None = None,
    ) -> None:
        self.app = app
        self.key_getter = key_getter
        self.protected_paths = protected_paths
        self.on_reject = on_reject

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in self.protected_paths:
            await self.app(scope, receive, send)
            return
        key = self.key_getter()
        if key is None:
            await self.app(scope, receive, send)
            return
        provided = b""
        for name, value in scope["headers"]:
            if name == API_KEY_HEADER:
                provided = value
                break
        if hmac.compare_digest(provided, key.encode("utf-8")):
            await self.app(scope, receive, send)
            return
        if self.on_reject is not None:
            self.on_reject()
        response = error_response(
            401,
            "unauthorized",
            "missing or wrong API key: send it in the X-API-Key header",
            headers={"WWW-Authenticate": "X-API-Key"},
        )
        await response(scope, receive, send)


class ReadinessMiddleware:
    """Answer `GET /readyz` with a JSON report instead of BentoML's empty body.

    REPORT returns (ready, details); 200 when ready, 503 otherwise. The details say why, and
    carry the registry re-check state: MLflow being down does not make the service unready
    (the loaded model keeps serving) but shows up here.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        report: Callable[[], Awaitable[tuple[bool, dict[str, Any]]]],
        path: str = "/readyz",
    ) -> None:
        self.app = app
        self.report = report
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != self.path:
            await self.app(scope, receive, send)
            return
        ready, details = await self.report()
        response = Response(
            json.dumps({"ready": ready, **details}, default=str),
            status_code=200 if ready else 503,
            media_type="application/json",
        )
        await response(scope, receive, send)
