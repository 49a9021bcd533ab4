"""The HTTP contract of `POST /inference`: request, answer and error bodies.

Typed pydantic models: they validate the input, document the API in the OpenAPI schema that
the Swagger UI shows, and serialize the answer in pydantic's compiled code (an untyped `dict`
return made BentoML rebuild a JSON schema for every response).
"""

from __future__ import annotations

import uuid
from collections import Counter
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from online_service.settings import get_online_settings

INT64_MAX = 2**63 - 1
EXAMPLE_IDS = [1001, 1002, 1003, 1004, 1005]


def _unique_and_bounded(driver_ids: list[int]) -> list[int]:
    """Refuse repeated ids and lists longer than the configured maximum."""
    limit = get_online_settings().max_driver_ids
    if len(driver_ids) > limit:
        raise ValueError(
            f"at most {limit} driver ids per request (got {len(driver_ids)}); "
            "split the request or raise SERVING_MAX_DRIVER_IDS"
        )
    if len(set(driver_ids)) != len(driver_ids):
        repeated = sorted(i for i, count in Counter(driver_ids).items() if count > 1)
        raise ValueError(f"driver ids must be unique; repeated: {repeated[:10]}")
    return driver_ids


def _bulk_bounded(requests: list[InferenceRequest]) -> list[InferenceRequest]:
    limit = get_online_settings().bulk_max_requests
    if len(requests) > limit:
        raise ValueError(
            f"at most {limit} requests per bulk task (got {len(requests)}); "
            "split the submission or raise SERVING_BULK_MAX_REQUESTS"
        )
    return requests


def new_request_id() -> str:
    """A request id for a caller that sent none (neither in the body nor as X-Request-ID)."""
    return uuid.uuid4().hex


DriverId = Annotated[int, Field(strict=True, ge=1, le=INT64_MAX)]
# Visible ASCII only: the id is echoed as the X-Request-ID header, and an HTTP header holds
# no control characters and nothing beyond Latin-1 (such an id used to end in a 500).
REQUEST_ID_PATTERN = r"^[!-~]{1,200}$"
RequestId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=200,
        pattern=REQUEST_ID_PATTERN,
        description=(
            "The caller's id for this request (1-200 visible ASCII characters, no spaces); "
            "echoed back (body and X-Request-ID) and logged. Optional: taken from the "
            "X-Request-ID header, else generated."
        ),
        examples=["uuid-1"],
    ),
]


class InferenceRequest(BaseModel):
    """Candidate drivers for one trip."""

    # `example` (OpenAPI 3.0) is what the Swagger UI pre-fills on "Try it out"; the fields'
    # `examples` (JSON Schema) alone leave it generating values from the bounds.
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"example": {"request_id": "uuid-1", "driver_ids": [*EXAMPLE_IDS]}},
    )

    # A default factory, not `None`: the field stays a plain string in the schema, and
    # `model_fields_set` still tells an absent id (the service then takes X-Request-ID).
    request_id: RequestId = Field(default_factory=new_request_id)
    driver_ids: Annotated[
        list[DriverId],
        Field(
            min_length=1,
            description=(
                "Candidate driver ids: unique positive integers, at most SERVING_MAX_DRIVER_IDS "
                "(default 1,000)."
            ),
            examples=[EXAMPLE_IDS],
            json_schema_extra={"uniqueItems": True},
        ),
        AfterValidator(_unique_and_bounded),
    ]


class DriverScore(BaseModel):
    """One driver's score: the model's probability that the trip is completed."""

    driver_id: int
    score: float = Field(description="Probability of completion, 0 to 1 (higher is better).")


class InferenceResponse(BaseModel):
    """The best driver, every scored driver best first, and who could not be scored."""

    request_id: str
    best_driver_id: int = Field(description="The driver most likely to complete the trip.")
    scores: list[DriverScore] = Field(description="Scored drivers, best first.")
    missing_driver_ids: list[int] = Field(
        description="Requested ids without (complete) online features; not scored."
    )
    model_name: str
    model_version: str


class ErrorBody(BaseModel):
    """The body of every error this service answers itself (401, 404, 413, 415, 422, 503)."""

    error: str = Field(
        description="A stable code: unauthorized, not_found, too_large, "
        "unsupported_media_type, no_features, unavailable."
    )
    message: str
    request_id: str | None = None
    missing_driver_ids: list[int] | None = None


class ValidationIssue(BaseModel):
    """One problem of an invalid body, as pydantic reports it."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(description="pydantic's error type, e.g. missing, int_type, value_error.")
    loc: list[str | int] = Field(description="Where: the field names and list positions.")
    msg: str


class ValidationErrorBody(BaseModel):
    """The 400 body: BentoML's validation answer (`detail[].loc` names the field)."""

    error: str = Field(description='"N validation error(s) for <model>".')
    detail: list[ValidationIssue]


class BulkRankingRequest(BaseModel):
    """Many ranking requests at once (for example a day's trips), answered by a task."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "requests": [
                    {"request_id": "trip-1", "driver_ids": [1001, 1002, 1003]},
                    {"request_id": "trip-2", "driver_ids": [1004, 1005]},
                ]
            }
        },
    )

    requests: Annotated[
        list[InferenceRequest],
        Field(
            min_length=1,
            description="Each one validated as a POST /inference body; at most "
            "SERVING_BULK_MAX_REQUESTS (default 10,000).",
        ),
        AfterValidator(_bulk_bounded),
    ]


class BulkRankingResult(BaseModel):
    """What POST /inference answers for one of the requests: its status and its body."""

    status: int = Field(description="200, 422 (no_features) or 503 (unavailable).")
    body: InferenceResponse | ErrorBody


class BulkRankingResponse(BaseModel):
    """The task's result: one entry per submitted request, in submission order."""

    results: list[BulkRankingResult]


def request_id_of(request: InferenceRequest, header_id: str | None) -> str:
    """The body's request id when given, else the X-Request-ID header's, else a new one."""
    if header_id is not None and "request_id" not in request.model_fields_set:
        return header_id
    return request.request_id
