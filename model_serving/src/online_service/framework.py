"""Every place the service works around BentoML 1.4.39 instead of using it as shipped.

Each fix names the BentoML behaviour it answers and what justified it; `tests/online/
test_framework.py` holds a guard per fix that asserts BentoML still behaves so, on BentoML
itself (tiny services, no project code). The day a guard fails, BentoML changed: drop the fix
and its guard. Figures: 2 cores, one worker, wrk (`make bench_online`; BENCHMARKS.md).

1. `service_config` (lean configuration). An OpenTelemetry span per request, even sampled at
   0, and BentoML's HTTP metrics middleware per request: an empty async endpoint at c=16
   answered 480-503 req/s with the defaults, 1,173 with tracing at 0, 1,466-1,509 with the
   metrics middleware off too (2026-12-01). Our metrics (`online_service.metrics`, counted
   in `http.ObservedMiddleware`) and `/metrics` (`OwnEndpointsMiddleware`) replace them.
   Guard: BentoML still adds its metrics middleware when metrics are on (and the bench's
   `empty` vs `lean` ratio shows the cost).
2. Short `traffic.timeout` and `freeze_heap`. `TimeoutMiddleware` arms `loop.call_later` per
   request and never cancels it: at 2,500 req/s and the default 60 s a worker held ~150,000
   pending timers, the heap ~450,000 objects, and every full collection (150-230 ms p99
   stalls) walked them. A timeout of SERVING_REQUEST_TIMEOUT_SECONDS bounds the backlog;
   `gc.freeze()` after start-up takes the ~115,000 start-up objects out of every collection;
   SERVING_GC_THRESHOLDS (7000, 20, 50) cut ~2,000 young and ~15 full collections in 10 s to
   ~17 young and none (2026-12-02). Guard: the timer outlives its request.
3. `cache_api_callers`. The request handler looks the API method up on the instance per
   request and `APIMethod.__get__` rebuilds its caller each time (`inspect.signature`, a
   closure, `functools.wraps`): built once, 3,129 -> 3,214 req/s median at c=16 (2026-12-02).
   Guard: two lookups give two callers.
4. `openapi_document` (`/docs.json`). BentoML's generated document hard-codes the error
   answers of every API (400/404/500 with a string `detail`, where it answers a list of error
   objects), cannot declare others (401/413/415/422/503) and lists task statuses (`success`,
   `failure`) its task store never reports (`completed`, `failed`): schemathesis
   (`--checks all`) failed on each. Built here from the same pydantic models that build the
   answers. Guard: the generated document still has the wrong statuses and no 422.
5. `OwnEndpointsMiddleware`: `/readyz` with the model, Redis and registry state (BentoML's
   readiness calls the service's `__is_ready__` hook, which we keep, but answers a bare text
   body); `/metrics` (BentoML's is gone with its metrics middleware, 1.); the task routes
   BentoML adds that the service does not offer (`/rank_bulk`, `/retry`, `/cancel`) answer
   404. Guards: the bare readiness body; the added task routes.
6. `PendingResultMiddleware`: BentoML answers 400 both for a missing `task_id` and for a task
   not completed yet; the second is a valid request made early: 409. Guard: the 400.
7. `BodyLimitMiddleware`: a body over its limit is refused (413) from `Content-Length` before
   BentoML reads and parses it whole (a 20 MB body took seconds); a body that is not JSON is
   415 (BentoML picks another parser and answered 500 for a multipart body without boundary);
   the bulk submission is validated before BentoML creates a task for it (it creates the task
   and fails it later). Guards: the 500 and the task made of an invalid body.
8. `ensure_log_output`: `bentoml serve` configures only its own loggers, so the service's
   start-up and access lines would be lost. Guard: the serve test reads them in the log.
"""

from __future__ import annotations

import copy
import gc
import inspect
import json
import logging
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import bentoml
from pydantic import BaseModel, ValidationError
from starlette.responses import Response

from online_service.http import (
    ApiKeyMiddleware,
    ASGIApp,
    Message,
    ObservedMiddleware,
    Receive,
    Scope,
    Send,
    error_response,
    header,
)
from online_service.schemas import (
    BulkRankingRequest,
    BulkRankingResponse,
    ErrorBody,
    InferenceRequest,
    InferenceResponse,
    ValidationErrorBody,
)
from online_service.settings import OnlineSettings, get_online_settings

logger = logging.getLogger(__name__)

# --- 1. to 3.: how the service runs inside BentoML -----------------------------------------

# Paths never traced: probes and scrapes would fill a trace store with noise.
UNTRACED_PATHS = ("/livez", "/healthz", "/readyz", "/metrics", "/docs.json")


