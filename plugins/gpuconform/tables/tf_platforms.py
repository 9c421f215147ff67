"""matrices/tf_platforms.toml (see its [meta] for sources): a stub that validates the file's shape.

The rules that read it give it row types and questions here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gpuconform.matrix_tables import TableMeta
from gpuconform.tables.rows import RowTable
from gpuconform.tables.rows import read_rows


@dataclass(frozen=True)
class TfPlatforms:
    """The rows of tf_platforms.toml."""

    meta: TableMeta
    table: RowTable


def load_tf_platforms(path: Path) -> TfPlatforms:
    """Read and check tf_platforms.toml."""
    table = read_rows(path, "tf_platforms", {"distribution": {}, "install_guide": {}, "platform": {}})
    return TfPlatforms(table.meta, table)
