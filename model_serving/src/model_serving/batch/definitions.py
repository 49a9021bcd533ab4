"""What the fast point-in-time join needs to know, read from the Feast registry.

Source file, timestamp and created columns, ttl, join keys and feature columns all come from
the applied feature service, so the fast path cannot drift from the feature repo.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
from feast import FeatureService, FeatureStore, FileSource
from feast.errors import FeastObjectNotFoundException
from feast.types import from_feast_to_pyarrow_type
from mlops_common.errors import UserError


@dataclass(frozen=True)
class FeatureColumn:
    """One served feature: its output name, its column in the source file, its arrow type."""

    name: str
    source_column: str
    arrow_type: pa.DataType


@dataclass(frozen=True)
class ViewSource:
    """One feature view of the service as a point-in-time join reads it."""

    name: str
    path: Path
    timestamp_field: str
    created_field: str | None
    ttl: timedelta | None
    join_keys: dict[str, str]  # source column -> request column
    features: tuple[FeatureColumn, ...]


def feature_service(store: FeatureStore, name: str) -> FeatureService:
    """The applied feature service NAME, or a UserError saying to run `feast-apply`."""
    try:
        return store.get_feature_service(name)
    except FeastObjectNotFoundException as exc:
        raise UserError(
            f"feature service {name!r} is not in the Feast registry "
            f"({store.config.registry.path}); run `model-serving feast-apply` first"
        ) from exc


def service_sources(store: FeatureStore, service: FeatureService) -> list[ViewSource]:
    """The file sources behind SERVICE's feature views, in the service's order."""
    sources = []
    for projection in service.feature_view_projections:
        view = store.get_feature_view(projection.name)
        source = view.batch_source
        if not isinstance(source, FileSource):
            raise UserError(
                f"feature view {view.name!r} reads {type(source).__name__}, which the duckdb "
                "engine does not support; run with --engine feast"
            )
        # field_mapping renames source columns to feature names: invert it to read the file.
        to_source = {feature: column for column, feature in source.field_mapping.items()}
        join_keys = projection.join_key_map or {c.name: c.name for c in view.entity_columns}
        path = Path(FileSource.get_uri_for_file_path(store.repo_path, source.path))
        sources.append(
            ViewSource(
                name=view.name,
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


def request_join_keys(sources: list[ViewSource]) -> list[str]:
    """The request columns the views join on (each once, in first-seen order)."""
    keys: list[str] = []
    for source in sources:
        keys += [k for k in source.join_keys.values() if k not in keys]
    return keys
