"""JAX's determinism layer as the parent sees it: its children and the XLA flag they are started with.

The children run `gpuconform.frameworks.jax.experiments.determinism` with XLA_FLAGS set to the
deterministic-ops flag of the installed jax release (matrices/jax.toml, `[[deterministic_ops]]`:
the flag's name changed across XLA releases, and jax has no option of its own). A release the
table has no row for runs without it, and the checks say so.
"""

from __future__ import annotations

from gpuconform.expect.tables.jax import JaxDeterminism
from gpuconform.expect.tables.jax import JaxTable

FIRST_CHILD = ("environment", "repeat", "golden_cpu", "gpu_golden")
SECOND_CHILD = ("environment", "golden_cpu", "gpu_golden")
#: The release these checks were run with (jax[cpu], on x86-64).
PIN = "pip install 'jax==0.10.2'"
FULL_FP32 = "jax.config.update('jax_default_matmul_precision', 'highest')"
MATRIX = "matrices/jax.toml ([[deterministic_ops]])"


def deterministic_env(table: JaxTable, jax_version: str | None) -> dict[str, str]:
    """XLA_FLAGS for a child of this jax release: its deterministic-ops flag, or nothing when the table has none."""
    row = flags_for(table, jax_version)
    return {} if row is None else {"XLA_FLAGS": row.xla_flags}


def flags_for(table: JaxTable, jax_version: str | None) -> JaxDeterminism | None:
    return None if jax_version is None else table.determinism(jax_version)


def switch(row: JaxDeterminism | None) -> str:
    if row is None:
        return "no deterministic-ops flag (none is known for this release)"
    return f"XLA_FLAGS={row.xla_flags}"
