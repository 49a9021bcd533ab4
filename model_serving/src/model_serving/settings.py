"""Settings of model serving's batch part: which point-in-time engine and its resource limits."""

from __future__ import annotations

from typing import Literal

from mlops_common.settings import cached_settings, settings_config
from pydantic import Field
from pydantic_settings import BaseSettings

Engine = Literal["sorted", "duckdb", "feast"]


class BatchSettings(BaseSettings):
    """How the batch serving tasks join features and how much of the machine they may use."""

    model_config = settings_config("BATCH_")

    engine: Engine = Field(
        "sorted",
        description="Point-in-time join: `sorted` (numpy sorted search, fastest), `duckdb` "
        "(ASOF JOIN) or `feast` (Feast's offline store, the reference; slow and memory "
        "hungry on large request files).",
    )
    duckdb_threads: int | None = Field(None, ge=1, description="DuckDB threads; default: cores.")
    duckdb_memory_limit: str = Field(
        "1GB", description="DuckDB's buffer limit; it spills to disk beyond it."
    )


@cached_settings
def get_batch_settings() -> BatchSettings:
    return BatchSettings()
