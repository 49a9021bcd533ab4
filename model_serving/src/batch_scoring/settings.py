"""Settings of batch scoring (prefix `BATCH_`): the point-in-time engine, its rule, its limits."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from mlops_common.settings import cached_settings, settings_config
from pydantic import Field
from pydantic_settings import BaseSettings

if TYPE_CHECKING:  # numpy and pyarrow: only for the commands that join
    from feature_store.point_in_time import JoinOptions

Engine = Literal["sorted", "duckdb", "feast", "spark"]
SparkJoin = Literal["asof", "feast"]


class BatchSettings(BaseSettings):
    """How the batch serving tasks join features and how much of the machine they may use."""

    model_config = settings_config("BATCH_")

    engine: Engine = Field(
        "sorted",
        description="Point-in-time join: `sorted` (numpy sorted search, fastest), `duckdb` "
        "(ASOF JOIN), `feast` (Feast's offline store, the reference; slow and memory "
        "hungry on large request files) or `spark` (Feast's Spark offline store, the champion "
        "as `mlflow.pyfunc.spark_udf`, partitioned parquet output; needs "
        "FEAST_OFFLINE_STORE=spark and the SPARK_* settings).",
    )
    created_cutoff: bool = Field(
        False,
        description="Ignore feature rows created after the request time (Feast's "
        "`filter_by_created_timestamp`), in every engine: a request sees only values known at "
        "its time, as the online store would have served them, never a later backfill. Off: "
        "the best values known now (Feast's default), e.g. scoring with corrected data.",
    )
    spark_join: SparkJoin = Field(
        "asof",
        description="The spark engine's point-in-time join: `asof` (one sort of requests and "
        "feature rows per join key, driven by the registry layout; the range join with the "
        "created cutoff) or `feast` (Feast's Spark offline store: a range join over every row "
        "in ttl, several times slower here; see the README).",
    )
    score_challenger: bool = Field(
        False,
        description="Also score every row with the challenger (alias `challenger`, when one "
        "exists): columns `challenger_prediction` and `challenger_version` in the output and "
        "the prediction log's challenger columns; the answer stays the champion's. Not with "
        "the spark engine.",
    )
    duckdb_threads: int | None = Field(None, ge=1, description="DuckDB threads; default: cores.")
    duckdb_memory_limit: str = Field(
        "1GB", description="DuckDB's buffer limit; it spills to disk beyond it."
    )

    def join_options(self) -> JoinOptions:
        """What the point-in-time engines (`feature_store.point_in_time`) take from these."""
        from feature_store.point_in_time import JoinOptions

        return JoinOptions(
            created_cutoff=self.created_cutoff,
            duckdb_threads=self.duckdb_threads,
            duckdb_memory_limit=self.duckdb_memory_limit,
        )


@cached_settings
def get_batch_settings() -> BatchSettings:
    return BatchSettings()
