"""Feast's file registry, written atomically (`registry_store_type` in feature_store.yaml).

Feast 0.67's `FileRegistryStore._write_registry` opens `registry.db` with mode "wb" (which
empties it) and then writes the new contents: a task killed in between (an OOM kill, a
container stopped mid-task) leaves an empty registry, and every later task then sees no feature
views until someone runs `feast apply` again (`tests/test_killed_materialize.py` stops
`materialize` there). This store writes the same bytes to a temporary file beside it and renames
it over the registry, so a reader sees the old registry or the new one, never a partial one.
"""

from __future__ import annotations

import os
import uuid

from feast.infra.registry.file import FileRegistryStore
from feast.protos.feast.core.Registry_pb2 import Registry as RegistryProto
from feast.utils import _utc_now
from mlops_common.files import atomic_path


class AtomicFileRegistryStore(FileRegistryStore):
    """Feast's local file registry store, replacing the file by a rename instead of rewriting
    it in place (the name must end in `RegistryStore`: Feast's rule for a store class)."""

    def _write_registry(self, registry_proto: RegistryProto) -> None:
        # What Feast's own method sets before writing (feast/infra/registry/file.py).
        registry_proto.version_id = str(uuid.uuid4())
        registry_proto.last_updated.FromDatetime(_utc_now())
        with atomic_path(self._filepath) as tmp:
            with open(tmp, mode="wb", buffering=0) as out:
                out.write(registry_proto.SerializeToString())
                os.fsync(out.fileno())
            os.chmod(tmp, 0o644)  # as Feast's file would be (mkstemp makes it 0600)
