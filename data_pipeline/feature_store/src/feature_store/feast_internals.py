"""Every detail of Feast's internals that the project's fast paths rely on, in one place.

The fast materialization (`data_pipeline.materialize`) and the online reader
(`online_service.features`) write and read Feast's Redis online store directly, and the
point-in-time engines join Feast's offline sources directly, because Feast's own paths cost
3-10x more here (see the pipeline READMEs). To stay Feast's layout rather than a copy of it,
they build keys, hash fields and values only through the functions below. Each names the Feast
function it mirrors or calls, and the test that proves the result equal to Feast's own path:

- `data_pipeline/tests/test_materialize.py`: fast materialization == Feast's materialize
  (same Redis keys, fields and values);
- `model_serving/tests/online/test_features.py`: the online reader == `get_online_features`;
- `model_serving/tests/batch/test_point_in_time.py` (request files) and
  `training_pipeline/tests/integration/test_extract_engines.py` (the training set): the
  point-in-time engines (`feature_store.point_in_time`) == `get_historical_features`.

A Feast upgrade is checked here and by those tests.
"""

from __future__ import annotations

import contextlib
import functools
import struct
from collections.abc import Callable, Iterator, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pyarrow as pa

if TYPE_CHECKING:
    from feast import FeatureStore, FeatureView
    from feast.protos.feast.types.Value_pb2 import Value as ValueProto
    from feast.value_type import ValueType

# Feast's name for the request time of an entity row; the offline store joins "as of" it
# (`feast.infra.offline_stores.offline_utils.DEFAULT_ENTITY_DF_EVENT_TIMESTAMP_COL`; a test
# checks the two agree, so importing Feast is not needed to know the name).
ENTITY_TIMESTAMP_COLUMN = "event_timestamp"


# --- importing Feast -------------------------------------------------------------------------


@contextlib.contextmanager
def feast_type_checks_skipped() -> Iterator[None]:
    """Feast modules imported inside the block skip typeguard's `@typechecked`.

    Feast decorates its definition classes (FeatureView, Entity, Field, FeatureService, the data
    sources, ...) with typeguard's `@typechecked`, which, for every method, re-reads, parses
    and compiles the whole defining module at import time: 4.5 of the 6.4 s `import feast`
    takes here (1.7 s without; 2026-12-02). The checks guard hand-written definitions, which
    `feast apply` still checks; a task that only reads definitions back from the registry
    (materialize) gains nothing from them. Only targets defined in `feast` modules skip the
    decorator, only for the modules imported in the block (Feast already imported: no effect),
    and typeguard's own decorator is back afterwards. Hand-written because typeguard's one
    switch is `python -O`, which would also strip every assert of every package.
    `tests/test_feast_internals.py` checks that Feast still instruments its classes (this is
    to be deleted when it stops) and that they are plain inside the block.
    """
    try:
        import typeguard
    except ImportError:  # a Feast release without typeguard: nothing to skip
        yield
        return
    checked = typeguard.typechecked

    def typechecked(target: Any = None, **options: Any) -> Any:
        if target is None:  # `@typechecked(...)` with options
            return functools.partial(typechecked, **options)
        if str(getattr(target, "__module__", "")).split(".")[0] == "feast":
            return target
        return checked(target, **options)

    typeguard.typechecked = typechecked
    try:
        yield
    finally:
        typeguard.typechecked = checked


# --- the Redis online store's layout (feast.infra.online_stores.redis / helpers) ------------


def stored_view_name(view: FeatureView, store: FeatureStore) -> str:
    """The name VIEW's values are stored under: `redis._versioned_fv_name` (a `_vN` suffix
    when the registry enables online feature-view versioning)."""
    from feast.infra.online_stores.redis import _versioned_fv_name

    return str(_versioned_fv_name(view, store.config))


