"""Which data tables a run judged the host by, and how current each one is.

result.json (`matrices`) and the HTML report list every table with its `[meta] as_of`
date, so that a verdict read months later says which state of the world it assumed: a
GPU, driver branch or TensorFlow release newer than that date is one the data did not
know (the checks say so by name, `Matrices.stale`).
"""

from __future__ import annotations

from typing import TypedDict

from gpuconform.expect.matrix import Matrices
from gpuconform.expect.tables.reader import TABLE_FILES
from gpuconform.facts.errors import DataError


class TableUsed(TypedDict):
    table: str  # "tensorflow.toml"
    title: str
    as_of: str  # ISO date, "2026-12-01"
    source: str  # the file it was read from


def tables_used(matrices: Matrices) -> list[TableUsed]:
    """The compatibility matrices of this run, then the shipped soname and Keras tables."""
    rows: list[TableUsed] = [
        {"table": TABLE_FILES[name], "title": m.title, "as_of": m.as_of.isoformat(), "source": m.source}
        for name, m in matrices.meta.items()
    ]
    from gpuconform.expect.tables.keras_preprocessing import load_keras_matrix
    from gpuconform.expect.tables.sonames import default_path
    from gpuconform.expect.tables.sonames import load_sonames

    try:
        sonames = load_sonames()
        rows.append(
            {
                "table": "sonames.toml",
                "title": "Sonames TensorFlow dlopens",
                "as_of": sonames.as_of.isoformat(),
                "source": str(default_path()),
            }
        )
    except DataError:
        pass  # the libraries layer reports a broken soname table itself
    try:
        keras = load_keras_matrix()
        rows.append(
            {
                "table": "keras_preprocessing.toml",
                "title": keras.meta.title,
                "as_of": keras.meta.as_of.isoformat(),
                "source": keras.meta.source,
            }
        )
    except DataError:
        pass  # the preprocessing layer reports it
    return rows


def as_of_line(tables: list[TableUsed]) -> str:
    """'matrices as of: tensorflow.toml 2026-12-01, gpus.toml 2026-12-01, ...' for a report."""
    return "matrices as of: " + ", ".join(f"{t['table']} {t['as_of']}" for t in tables)
