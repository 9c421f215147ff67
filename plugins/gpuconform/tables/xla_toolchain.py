"""matrices/xla_toolchain.toml (see its [meta] for sources): a stub that validates the file's shape.

The rules that read it give it row types and questions here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gpuconform.matrix_tables import TableMeta
from gpuconform.tables.rows import RowTable
from gpuconform.tables.rows import read_rows


@dataclass(frozen=True)
class XlaToolchain:
    """The rows of xla_toolchain.toml."""

    meta: TableMeta
    table: RowTable


def load_xla_toolchain(path: Path) -> XlaToolchain:
    """Read and check xla_toolchain.toml."""
    arrays: dict[str, dict[str, str]] = {
        "message": {},
        "pip_location": {},
        "ptxas_arch": {},
        "ptxas_floor": {},
        "search": {},
    }
    table = read_rows(path, "xla_toolchain", arrays)
    return XlaToolchain(table.meta, table)
