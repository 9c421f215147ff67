"""matrices/forward_compat.toml (see its [meta] for sources): a stub that validates the file's shape.

The rules that read it give it row types and questions here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gpuconform.matrix_tables import TableMeta
from gpuconform.tables.rows import RowTable
from gpuconform.tables.rows import read_rows


@dataclass(frozen=True)
class ForwardCompat:
    """The rows of forward_compat.toml."""

    meta: TableMeta
    table: RowTable


def load_forward_compat(path: Path) -> ForwardCompat:
    """Read and check forward_compat.toml."""
    arrays: dict[str, dict[str, str]] = {
        "compat_package": {},
        "container_rule": {},
        "driver_branch": {},
        "error": {},
        "gpu_rule": {},
    }
    table = read_rows(path, "forward_compat", arrays)
    return ForwardCompat(table.meta, table)
