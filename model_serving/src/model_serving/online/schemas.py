"""The HTTP contract of `POST /inference`: request, answer and error bodies.

Typed pydantic models: they validate the input, document the API in the OpenAPI schema that
the Swagger UI shows, and serialize the answer in pydantic's compiled code (an untyped `dict`
return made BentoML rebuild a JSON schema for every response).
"""

from __future__ import annotations

from collections import Counter
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from model_serving.online.settings import get_online_settings

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


DriverId = Annotated[int, Field(strict=True, ge=1, le=INT64_MAX)]


class InferenceRequest(BaseModel):
    """Candidate drivers for one trip."""

    # `example` (OpenAPI 3.0) is what the Swagger UI pre-fills on "Try it out"; the fields'
    # `examples` (JSON Schema) alone leave it generating values from the bounds.
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"example": {"request_id": "uuid-1", "driver_ids": [*EXAMPLE_IDS]}},
    )

    request_id: Annotated[
        str,
        Field(
            min_length=1,
            max_length=200,
            description="The caller's id for this request; echoed back and logged.",
            examples=["uuid-1"],
        ),
    ]
    driver_ids: Annotated[
        list[DriverId],
        Field(
            min_length=1,
            description=(
                "Candidate driver ids: unique positive integers, at most SERVING_MAX_DRIVER_IDS "
                "(default 1,000)."
            ),
            examples=[EXAMPLE_IDS],
        ),
        AfterValidator(_unique_and_bounded),
    ]


class DriverScore(BaseModel):
    """One driver's completion score (higher is better)."""

    driver_id: int
    score: float


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
    """The body of every error this service answers itself (401, 422, 503)."""

    error: str = Field(description="A stable code: unauthorized, no_features, unavailable.")
    message: str
    request_id: str | None = None
    missing_driver_ids: list[int] | None = None