def service_config(settings: OnlineSettings) -> dict[str, Any]:
    """The keyword arguments of `@bentoml.service` for SETTINGS (lean unless tracing is on)."""
    excluded = list(UNTRACED_PATHS)
    if settings.tracing_sample_rate == 0:
        # Excluded paths skip the OpenTelemetry middleware entirely; a rate of 0 alone still
        # builds a non-recording span per request.
        excluded.append("/inference")
    return {
        "workers": settings.workers,
        "http": {"host": settings.host, "port": settings.port},
        "traffic": {"timeout": settings.request_timeout_seconds},
        # Our access line carries the caller's request id; BentoML's would be a second line.
        "logging": {"access": {"enabled": False}},
        "tracing": {"sample_rate": settings.tracing_sample_rate, "excluded_urls": excluded},
        # BentoML's per-request HTTP metrics middleware; `online_service.metrics` replaces it.
        "metrics": {"enabled": False},
    }


class CachedApiCaller:
    """An API method of one service instance, with BentoML's local caller built once.

    For every request BentoML looks the method up on the instance
    (`getattr(instance, name).local`), and its descriptor (`APIMethod.__get__`) builds the
    caller anew each time: `inspect.signature` of the function, a closure and
    `functools.wraps`. That caller depends on the function and the instance only, so one is
    kept as `local`. Calling this object, or reading any other attribute, goes through the
    descriptor as before (the proxy BentoML attaches after start-up included).
    """

    __slots__ = ("_instance", "_method", "local")

    def __init__(self, method: Any, instance: object) -> None:
        self._method, self._instance = method, instance
        self.local = method.__get__(instance, type(instance)).local

    def _bound(self) -> Any:
        return self._method.__get__(self._instance, type(self._instance))

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._bound()(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):  # own slots not set yet (copy, pickle): no recursion
            raise AttributeError(name)
        return getattr(self._bound(), name)


def cache_api_callers(instance: object) -> list[str]:
    """Give INSTANCE a `CachedApiCaller` for each BentoML API and task method its class has,
    inherited ones included (an instance attribute shadows the class's descriptor, which
    defines no `__set__`); the names cached."""
    from _bentoml_sdk.method import APIMethod

    names = []
    for name in dir(type(instance)):
        attribute = inspect.getattr_static(type(instance), name)  # the descriptor, unbound
        if isinstance(attribute, APIMethod):
            setattr(instance, name, CachedApiCaller(attribute, instance))
            names.append(name)
    return names


def freeze_heap(settings: OnlineSettings) -> None:
    """After start-up: collect once, exclude the surviving objects from future GC runs, and
    set the collection thresholds (`SERVING_GC_THRESHOLDS`)."""
    gc.set_threshold(*settings.gc_thresholds)
    if not settings.gc_freeze:
        return
    gc.collect()
    gc.freeze()
    logger.info("heap frozen: %d objects excluded from garbage collection", gc.get_freeze_count())


# --- 4. the OpenAPI document -----------------------------------------------------------

REF = "#/components/schemas/{model}"
_TASK_STATUS = {
    "type": "object",
    "required": ["task_id", "status", "created_at"],
    "properties": {
        "task_id": {"type": "string"},
        "status": {"type": "string", "enum": ["in_progress", "completed", "failed", "canceled"]},
        "created_at": {"type": "string"},
        "executed_at": {"type": "string", "nullable": True},
    },
}
_TASK_SUBMITTED = {
    "type": "object",
    "required": ["task_id", "status"],
    "properties": {
        "task_id": {"type": "string"},
        "status": {"type": "string", "enum": ["in_progress"]},
    },
}
_TASK_ERROR = {  # BentoML's task endpoints answer their errors with this body
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "string"}},
}
_REQUEST_ID_HEADER = {
    "X-Request-ID": {
        "description": "The request id answered (the body's, the caller's header, or new).",
        "schema": {"type": "string"},
    }
}


