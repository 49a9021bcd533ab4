"""The service's OpenAPI document (`/docs.json`, shown by the Swagger UI at `/`).

Written here rather than taken from BentoML, whose generated document disagreed with what the
service answers (found by `schemathesis run .../docs.json --checks all`): its 400 body has a
string `detail` where BentoML answers a list of error objects, it documents 404/500 bodies that
never come, no 401/413/422/503, and task statuses (`success`, `failure`) that its own task
store never reports (`completed`, `failed`). Every body here is a pydantic model of
`online/schemas.py`, the same models that build the answers, and the in-repo schemathesis test
checks the document against a served instance.
"""

from __future__ import annotations

import copy
from typing import Any

from pydantic import BaseModel

from online_service.schemas import (
    BulkRankingRequest,
    BulkRankingResponse,
    ErrorBody,
    InferenceRequest,
    InferenceResponse,
    ValidationErrorBody,
)
from online_service.settings import OnlineSettings

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


def build_document(settings: OnlineSettings, *, title: str, description: str) -> dict[str, Any]:
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
