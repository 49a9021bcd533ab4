"""Atomic writes: a reader sees the old file or the complete new one, never a partial one."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa


@contextlib.contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path beside TARGET; on success rename it over TARGET.

    On an exception the temporary file is removed and TARGET is left as it was.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def write_json(target: Path, payload: Any) -> Path:
    """Write PAYLOAD as indented, key-sorted JSON atomically (byte-identical for equal input)."""
    with atomic_path(target) as tmp:
        tmp.write_text(json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n")
    return target


def read_json(source: Path) -> Any:
    return json.loads(source.read_text())


def write_parquet(table: pa.Table, target: Path, **options: Any) -> Path:
    """Write TABLE to TARGET atomically with `pyarrow.parquet.write_table(**OPTIONS)`.

    Equal tables give byte-identical files: the layout is fixed by the options and the writer
    adds no time of its own.
    """
    import pyarrow.parquet as pq

    with atomic_path(target) as tmp:
        pq.write_table(table, tmp, **options)
    return target
