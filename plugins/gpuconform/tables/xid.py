"""matrices/xid.toml (see its [meta] for sources): a stub that validates the file's shape.

The rules that read it give it row types and questions here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gpuconform.matrix_tables import TableMeta
from gpuconform.tables.rows import RowTable
from gpuconform.tables.rows import read_rows


@dataclass(frozen=True)
class XidTable:
    """The rows of xid.toml."""

    meta: TableMeta
    table: RowTable


def load_xid(path: Path) -> XidTable:
    """Read and check xid.toml."""
    table = read_rows(path, "xid", {"xid": {}})
    return XidTable(table.meta, table)