def _openapi30(schema: Any) -> Any:
    """pydantic's JSON Schema as OpenAPI 3.0: `anyOf [X, null]` -> X with `nullable`."""
    if isinstance(schema, list):
        return [_openapi30(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    converted = {key: _openapi30(value) for key, value in schema.items()}
    options = converted.get("anyOf")
    if isinstance(options, list) and {"type": "null"} in options:
        rest = [option for option in options if option != {"type": "null"}]
        del converted["anyOf"]
        if len(rest) == 1:
            converted.update(rest[0])
        else:
            converted["anyOf"] = rest
        converted["nullable"] = True
    return converted


def _schema(model: type[BaseModel], components: dict[str, Any]) -> dict[str, Any]:
    """MODEL's schema; its nested models go to COMPONENTS."""
    schema = model.model_json_schema(ref_template=REF)
    for name, definition in schema.pop("$defs", {}).items():
        components[name] = _openapi30(definition)
    return dict(_openapi30(schema))


def _json(schema: dict[str, Any], description: str, **extra: Any) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": schema}},
        **extra,
    }


def _ref(name: str) -> dict[str, str]:
    return {"$ref": REF.format(model=name)}


def openapi_document(settings: OnlineSettings, *, title: str, description: str) -> dict[str, Any]:
    """The OpenAPI 3.0 document of the service as configured by SETTINGS."""
    components: dict[str, Any] = {}
    request = _schema(InferenceRequest, components)
    request["properties"]["driver_ids"]["maxItems"] = settings.max_driver_ids
    bulk = _schema(BulkRankingRequest, components)
    bulk["properties"]["requests"]["maxItems"] = settings.bulk_max_requests
    bulk["properties"]["requests"]["items"] = copy.deepcopy(request)
    components.update(
        {
            "InferenceResponse": _schema(InferenceResponse, components),
            "ErrorBody": _schema(ErrorBody, components),
            "ValidationErrorBody": _schema(ValidationErrorBody, components),
            "BulkRankingResponse": _schema(BulkRankingResponse, components),
            "TaskStatus": _TASK_STATUS,
            "TaskSubmitted": _TASK_SUBMITTED,
            "TaskError": _TASK_ERROR,
        }
    )
    error = _ref("ErrorBody")
    protected = bool(settings.api_key)
    unauthorized = {
        "401": _json(error, "`SERVING_API_KEY` is set and X-API-Key is missing or wrong.")
    }
    invalid = {
        "400": _json(_ref("ValidationErrorBody"), "Invalid body; `detail[].loc` names the field.")
    }
    too_large = {
        "413": _json(error, "Body larger than the configured limit."),
        "415": _json(error, "Body not sent as application/json."),
    }
    timeout = {
        "504": _json(_TASK_ERROR, "No answer started within SERVING_REQUEST_TIMEOUT_SECONDS.")
    }
    request_id_param = {
        "name": "X-Request-ID",
        "in": "header",
        "required": False,
        "description": "The request id when the body has none; echoed back.",
        "schema": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": "^[!-~]+$"},
    }
    task_id_param = {
        "name": "task_id",
        "in": "query",
        "required": True,
        "schema": {"type": "string"},
    }
    task_errors = {
        "400": _json(_TASK_ERROR, "No task_id given, or the task has not completed yet."),
        "404": _json(_TASK_ERROR, "No task with this id."),
    }
    not_completed = {"409": _json(_TASK_ERROR, "The task has not completed yet; poll its status.")}
    security: list[dict[str, list[str]]] = [{"ApiKey": []}] if protected else []
    paths: dict[str, Any] = {
        "/inference": {
            "post": {
                "operationId": "inference",
                "tags": ["Service APIs"],
                "summary": "Rank the candidate drivers of one trip.",
                "security": security,
                "parameters": [request_id_param],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": request}},
                },
                "responses": {
                    "200": _json(
                        _ref("InferenceResponse"),
                        "The best driver, every score best first, ids without features.",
                        headers=_REQUEST_ID_HEADER,
                    ),
                    **invalid,
                    **(unauthorized if protected else {}),
                    **too_large,
                    "422": _json(error, "None of the drivers has online features (`no_features`)."),
                    "503": _json(error, "The online store or the model is unavailable."),
                    **timeout,
                },
            }
        },
        "/rank_bulk/submit": {
            "post": {
                "operationId": "rank_bulk_submit",
                "tags": ["Service APIs"],
                "summary": "Submit many ranking requests as one task; answers its id at once.",
                "security": security,
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": bulk}},
                },
                "responses": {
                    "200": _json(_ref("TaskSubmitted"), "The task was created."),
                    **invalid,
                    **(unauthorized if protected else {}),
                    **too_large,
                    **timeout,
                },
            }
        },
        "/rank_bulk/status": {
            "get": {
                "operationId": "rank_bulk_status",
                "tags": ["Service APIs"],
                "summary": "The status of a bulk ranking task.",
                "security": security,
                "parameters": [task_id_param],
                "responses": {
                    "200": _json(_ref("TaskStatus"), "The task's status."),
                    **task_errors,
                    **(unauthorized if protected else {}),
                    **timeout,
                },
            }
        },
        "/rank_bulk/get": {
            "get": {
                "operationId": "rank_bulk_get",
                "tags": ["Service APIs"],
                "summary": "The results of a completed bulk ranking task, in submission order.",
                "security": security,
                "parameters": [task_id_param],
                "responses": {
                    "200": _json(_ref("BulkRankingResponse"), "One result per request."),
                    **task_errors,
                    **not_completed,
                    **(unauthorized if protected else {}),
                    **timeout,
                },
            }
        },
        "/readyz": {
            "get": {
                "operationId": "readyz",
                "tags": ["Infrastructure"],
                "summary": "Readiness: model loaded and Redis answering; registry state.",
                "responses": {
                    "200": _json({"type": "object"}, "Ready."),
                    "503": _json({"type": "object"}, "Not ready; the body says why."),
                },
            }
        },
        "/livez": {
            "get": {
                "operationId": "livez",
                "tags": ["Infrastructure"],
                "summary": "Liveness.",
                "responses": {"200": {"description": "Alive."}},
            }
        },
        "/metrics": {
            "get": {
                "operationId": "metrics",
                "tags": ["Infrastructure"],
                "summary": "Prometheus metrics of every worker.",
                "responses": {"200": {"description": "Prometheus text format."}},
            }
        },
    }
    document: dict[str, Any] = {
        "openapi": "3.0.2",
        "info": {"title": title, "description": description, "version": "1"},
        "servers": [{"url": "."}],
        "tags": [
            {"name": "Service APIs", "description": "Driver ranking."},
            {"name": "Infrastructure", "description": "Health and metrics."},
        ],
        "paths": paths,
        "components": {"schemas": components},
    }
    if protected:
        document["components"]["securitySchemes"] = {
            "ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"}
        }
    return document


