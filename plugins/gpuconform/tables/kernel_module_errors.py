"""matrices/kernel_module_errors.toml (see its [meta] for sources): a stub that validates the file's shape.

The rules that read it give it row types and questions here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gpuconform.matrix_tables import TableMeta
from gpuconform.tables.rows import RowTable
from gpuconform.tables.rows import read_rows


@dataclass(frozen=True)
class KernelModuleErrors:
    """The rows of kernel_module_errors.toml."""

    meta: TableMeta
    table: RowTable


def load_kernel_module_errors(path: Path) -> KernelModuleErrors:
    """Read and check kernel_module_errors.toml."""
    table = read_rows(path, "kernel_module_errors", {"message": {}})
    return KernelModuleErrors(table.meta, table)
