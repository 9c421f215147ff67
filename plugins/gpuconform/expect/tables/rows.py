"""A table read as its [meta] and its arrays of rows: the common shape every rule table starts from."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gpuconform.expect.tables.reader import Reader
from gpuconform.expect.tables.reader import TableMeta


@dataclass(frozen=True)
class RowTable:
    """The validated [meta] of a file and its arrays of tables, by array name."""

    meta: TableMeta
    rows: Mapping[str, tuple[Mapping[str, Any], ...]]


def read_rows(path: Path, name: str, arrays: Mapping[str, Mapping[str, str]]) -> RowTable:
    """Read `path`: a [meta] table and the arrays of tables `arrays` names, each row checked
    against its schema (key -> kind; a key ending in "?" is optional; {} accepts any keys)."""
    reader = Reader(path)
    meta = reader.meta(name, {"meta": "table", **{f"{array}?": "tables" for array in arrays}})
    rows = {
        array: tuple(row for _, row in reader.rows(array, dict(schema))) if array in reader.data else ()
        for array, schema in arrays.items()
    }
    return RowTable(meta, rows)