# --- 5. to 7.: requests answered or refused before BentoML's handlers ---------------------


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
        content_type = header(scope, b"content-type")
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
        length = header(scope, b"content-length")
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


# --- 8. log output under `bentoml serve` ----------------------------------------------------


def ensure_log_output() -> None:
    """Make the service's INFO lines (start-up, access log) visible under `bentoml serve`,
    which configures only its own loggers."""
    for name in ("online_service", "prediction_log"):
        package = logging.getLogger(name)
        if not package.handlers and not logging.getLogger().handlers:
            handler = logging.StreamHandler()
            handler.setFormatter(
                logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
            )
            package.addHandler(handler)
        if package.level == logging.NOTSET:
            package.setLevel(logging.INFO)


# --- wiring: the service's own middlewares and the fixes above, in front of BentoML ----------


def _json_response(content: object, status: int = 200) -> Response:
    return Response(
        json.dumps(content, default=str), status_code=status, media_type="application/json"
    )


async def _readyz() -> Response:
    service = bentoml.get_current_service()
    if service is None:
        return _json_response({"ready": False, "error": "starting"}, 503)
    ready, details = await service.readiness()
    return _json_response({"ready": ready, **details}, 200 if ready else 503)


async def _metrics() -> Response:
    import anyio.to_thread

    from online_service.metrics import render

    body, content_type = await anyio.to_thread.run_sync(render)  # reads every worker's files
    return Response(body, media_type=content_type)


_documents: dict[int, dict[str, Any]] = {}


async def _docs() -> Response:
    """The OpenAPI document, built once per worker and configuration (its limits are settings)."""
    service = bentoml.get_current_service()
    if service is None:
        return error_response(503, "unavailable", "the service is starting")
    settings = get_online_settings()
    document = _documents.get(id(settings))
    if document is None:
        description = sys.modules[type(service).__module__].__doc__ or ""
        document = _documents[id(settings)] = openapi_document(
            settings, title="driver_ranking", description=description
        )
    return _json_response(document)


def _api_key() -> str | None:
    key = get_online_settings().api_key
    return key.get_secret_value() if key is not None else None


_rules: dict[int, dict[str, BodyRule]] = {}


def _body_rules() -> dict[str, BodyRule]:
    settings = get_online_settings()  # cached; tests reset it between configurations
    rules = _rules.get(id(settings))
    if rules is None:
        bulk_model: type[BaseModel] = BulkRankingRequest
        rules = _rules[id(settings)] = {
            "/inference": BodyRule(settings.max_body_bytes, "SERVING_MAX_BODY_BYTES"),
            "/rank_bulk/submit": BodyRule(
                settings.bulk_max_body_bytes, "SERVING_BULK_MAX_BODY_BYTES", bulk_model
            ),
        }
    return rules


def install_middlewares(service: Any) -> None:
    """Add the middlewares to SERVICE (a `@bentoml.service` class). The first added is the
    outermost: every answer is counted, the 401/405/413/415 refusals included."""
    from online_service.metrics import get_metrics

    service.add_asgi_middleware(ObservedMiddleware, metrics=get_metrics)
    service.add_asgi_middleware(ApiKeyMiddleware, key_getter=_api_key)
    service.add_asgi_middleware(BodyLimitMiddleware, rules=_body_rules)
    service.add_asgi_middleware(
        OwnEndpointsMiddleware,
        handlers={"/readyz": _readyz, "/metrics": _metrics, "/docs.json": _docs},
        # BentoML adds these for every task; the service offers submit, status and get only.
        hidden=frozenset({"/rank_bulk", "/rank_bulk/retry", "/rank_bulk/cancel"}),
    )
    service.add_asgi_middleware(PendingResultMiddleware, path="/rank_bulk/get")