def hash_field(stored_view: str, feature: str) -> bytes:
    """The Redis hash field of one feature: `helpers._mmh3("<view>:<feature>")`, as
    `RedisOnlineStore.online_write_batch` writes it."""
    from feast.infra.online_stores.helpers import _mmh3

    return bytes(_mmh3(f"{stored_view}:{feature}"))


def timestamp_field(stored_view: str) -> bytes:
    """The hash field holding the row's event time: `_ts:<view>` (`online_write_batch`)."""
    return f"_ts:{stored_view}".encode()


def redis_key(
    project: str, join_keys: Sequence[str], values: Sequence[ValueProto], version: int
) -> bytes:
    """One entity's Redis key, by Feast's `helpers._redis_key` itself."""
    from feast.infra.online_stores.helpers import _redis_key
    from feast.protos.feast.types.EntityKey_pb2 import EntityKey as EntityKeyProto

    entity = EntityKeyProto(join_keys=list(join_keys), entity_values=list(values))
    return bytes(_redis_key(project, entity, entity_key_serialization_version=version))


def redis_keys(
    project: str, join_keys: list[str], entity_values: list[list[ValueProto]], version: int
) -> list[bytes]:
    """The Redis keys of many entities, equal to `helpers._redis_key` for each.

    `_redis_key` costs ~11 us per key (a third of a materialization's write). For the common
    single join key, the key is `serialize_entity_key_prefix` + the value's type, length and
    `_serialize_val` bytes + the project (the body of `serialize_entity_key`); the first key is
    checked against `_redis_key`, and any difference (a future Feast layout) falls back to
    `_redis_key` for every key.
    """
    from feast.infra.key_encoding_utils import _serialize_val, serialize_entity_key_prefix

    rows = list(zip(*entity_values, strict=True))
    if len(join_keys) != 1 or not rows:
        return [redis_key(project, join_keys, values, version) for values in rows]
    prefix = serialize_entity_key_prefix(join_keys, entity_key_serialization_version=version)
    suffix = project.encode("utf-8")
    keys = []
    for (value,) in rows:
        body, value_type = _serialize_val(value.WhichOneof("val"), value, version)
        keys.append(b"".join((prefix, struct.pack("<II", value_type, len(body)), body, suffix)))
    if keys[0] == redis_key(project, join_keys, rows[0], version):
        return keys
    return [redis_key(project, join_keys, values, version) for values in rows]


def int64_key_builder(
    project: str, join_key: str, version: int, cache_size: int = 200_000
) -> Callable[[int], bytes]:
    """A cached `id -> Redis key` for an INT64 join key (`_redis_key`; keys are pure functions
    of the id, and building one costs a few microseconds)."""
    from feast.protos.feast.types.Value_pb2 import Value as ValueProto

    @lru_cache(maxsize=cache_size)
    def key(entity_id: int) -> bytes:
        return redis_key(project, [join_key], [ValueProto(int64_val=entity_id)], version)

    return key


def proto_field(value_type: ValueType) -> str:
    """The `ValueProto` field a scalar of VALUE_TYPE is stored in
    (`type_map.PYTHON_SCALAR_VALUE_TYPE_TO_PROTO_VALUE`)."""
    from feast.type_map import PYTHON_SCALAR_VALUE_TYPE_TO_PROTO_VALUE

    return str(PYTHON_SCALAR_VALUE_TYPE_TO_PROTO_VALUE[value_type][0])


def proto_values(column: pa.Array, value_type: ValueType) -> list[ValueProto]:
    """COLUMN's values as `ValueProto`s, as `type_map.python_values_to_proto_values` builds
    scalars (None -> an empty proto)."""
    from feast.protos.feast.types.Value_pb2 import Value as ValueProto

    field = proto_field(value_type)
    return [ValueProto() if v is None else ValueProto(**{field: v}) for v in column.to_pylist()]


