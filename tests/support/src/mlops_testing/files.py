"""Which parquet files a piece of code opens: the window-bounded readers are tested on that."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest


def opened_parquet_files(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """A list that records, from now on, every file a pyarrow dataset, `pq.read_schema` or
    `pq.read_table` is given (the project's readers open parquet only through these)."""
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    opened: list[Path] = []
    dataset, read_schema, read_table = ds.dataset, pq.read_schema, pq.read_table

    def recording_dataset(source: Any, *args: Any, **kwargs: Any) -> Any:
        for where in [source] if isinstance(source, str | Path) else source:
            record(where)
        return dataset(source, *args, **kwargs)

    def record(where: Any) -> None:
        if isinstance(where, str | Path):  # not a file object (MLflow's artifacts)
            opened.append(Path(where))

    def recording_schema(where: Any, *args: Any, **kwargs: Any) -> Any:
        record(where)
        return read_schema(where, *args, **kwargs)

    def recording_table(where: Any, *args: Any, **kwargs: Any) -> Any:
        record(where)
        return read_table(where, *args, **kwargs)

    monkeypatch.setattr(ds, "dataset", recording_dataset)
    monkeypatch.setattr(pq, "read_schema", recording_schema)
    monkeypatch.setattr(pq, "read_table", recording_table)
    return opened


def plant_unreadable_history(folders: list[Path], hours: list[Any]) -> None:
    """A file that is not parquet in each hour partition of HOURS in each of FOLDERS: a reader
    that opened one would fail."""
    from mlops_common.partitions import partition_path

    for folder in folders:
        for hour in hours:
            partition = partition_path(folder, hour)
            partition.mkdir(parents=True, exist_ok=True)
            (partition / "elsewhere.parquet").write_bytes(b"not parquet: outside the window")
