"""Atomic writes: a reader sees the old file or the complete new one, never a partial one.

A writer killed mid-write (SIGKILL, an OOM kill, a stopped container) cannot remove its
temporary file; the next write of the same target does. A live writer holds an exclusive
`flock` on its temporary file and the kernel releases it when the process dies, however it
dies, so "unlocked" means "abandoned" (a pid check would not work across containers that share
a volume). Hand-written because it is one lock call per write, not a library's worth.
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import json
import logging
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa


logger = logging.getLogger(__name__)

TEMPORARY_SUFFIX = ".tmp"


def _temporaries(target: Path) -> list[Path]:
    """The temporary files `atomic_path` makes for TARGET: `.<name>.<random>.tmp` beside it."""
    return sorted(target.parent.glob(f".{glob.escape(target.name)}.*{TEMPORARY_SUFFIX}"))


def remove_abandoned_temporaries(target: Path) -> list[Path]:
    """Remove TARGET's temporary files whose writer died mid-write; the paths removed."""
    removed = []
    for path in _temporaries(target):
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            continue  # its writer just renamed or removed it
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            continue  # a live writer holds it
        else:
            path.unlink(missing_ok=True)
            removed.append(path)
        finally:
            os.close(fd)
    if removed:
        logger.info("removed %d temporary files of killed writers of %s", len(removed), target)
    return removed


@contextlib.contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path beside TARGET; on success rename it over TARGET.

    On an exception the temporary file is removed and TARGET is left as it was; temporary
    files of earlier writers that were killed are removed first.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_abandoned_temporaries(target)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=TEMPORARY_SUFFIX, dir=target.parent
    )
    tmp = Path(tmp_name)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # "in use" until this process closes it or dies
        yield tmp
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
        os.close(fd)


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
