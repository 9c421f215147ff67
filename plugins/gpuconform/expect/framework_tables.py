"""The PyTorch and JAX matrices (torch.toml, jax.toml), loaded with the matrices they lean on.

Neither table stores a driver: the minimum driver of a torch build or a JAX CUDA plugin is
the CUDA -> driver table's (cuda_drivers.toml) for its CUDA, so loading refuses a row whose
CUDA that table has no row for. Only expect/ reads these tables; the checks of those
frameworks are later work.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.resources
from dataclasses import dataclass
from pathlib import Path

from gpuconform.expect.loading import load_matrices
from gpuconform.expect.lookups import DriverRequirement
from gpuconform.expect.matrix import Matrices
from gpuconform.expect.matrix import MatrixKeyError
from gpuconform.expect.tables.jax import JaxPlugin
from gpuconform.expect.tables.jax import JaxTable
from gpuconform.expect.tables.jax import load_jax
from gpuconform.expect.tables.reader import FRAMEWORK_TABLE_FILES
from gpuconform.expect.tables.reader import TABLE_FILES
from gpuconform.expect.tables.torch import TorchBuild
from gpuconform.expect.tables.torch import TorchTable
from gpuconform.expect.tables.torch import load_torch
from gpuconform.facts.errors import DataError


@dataclass(frozen=True, eq=False)
class FrameworkTables:
    torch: TorchTable
    jax: JaxTable
    matrices: Matrices

    def torch_driver(self, build: TorchBuild) -> DriverRequirement:
        """The driver a torch build needs: its torch.version.cuda through cuda_drivers.toml."""
        return self.matrices.driver_requirement(build.cuda)

    def jax_driver(self, plugin: JaxPlugin) -> DriverRequirement:
        """The driver a JAX CUDA plugin needs: its minimum CUDA through cuda_drivers.toml."""
        return self.matrices.driver_requirement(plugin.cuda)


def load_framework_tables(directory: Path | None = None) -> FrameworkTables:
    """Load torch.toml and jax.toml (the packaged ones, cached, when `directory` is None)."""
    if directory is None:
        return _load_packaged()
    return _load(Path(directory), load_matrices(directory))


@functools.cache
def _load_packaged() -> FrameworkTables:
    root = importlib.resources.files("gpuconform.matrices")
    with contextlib.ExitStack() as stack:
        files = FRAMEWORK_TABLE_FILES.items()
        paths = {n: stack.enter_context(importlib.resources.as_file(root.joinpath(f))) for n, f in files}
        return _tables(paths["torch"], paths["jax"], load_matrices())


def _load(directory: Path, matrices: Matrices) -> FrameworkTables:
    return _tables(directory / FRAMEWORK_TABLE_FILES["torch"], directory / FRAMEWORK_TABLE_FILES["jax"], matrices)


def _tables(torch_path: Path, jax_path: Path, matrices: Matrices) -> FrameworkTables:
    torch, jax = load_torch(torch_path), load_jax(jax_path)
    # The tables keep their rows in file order, so that the key names the row as written.
    rows = [(torch_path, f"build[{i}].cuda", b.cuda) for i, b in enumerate(torch.builds)]
    rows += [(jax_path, f"plugin[{i}].cuda_runtime", p.cuda) for i, p in enumerate(jax.plugins)]
    for path, key, cuda in rows:
        try:
            matrices.toolkit(cuda)
        except MatrixKeyError:
            known = ", ".join(str(t.version) for t in matrices.toolkits)
            raise DataError(str(path), key, f"CUDA {cuda} has no row in {TABLE_FILES['cuda_drivers']}", known) from None
    return FrameworkTables(torch, jax, matrices)

