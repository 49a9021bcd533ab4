"""The service's own HTTP behaviour in front of BentoML's request handling.

Pure ASGI middlewares (no per-request objects beyond what they need), since they run for every
request (the ones that work around BentoML are in `online_service.framework`):
- `ObservedMiddleware`: metrics by endpoint/status/outcome, the `/inference` latency, and the
  request id (`X-Request-ID` in, `X-Request-ID` out);
- `ApiKeyMiddleware`: 401 before anything else reads the body.
"""

from __future__ import annotations

import hmac
import json
import re
import time
from collections.abc import Awaitable, Callable, MutableMapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from starlette.responses import Response

from online_service import schemas
from online_service.metrics import ServiceMetrics, outcome_of
from online_service.schemas import ErrorBody

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

API_KEY_HEADER = b"x-api-key"
REQUEST_ID_HEADER = b"x-request-id"
REQUEST_ID_PATTERN = re.compile(schemas.REQUEST_ID_PATTERN)  # the same rule as the body's id
# Endpoints named in the metrics; anything else is counted as "other" (bounded cardinality).
KNOWN_ENDPOINTS = frozenset(
    {
        "/inference",
        "/rank_bulk/submit",
        "/rank_bulk/status",
        "/rank_bulk/get",
        "/readyz",
        "/livez",
        "/healthz",
        "/metrics",
        "/docs.json",
        "/",
    }
)


@dataclass
class RequestState:
    """What one request's handler and the middlewares tell each other."""

    header_request_id: str | None
    request_id: str | None = None  # the id answered, once the handler settled it
    outcome: str | None = None  # the handler's outcome label (else derived from the status)


_current: ContextVar[RequestState | None] = ContextVar("driver_ranking_request", default=None)


def current_request() -> RequestState | None:
    """The state of the request being answered in this task (None outside a request)."""
    return _current.get()


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


def json_answer(status: int, body: BaseModel) -> Response:
    """BODY as a JSON answer with STATUS (unset optional fields left out)."""
    if isinstance(body, schemas.InferenceResponse):  # the hot path: the compiled serializer
        content = body.__pydantic_serializer__.to_json(body)
    else:
        content = body.model_dump_json(exclude_none=True).encode()
    return Response(content, status_code=status, media_type="application/json")


def _bad_request_id_header() -> Response:
    """The 400 for a malformed X-Request-ID, in the body every 400 has (`ValidationErrorBody`)."""
    issue = {
        "type": "string_pattern_mismatch",
        "loc": ["header", "X-Request-ID"],
        "msg": "the X-Request-ID header must be 1-200 visible ASCII characters",
    }
    body = {"error": "1 validation error for X-Request-ID", "detail": [issue]}
    return Response(json.dumps(body), status_code=400, media_type="application/json")


def header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


class ObservedMiddleware:
    """Counts every answer, times `/inference`, and carries the request id.

    The id a caller sends as `X-Request-ID` is offered to the handler (used when the body has
    none) and every answer carries `X-Request-ID`: the handler's id, else the caller's.
    """

    def __init__(self, app: ASGIApp, *, metrics: Callable[[], ServiceMetrics]) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        metrics = self.metrics()
        path = scope["path"]
        endpoint = path if path in KNOWN_ENDPOINTS else "other"
        raw_id = header(scope, REQUEST_ID_HEADER)
        header_id = raw_id.decode("latin-1") if raw_id is not None else None
        state = RequestState(header_id)
        status = 500
        recorded = False

        def record() -> None:
            nonlocal recorded
            recorded = True
            metrics.count_request(endpoint, status, state.outcome or outcome_of(status))
            if endpoint == "/inference":
                metrics.inference_seconds.observe(time.perf_counter() - started)

        async def observed_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                answered_id = state.request_id or state.header_request_id
                if answered_id is not None:
                    message["headers"] = [
                        *message.get("headers", ()),
                        (REQUEST_ID_HEADER, answered_id.encode("latin-1")),
                    ]
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                # Counted when the answer is complete, not after background work (the bulk
                # task runs after its submission is answered).
                await send(message)
                if not recorded:
                    record()
                return
            await send(message)

        if header_id is not None and not REQUEST_ID_PATTERN.fullmatch(header_id):
            state.header_request_id = None
            state.outcome = "invalid_request"
            await _bad_request_id_header()(scope, receive, observed_send)
            return
        token = _current.set(state)
        in_progress = metrics.in_progress.labels(endpoint)
        in_progress.inc()
        try:
            await self.app(scope, receive, observed_send)
        finally:
            in_progress.dec()
            _current.reset(token)
            if not recorded:
                record()


def _prefixed(path: str, prefixes: tuple[str, ...]) -> bool:
    return any(path == prefix or path.startswith(prefix + "/") for prefix in prefixes)


class ApiKeyMiddleware:
    """Require `X-API-Key` on the protected paths when a key is configured (401 otherwise).

    Runs before the body is read, so an unauthenticated caller learns nothing about the
    input rules. Health, metrics and docs stay open.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        key_getter: Callable[[], str | None],
        protected_prefixes: tuple[str, ...] = ("/inference", "/rank_bulk"),
    ) -> None:
        self.app = app
        self.key_getter = key_getter
        self.protected_prefixes = protected_prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _prefixed(scope["path"], self.protected_prefixes):
            await self.app(scope, receive, send)
            return
        key = self.key_getter()
        if key is None:
            await self.app(scope, receive, send)
            return
        provided = header(scope, API_KEY_HEADER) or b""
        if hmac.compare_digest(provided, key.encode("utf-8")):
            await self.app(scope, receive, send)
            return
        state = current_request()
        response = error_response(
            401,
            "unauthorized",
            "missing or wrong API key: send it in the X-API-Key header",
            request_id=state.header_request_id if state else None,
            headers={"WWW-Authenticate": "X-API-Key"},
        )
        await response(scope, receive, send)