def serialized_values(column: pa.Array, value_type: ValueType) -> list[bytes]:
    """COLUMN as serialized `ValueProto`s (see `proto_values`), each distinct value built once
    (counts and clipped rates repeat a lot)."""
    from feast.protos.feast.types.Value_pb2 import Value as ValueProto

    field = proto_field(value_type)
    built: dict[object, bytes] = {}
    out = []
    for value in column.to_pylist():
        serialized = built.get(value)
        if serialized is None:
            proto = ValueProto() if value is None else ValueProto(**{field: value})
            serialized = built[value] = proto.SerializeToString()
        out.append(serialized)
    return out


def serialized_timestamps(nanos: np.ndarray) -> list[bytes]:
    """Event times (ns since the epoch) as serialized protobuf `Timestamp`s, as
    `online_write_batch` stores them; each distinct time is built once (most rows of a run
    share its last hour)."""
    from google.protobuf.timestamp_pb2 import Timestamp

    built: dict[int, bytes] = {}
    out = []
    for value in nanos.tolist():
        serialized = built.get(value)
        if serialized is None:
            seconds, remainder = divmod(value, 1_000_000_000)
            serialized = built[value] = Timestamp(
                seconds=seconds, nanos=remainder
            ).SerializeToString()
        out.append(serialized)
    return out


def timestamp_nanos(stored: bytes) -> int:
    """A stored `_ts:<view>` value as ns since the epoch (for Feast's newer-row rule)."""
    from google.protobuf.timestamp_pb2 import Timestamp

    previous = Timestamp.FromString(stored)
    return int(previous.seconds * 1_000_000_000 + previous.nanos)


def decode_number(raw: bytes | None) -> float | None:
    """A stored `ValueProto` as a float (None when absent or null), as `get_online_features`
    turns it into a Python value."""
    if not raw:
        return None
    from feast.protos.feast.types.Value_pb2 import Value as ValueProto

    proto = ValueProto.FromString(raw)
    kind = proto.WhichOneof("val")
    if kind is None or kind == "null_val":
        return None
    value = getattr(proto, kind)
    if isinstance(value, bool | int | float):
        return float(value)
    raise TypeError(f"feature value of type {kind} is not numeric; the model needs numbers")


# --- private FeatureStore calls -------------------------------------------------------------


def online_store_client(store: FeatureStore) -> Any:
    """The redis-py client of STORE's Redis online store (`RedisOnlineStore._get_client`)."""
    from feast.infra.online_stores.redis import RedisOnlineStore

    online_store = store._get_provider().online_store
    assert isinstance(online_store, RedisOnlineStore)
    return online_store._get_client(store.config.online_store)


def redis_topology(store: FeatureStore) -> Literal["standalone", "cluster"] | None:
    """Which Redis STORE's online store is: "standalone" (`redis_type: redis`), "cluster"
    (`redis_type: redis_cluster`), None for any other store (sentinel, not Redis)."""
    from feast.infra.online_stores.redis import RedisOnlineStore, RedisType

    online = store.config.online_store
    if not isinstance(store._get_provider().online_store, RedisOnlineStore):
        return None
    redis_type = getattr(online, "redis_type", None)
    if redis_type == RedisType.redis:
        return "standalone"
    if redis_type == RedisType.redis_cluster:
        return "cluster"
    return None


def redis_startup_nodes(store: FeatureStore) -> list[tuple[str, int]]:
    """The host:port entries of STORE's Redis `connection_string`, as
    `RedisOnlineStore._parse_connection_string` reads them (options such as `password=` are
    not nodes)."""
    from feast.infra.online_stores.redis import RedisOnlineStore

    nodes, _options = RedisOnlineStore._parse_connection_string(
        store.config.online_store.connection_string
    )
    return [(str(node["host"]), int(node["port"])) for node in nodes]


def record_materialization(store: FeatureStore, view: FeatureView, start: Any, end: Any) -> None:
    """Record [START, END] as materialized for VIEW, as `FeatureStore.materialize` does
    (`registry.apply_materialization`, then `_precompute_affected_services`)."""
    store.registry.apply_materialization(view, store.project, start, end)
    store._precompute_affected_services([view.name])
