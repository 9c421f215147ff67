"""The sourced tables the diagnosis rules read, one module per file of matrices/.

Each table is data with its sources (architectures.toml, library_search.toml, ...), loaded and
validated once per run with the other matrices; a module here holds its file's row types and
the questions the rules ask of it. `RuleTables` gathers them for `gpuconform.expect.matrix.Matrices`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from gpuconform.expect.tables.architectures import Architectures
from gpuconform.expect.tables.architectures import load_architectures
from gpuconform.expect.tables.container_runtimes import ContainerRuntimes
from gpuconform.expect.tables.container_runtimes import load_container_runtimes
from gpuconform.expect.tables.forward_compat import ForwardCompat
from gpuconform.expect.tables.forward_compat import load_forward_compat
from gpuconform.expect.tables.kernel_module_errors import KernelModuleErrors
from gpuconform.expect.tables.kernel_module_errors import load_kernel_module_errors
from gpuconform.expect.tables.library_search import LibrarySearch
from gpuconform.expect.tables.library_search import load_library_search
from gpuconform.expect.tables.nvidia_tensorflow import NvidiaTensorflow
from gpuconform.expect.tables.nvidia_tensorflow import load_nvidia_tensorflow
from gpuconform.expect.tables.reader import RULE_TABLE_FILES
from gpuconform.expect.tables.reader import TableMeta
from gpuconform.expect.tables.tensorrt import TensorRT
from gpuconform.expect.tables.tensorrt import load_tensorrt
from gpuconform.expect.tables.tf_platforms import TfPlatforms
from gpuconform.expect.tables.tf_platforms import load_tf_platforms
from gpuconform.expect.tables.xid import XidTable
from gpuconform.expect.tables.xid import load_xid
from gpuconform.expect.tables.xla_toolchain import XlaToolchain
from gpuconform.expect.tables.xla_toolchain import load_xla_toolchain


@dataclass(frozen=True)
class RuleTables:
    """Every rule table, validated."""

    architectures: Architectures
    container_runtimes: ContainerRuntimes
    forward_compat: ForwardCompat
    kernel_module_errors: KernelModuleErrors
    library_search: LibrarySearch
    nvidia_tensorflow: NvidiaTensorflow
    tensorrt: TensorRT
    tf_platforms: TfPlatforms
    xid: XidTable
    xla_toolchain: XlaToolchain

    @property
    def metas(self) -> tuple[TableMeta, ...]:
        """The [meta] of each table, for the as-of dates a run reports."""
        return tuple(getattr(self, name).meta for name in RULE_TABLE_FILES)


def load_rule_tables(paths: Mapping[str, Path]) -> RuleTables:
    """Load each rule table from its path (keys of RULE_TABLE_FILES)."""
    return RuleTables(
        architectures=load_architectures(paths["architectures"]),
        container_runtimes=load_container_runtimes(paths["container_runtimes"]),
        forward_compat=load_forward_compat(paths["forward_compat"]),
        kernel_module_errors=load_kernel_module_errors(paths["kernel_module_errors"]),
        library_search=load_library_search(paths["library_search"]),
        nvidia_tensorflow=load_nvidia_tensorflow(paths["nvidia_tensorflow"]),
        tensorrt=load_tensorrt(paths["tensorrt"]),
        tf_platforms=load_tf_platforms(paths["tf_platforms"]),
        xid=load_xid(paths["xid"]),
        xla_toolchain=load_xla_toolchain(paths["xla_toolchain"]),
    )
