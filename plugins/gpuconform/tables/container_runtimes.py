"""matrices/container_runtimes.toml (see its [meta] for sources): a stub that validates the file's shape.

The rules that read it give it row types and questions here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gpuconform.matrix_tables import TableMeta
from gpuconform.tables.rows import RowTable
from gpuconform.tables.rows import read_rows


@dataclass(frozen=True)
class ContainerRuntimes:
    """The rows of container_runtimes.toml."""

    meta: TableMeta
    table: RowTable


def load_container_runtimes(path: Path) -> ContainerRuntimes:
    """Read and check container_runtimes.toml."""
    table = read_rows(path, "container_runtimes", {"runtime": {}, "refusal": {}})
    return ContainerRuntimes(table.meta, table)
