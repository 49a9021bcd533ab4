"""The service's ASGI layer in front of BentoML's request handling.

Pure ASGI middlewares (no per-request objects beyond what they need), since they run for every
request and BentoML's own HTTP middlewares are off (`online/runtime.py`):
- `ObservedMiddleware`: metrics by endpoint/status/outcome, the `/inference` latency, and the
  request id (`X-Request-ID` in, `X-Request-ID` out);
- `ApiKeyMiddleware`: 401 before anything else reads the body;
- `BodyLimitMiddleware`: 413 from `Content-Length` before the body is read or parsed, and the
  bulk submission validated before BentoML creates a task for it;
- `OwnEndpointsMiddleware`: `GET /readyz`, `/metrics` and `/docs.json` answered here, other
  methods 405, BentoML routes the service does not offer 404.
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

from pydantic import BaseModel, ValidationError
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


def validation_response(exc: ValidationError) -> Response:
    """A 400 with the body BentoML answers for an invalid input (`ValidationErrorBody`)."""
    return Response(
        json.dumps(
            {
                "error": f"{exc.error_count()} validation error for {exc.title}",
                "detail": exc.errors(include_context=False, include_input=False),
            }
        ),
        status_code=400,
        media_type="application/json",
    )


def _bad_request_id_header() -> Response:
    """The 400 for a malformed X-Request-ID, in the body every 400 has (`ValidationErrorBody`)."""
    issue = {
        "type": "string_pattern_mismatch",
        "loc": ["header", "X-Request-ID"],
        "msg": "the X-Request-ID header must be 1-200 visible ASCII characters",
    }
    body = {"error": "1 validation error for X-Request-ID", "detail": [issue]}
    return Response(json.dumps(body), status_code=400, media_type="application/json")


def _header(scope: Scope, name: bytes) -> bytes | None:
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
        raw_id = _header(scope, REQUEST_ID_HEADER)
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
        provided = _header(scope, API_KEY_HEADER) or b""
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


@dataclass(frozen=True)
class BodyRule:
    """The largest body a POST path accepts, the setting that raises it, and an optional
    model the whole body is validated with before the app sees it."""

    max_bytes: int
    setting: str
    validate_with: type[BaseModel] | None = None


class BodyLimitMiddleware:
    """413 for a body over its path's limit, decided before the body is read or parsed; 415
    for a body that is not JSON.

    With `Content-Length` (what clients send) the header decides; a chunked body is read up to
    the limit and refused once past it. A path with a model to validate with (the bulk
    submission) is read whole, validated (400 as BentoML answers it) and replayed to the app:
    BentoML would otherwise create a task for an invalid body and fail it later.
    """

    def __init__(self, app: ASGIApp, *, rules: Callable[[], dict[str, BodyRule]]) -> None:
        self.app = app
        self.rules = rules

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        rule = self.rules().get(scope["path"])
        if rule is None:
            await self.app(scope, receive, send)
            return
        content_type = _header(scope, b"content-type")
        if content_type is not None and (
            content_type.split(b";")[0].strip().lower() != b"application/json"
        ):
            # BentoML would pick another parser for it (and answer 500 on a multipart body
            # without boundary); the API takes JSON only.
            response = error_response(
                415, "unsupported_media_type", "send the body as Content-Type: application/json"
            )
            await response(scope, receive, send)
            return
        length = _header(scope, b"content-length")
        if length is not None and length.isdigit() and int(length) > rule.max_bytes:
            await self._too_large(rule, scope, receive, send)
            return
        if length is not None and rule.validate_with is None:
            await self.app(scope, receive, send)  # h11/httptools stop at Content-Length
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > rule.max_bytes:
                await self._too_large(rule, scope, receive, send)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        if rule.validate_with is not None:
            try:
                rule.validate_with.model_validate_json(body)
            except ValidationError as exc:
                await validation_response(exc)(scope, receive, send)
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    @staticmethod
    async def _too_large(rule: BodyRule, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(
            413,
            "too_large",
            f"request body larger than {rule.max_bytes} bytes; split it or raise {rule.setting}",
        )
        await response(scope, receive, send)


class PendingResultMiddleware:
    """`GET <task>/get` of a task still running: 409 instead of BentoML's 400.

    BentoML answers 400 both for a missing `task_id` and for a task that has not completed;
    the second is a valid request made too early, so it gets 409 (poll the status first).
    """

    def __init__(self, app: ASGIApp, *, path: str) -> None:
        self.app = app
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["path"] != self.path
            or b"task_id=" not in scope.get("query_string", b"")
        ):
            await self.app(scope, receive, send)
            return

        async def conflict_send(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 400:
                message["status"] = 409
            await send(message)

        await self.app(scope, receive, conflict_send)


Handler = Callable[[], Awaitable[Response]]


class OwnEndpointsMiddleware:
    """GET (and HEAD) endpoints answered here instead of by BentoML, and paths refused.

    `handlers` maps a path to a coroutine building its answer; any other method gets 405 with
    `Allow`. Paths in `hidden` (BentoML routes the service does not offer) get 404.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        handlers: dict[str, Handler],
        hidden: frozenset[str] = frozenset(),
    ) -> None:
        self.app = app
        self.handlers = handlers
        self.hidden = hidden

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        handler = self.handlers.get(path)
        if handler is not None:
            if scope["method"] in ("GET", "HEAD"):
                response = await handler()
            else:
                response = Response(
                    "Method Not Allowed", status_code=405, headers={"Allow": "GET, HEAD"}
                )
            await response(scope, receive, send)
            return
        if path in self.hidden:
            response = error_response(404, "not_found", f"{path} is not offered by this service")
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
