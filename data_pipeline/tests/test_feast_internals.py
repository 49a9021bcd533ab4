"""The Feast-internal details the fast paths rely on agree with Feast itself."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
from feast.infra.key_encoding_utils import serialize_entity_key
from feast.infra.offline_stores.offline_utils import DEFAULT_ENTITY_DF_EVENT_TIMESTAMP_COL
from feast.infra.online_stores.helpers import _mmh3
from feast.protos.feast.types.EntityKey_pb2 import EntityKey as EntityKeyProto
from feast.protos.feast.types.Value_pb2 import Value as ValueProto
from feast.value_type import ValueType
from feature_store import feast_internals


def test_entity_timestamp_column_is_feasts() -> None:
    assert feast_internals.ENTITY_TIMESTAMP_COLUMN == DEFAULT_ENTITY_DF_EVENT_TIMESTAMP_COL


def test_batched_keys_equal_feasts_key_for_each_entity() -> None:
    ids = [1001, 2**40 + 7, 1]
    values = feast_internals.proto_values(pa.array(ids, pa.int64()), ValueType.INT64)
    keys = feast_internals.redis_keys("proj", ["driver_id"], [values], 3)
    expected = [
        serialize_entity_key(
            EntityKeyProto(join_keys=["driver_id"], entity_values=[ValueProto(int64_val=i)]),
            entity_key_serialization_version=3,
        )
        + b"proj"
        for i in ids
    ]
    assert keys == expected
    build = feast_internals.int64_key_builder("proj", "driver_id", 3)
    assert [build(i) for i in ids] == expected


def test_values_round_trip_and_fields_are_feasts_hashes() -> None:
    column = pa.array([0.25, None, 0.25], pa.float32())
    serialized = feast_internals.serialized_values(column, ValueType.FLOAT)
    assert [feast_internals.decode_number(raw) for raw in serialized] == [0.25, None, 0.25]
    assert feast_internals.decode_number(None) is None
    assert feast_internals.hash_field("driver_stats", "conv_rate") == _mmh3(
        "driver_stats:conv_rate"
    )
    stamps = feast_internals.serialized_timestamps(pa.array([1_700_000_000_123_456_789]).to_numpy())
    assert feast_internals.timestamp_nanos(stamps[0]) == 1_700_000_000_123_456_789


_PROBE = """
import json, typeguard
from feature_store.feast_internals import feast_type_checks_skipped

checked = typeguard.typechecked
with feast_type_checks_skipped():
    from feast import Entity, FeatureView
    from ours import double  # a module of ours, beside this script

memo = "TypeCheckMemo"  # a name only typeguard's instrumented code uses
feast_code = FeatureView.__init__.__code__.co_names + Entity.__init__.__code__.co_names
print(json.dumps({
    "feast": memo in feast_code,
    "ours": memo in double.__code__.co_names,
    "restored": typeguard.typechecked is checked,
}))
"""
_OURS = """
from typeguard import typechecked


@typechecked
def double(x: int) -> int:
    return 2 * x
"""


def test_feast_imported_in_the_block_skips_typeguard_only_for_feast(tmp_path: Path) -> None:
    """Feast instruments its classes with typeguard at import (if that stops, delete
    `feast_type_checks_skipped`); inside the block they are Feast's plain functions, code
    outside Feast is still instrumented, and typeguard's decorator is restored."""
    (tmp_path / "ours.py").write_text(_OURS)

    def probe(code: str) -> dict[str, bool]:
        script = tmp_path / "probe.py"
        script.write_text(code)
        result = subprocess.run(
            [sys.executable, str(script)], capture_output=True, text=True, check=True, timeout=300
        )
        return dict(json.loads(result.stdout.splitlines()[-1]))

    plain = probe(_PROBE.replace("with feast_type_checks_skipped():", "if True:"))
    assert plain["feast"], "Feast no longer uses typeguard: drop feast_type_checks_skipped"
    assert plain["ours"]
    assert probe(_PROBE) == {"feast": False, "ours": True, "restored": True}
