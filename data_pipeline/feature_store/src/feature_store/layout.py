"""What a feature service is made of, read from the Feast registry: the one description that
training extraction, the batch engines and the online reader all work from.

Source files, timestamp and created columns, ttl, join keys, features and their types all come
from the applied feature service, so no reader can drift from the feature repo.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
from mlops_common.errors import UserError

from feature_store import feast_internals

if TYPE_CHECKING:
    from feast import FeatureService, FeatureStore
    from feast.data_source import DataSource


@dataclass(frozen=True)
class FeatureColumn:
    """One served feature: its output name, its column in the source file, its arrow type."""

    name: str
    source_column: str
    arrow_type: pa.DataType


@dataclass(frozen=True)
class ViewSource:
    """One feature view of the service as a point-in-time join reads it."""

    name: str  # as the service refers to the view (its alias, if any): refs are name:feature
    path: Path
    timestamp_field: str
    created_field: str | None
    ttl: timedelta | None
    join_keys: dict[str, str]  # source column -> request column
    features: tuple[FeatureColumn, ...]


@dataclass(frozen=True)
class OnlineView:
    """Where one feature view's served features live in the Redis online store."""

    stored_name: str
    join_keys: tuple[str, ...]
    features: tuple[str, ...]
    hash_fields: tuple[bytes, ...]


def feature_service(
    store: FeatureStore, name: str, apply_command: str = "data-pipeline feast-apply"
) -> FeatureService:
    """The applied feature service NAME, or a UserError saying to run APPLY_COMMAND."""
    from feast.errors import FeastObjectNotFoundException

    try:
        return store.get_feature_service(name)
    except FeastObjectNotFoundException as exc:
        raise UserError(
            f"feature service {name!r} is not in the Feast registry "
            f"({store.config.registry.path}); run `{apply_command}` first"
        ) from exc


def feature_refs(service: FeatureService) -> list[tuple[str, str]]:
    """(feature view, feature) pairs of SERVICE, in the service's order."""
    return [
        (projection.name_to_use(), field.name)
        for projection in service.feature_view_projections
        for field in projection.features
    ]


def parquet_path(store: FeatureStore, source: DataSource | None) -> Path | None:
    """The parquet file behind SOURCE: a FileSource, or a SparkSource over a parquet path (the
    same file under FEAST_OFFLINE_STORE=spark); None for any other source (a table, a query)."""
    from feast import FileSource

    if isinstance(source, FileSource):
        return Path(FileSource.get_uri_for_file_path(store.repo_path, source.path))
    if type(source).__name__ == "SparkSource":  # no pyspark import unless it is one
        path, file_format = getattr(source, "path", None), getattr(source, "file_format", None)
        if path and file_format == "parquet":
            return Path(FileSource.get_uri_for_file_path(store.repo_path, path))
    return None


def service_sources(store: FeatureStore, service: FeatureService) -> list[ViewSource]:
    """The parquet sources behind SERVICE's feature views, in the service's order."""
    from feast.types import from_feast_to_pyarrow_type

    sources = []
    for projection in service.feature_view_projections:
        view = store.get_feature_view(projection.name)
        source = view.batch_source
        path = parquet_path(store, source)
        if source is None or path is None:
            raise UserError(
                f"feature view {view.name!r} reads {type(source).__name__}, which the fast "
                "engines do not support (they read parquet files); run with --engine feast"
            )
        # field_mapping renames source columns to feature names: invert it to read the file.
        to_source = {feature: column for column, feature in source.field_mapping.items()}
        join_keys = projection.join_key_map or {c.name: c.name for c in view.entity_columns}
        sources.append(
            ViewSource(
                name=projection.name_to_use(),
                path=path,
                timestamp_field=to_source.get(source.timestamp_field, source.timestamp_field),
                created_field=(
                    to_source.get(source.created_timestamp_column, source.created_timestamp_column)
                    or None
                ),
                ttl=view.ttl or None,
                join_keys={to_source.get(k, k): v for k, v in join_keys.items()},
                features=tuple(
                    FeatureColumn(
                        name=field.name,
                        source_column=to_source.get(field.name, field.name),
                        arrow_type=from_feast_to_pyarrow_type(field.dtype),
                    )
                    for field in projection.features
                ),
            )
        )
    return sources


def source_to_json(source: ViewSource) -> dict[str, object]:
    """SOURCE as JSON (arrow types as serialized IPC schemas, exact for any type)."""
    schema = pa.schema([pa.field(f.name, f.arrow_type) for f in source.features])
    return {
        "name": source.name,
        "path": str(source.path),
        "timestamp_field": source.timestamp_field,
        "created_field": source.created_field,
        "ttl_seconds": None if source.ttl is None else source.ttl.total_seconds(),
        "join_keys": source.join_keys,
        "features": [[f.name, f.source_column] for f in source.features],
        "arrow_schema": base64.b64encode(schema.serialize().to_pybytes()).decode(),
    }


def source_from_json(data: dict[str, Any]) -> ViewSource:
    """The ViewSource `source_to_json` wrote."""
    schema = pa.ipc.read_schema(pa.py_buffer(base64.b64decode(data["arrow_schema"])))
    return ViewSource(
        name=data["name"],
        path=Path(data["path"]),
        timestamp_field=data["timestamp_field"],
        created_field=data["created_field"],
        ttl=None if data["ttl_seconds"] is None else timedelta(seconds=data["ttl_seconds"]),
        join_keys=dict(data["join_keys"]),
        features=tuple(
            FeatureColumn(name, column, schema.field(name).type)
            for name, column in data["features"]
        ),
    )


def source_feature_refs(sources: list[ViewSource]) -> list[tuple[str, str]]:
    """(feature view, feature) pairs of the service SOURCES describe, in its order: what
    `feature_refs` gives for the service itself, without importing Feast."""
    return [(source.name, feature.name) for source in sources for feature in source.features]


def request_join_keys(sources: list[ViewSource]) -> list[str]:
    """The request columns the views join on (each once, in first-seen order)."""
    keys: list[str] = []
    for source in sources:
        keys += [k for k in source.join_keys.values() if k not in keys]
    return keys


def online_views(store: FeatureStore, service: FeatureService) -> list[OnlineView]:
    """SERVICE's feature views as the Redis online store holds them, in the service's order."""
    views = []
    for projection in service.feature_view_projections:
        view = store.get_feature_view(projection.name)
        stored = feast_internals.stored_view_name(view, store)
        features = tuple(feature.name for feature in projection.features)
        views.append(
            OnlineView(
                stored_name=stored,
                join_keys=tuple(view.join_keys),
                features=features,
                hash_fields=tuple(feast_internals.hash_field(stored, name) for name in features),
            )
        )
    return views
