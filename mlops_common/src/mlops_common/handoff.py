"""The base of every JSON hand-off between tasks: a typed model with its reader and writer.

A task reads what the task before it wrote as that model, never as a bare dict, so a renamed or
missing field fails where it is read, naming the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Self

from pydantic import BaseModel, ConfigDict, ValidationError

from mlops_common.errors import UserError
from mlops_common.files import read_json, write_json


class HandOff(BaseModel):
    """A JSON file one task writes and a later one reads."""

    model_config = ConfigDict(frozen=True)

    @classmethod
    def read(cls, path: Path) -> Self:
        try:
            return cls.model_validate(read_json(path))
        except (ValidationError, ValueError) as exc:
            raise UserError(
                f"{path} is not a valid {cls.__name__} ({exc.__class__.__name__}); re-run the "
                "task that writes it"
            ) from exc

    def write(self, path: Path) -> Path:
        """Write atomically; equal contents give byte-identical files."""
        return write_json(path, self.model_dump(mode="json"))
