"""Load and validate every matrix file into one `Matrices`, and refuse tables that disagree about what exists."""

from __future__ import annotations

import contextlib
import functools
import importlib.resources
from collections.abc import Mapping
from pathlib import Path

from gpuconform.expect.matrix import Matrices
from gpuconform.expect.matrix import MatrixKeyError
from gpuconform.expect.tables import load_rule_tables
from gpuconform.expect.tables.and_cuda import AndCudaRelease as AndCudaRelease
from gpuconform.expect.tables.and_cuda import load_and_cuda
from gpuconform.expect.tables.cuda_drivers import DriverBranch as DriverBranch
from gpuconform.expect.tables.cuda_drivers import MinorCompat as MinorCompat
from gpuconform.expect.tables.cuda_drivers import Toolkit as Toolkit
from gpuconform.expect.tables.cuda_drivers import load_cuda_drivers
from gpuconform.expect.tables.gpus import GpuModel as GpuModel
from gpuconform.expect.tables.gpus import load_gpus
from gpuconform.expect.tables.kernels import KernelRelease as KernelRelease
from gpuconform.expect.tables.kernels import load_kernels

# The row types are re-exported (`X as X`) for callers that import them from here.
from gpuconform.expect.tables.reader import TABLE_FILES
from gpuconform.expect.tables.reader import TableMeta as TableMeta
from gpuconform.expect.tables.tensorflow import TfRelease as TfRelease
from gpuconform.expect.tables.tensorflow import load_tensorflow
from gpuconform.facts.errors import DataError
from gpuconform.facts.errors import join_choices
from gpuconform.facts.versions import release_series

# --- loading -----------------------------------------------------------------------------------


def load_matrices(directory: Path | None = None) -> Matrices:
    """Load and validate every matrix; the packaged ones (cached) when `directory` is None."""
    if directory is None:
        return _load_packaged()
    return _load_paths({name: Path(directory) / f for name, f in TABLE_FILES.items()})


@functools.cache
def _load_packaged() -> Matrices:
    # files() is a plain Path for an editable or unpacked install; as_file also copes with
    # a zipped one, one file at a time (directories need Python 3.12).
    root = importlib.resources.files("gpuconform.matrices")
    with contextlib.ExitStack() as stack:
        paths = {
            name: stack.enter_context(importlib.resources.as_file(root.joinpath(f))) for name, f in TABLE_FILES.items()
        }
        return _load_paths(paths)


def _load_paths(paths: Mapping[str, Path]) -> Matrices:
    tf_meta, releases = load_tensorflow(paths["tensorflow"])
    drivers_meta, toolkits, compat, branches = load_cuda_drivers(paths["cuda_drivers"])
    gpus_meta, gpus = load_gpus(paths["gpus"])
    kernels_meta, kernels = load_kernels(paths["kernels"])
    and_cuda_meta, and_cuda = load_and_cuda(paths["and_cuda"])
    rules = load_rule_tables(paths)
    meta = {m.name: m for m in (tf_meta, drivers_meta, gpus_meta, kernels_meta, and_cuda_meta, *rules.metas)}
    newest = tuple(sorted(releases, key=lambda r: r.version, reverse=True))
    matrices = Matrices(meta, newest, toolkits, compat, branches, gpus, kernels, and_cuda, rules)
    _check_links(matrices, releases, paths)
    return matrices


def _check_links(m: Matrices, releases: tuple[TfRelease, ...], paths: Mapping[str, Path]) -> None:
    """Refuse tables that disagree about which releases and toolkits exist."""
    series = {r.series for r in releases}
    for i, release in enumerate(releases):  # file order, so that release[i] names the row
        try:
            m.toolkit(release.cuda)
        except MatrixKeyError:
            raise DataError(
                str(paths["tensorflow"]),
                f"release[{i}].cuda",
                f"CUDA {release.cuda} has no row in {TABLE_FILES['cuda_drivers']}",
                join_choices(str(t.version) for t in m.toolkits),
            ) from None
        if not any(release.series in k.tf for k in m.kernels):
            raise DataError(
                str(paths["kernels"]),
                "release",
                f"no row covers TensorFlow {release.series}, which tensorflow.toml lists",
                "a tf list naming every release series",
            )
    listed = [("kernels", f"release[{i}].tf[{j}]", s) for i, k in enumerate(m.kernels) for j, s in enumerate(k.tf)]
    listed += [
        ("and_cuda", f"release[{i}].tf[{j}]", release_series(v))
        for i, a in enumerate(m.and_cuda)
        for j, v in enumerate(a.tf)
    ]
    for table, key, s in listed:
        if s not in series:
            problem = f"TensorFlow {s} is not in tensorflow.toml"
            raise DataError(str(paths[table]), key, problem, join_choices(series))
