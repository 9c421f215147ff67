"""matrices/architectures.toml (see its [meta] for sources): a stub that validates the file's shape.

The rules that read it give it row types and questions here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gpuconform.matrix_tables import TableMeta
from gpuconform.tables.rows import RowTable
from gpuconform.tables.rows import read_rows


@dataclass(frozen=True)
class Architectures:
    """The rows of architectures.toml."""

    meta: TableMeta
    table: RowTable


def load_architectures(path: Path) -> Architectures:
    """Read and check architectures.toml."""
    table = read_rows(path, "architectures", {"arch": {}})
    return Architectures(table.meta, table)
