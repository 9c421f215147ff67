"""matrices/library_search.toml (see its [meta] for sources): a stub that validates the file's shape.

The rules that read it give it row types and questions here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gpuconform.matrix_tables import TableMeta
from gpuconform.tables.rows import RowTable
from gpuconform.tables.rows import read_rows


@dataclass(frozen=True)
class LibrarySearch:
    """The rows of library_search.toml."""

    meta: TableMeta
    table: RowTable


def load_library_search(path: Path) -> LibrarySearch:
    """Read and check library_search.toml."""
    table = read_rows(path, "library_search", {"origin": {}, "release": {}})
    return LibrarySearch(table.meta, table)
