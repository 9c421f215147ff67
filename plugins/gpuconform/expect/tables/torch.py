"""matrices/torch.toml: PyTorch's CUDA builds, one row per release and CUDA variant (cu126, cu128, ...).

Each row is what one build reports at run time: `torch.version.cuda`, the cuDNN it pins, and
`torch.cuda.get_arch_list()` (SASS as sm_XY, PTX as compute_XY). The minimum driver is not
stored here: it is the CUDA -> driver table's (cuda_drivers.toml) for the row's CUDA.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from packaging.specifiers import SpecifierSet
from packaging.version import Version

from gpuconform.expect.tables.reader import CC
from gpuconform.expect.tables.reader import Reader
from gpuconform.expect.tables.reader import Schema
from gpuconform.expect.tables.reader import TableMeta
from gpuconform.expect.tables.reader import row_notes

#: How a row was verified: read from the build's wheel, or taken from PyTorch's documentation.
VERIFIED = ("wheel", "docs")
ARCH = re.compile(r"(sm|compute)_(\d{2,3})([af]?)")
VARIANT = re.compile(r"cu(\d{2,3})")


@dataclass(frozen=True)
class TorchBuild:
    """One PyTorch release built for one CUDA variant."""

    torch: Version  # "2.9.0"
    variant: str  # "cu128": the local label of the wheel (2.9.0+cu128) and its index on download.pytorch.org
    cuda: Version  # torch.version.cuda: "12.8"
    cudnn: Version  # the nvidia-cudnn-cuNN pin: "9.10.2.21"
    arch_list: tuple[str, ...]  # torch.cuda.get_arch_list(): ("sm_75", ..., "compute_120")
    verified: str  # "wheel" or "docs"
    source: str  # the wheel file (and what was read from it) or the page
    pypi_default: bool = False  # the build `pip install torch` gets from PyPI
    notes: tuple[str, ...] = ()

    @property
    def sass(self) -> tuple[CC, ...]:
        """The compute capabilities with SASS (sm_XY, sm_XYa)."""
        return tuple(_cc(a) for a in self.arch_list if a.startswith("sm_"))

    @property
    def ptx(self) -> tuple[CC, ...]:
        """The compute capabilities with PTX (compute_XY), which newer GPUs JIT-compile."""
        return tuple(_cc(a) for a in self.arch_list if a.startswith("compute_"))


@dataclass(frozen=True)
class TorchTable:
    meta: TableMeta
    builds: tuple[TorchBuild, ...]  # in file order
    runtime: TorchRuntime | None = None

    def builds_of(self, version: str | Version) -> tuple[TorchBuild, ...]:
        """Every CUDA build of a release ("2.9.0", or "2.9.0+cu128": the local label is ignored)."""
        v = Version(str(version))
        return tuple(b for b in self.builds if b.torch == Version(v.public))

    def build(self, version: str | Version) -> TorchBuild | None:
        """The build an installed version is: its local label's variant, else the PyPI default."""
        v = Version(str(version))
        builds = self.builds_of(v)
        if v.local:
            return next((b for b in builds if b.variant == v.local), None)
        return next((b for b in builds if b.pypi_default), None)


def _cc(arch: str) -> CC:
    number = int(ARCH.fullmatch(arch).group(2))  # type: ignore[union-attr]  # checked on load
    return (number // 10, number % 10)


_FILE: Schema = {"meta": "table", "runtime?": "table", "build": "tables"}
_ROW: Schema = {
    "torch": "string",
    "variant": "string",
    "cuda": "string",
    "cudnn": "string",
    "arch_list": "strings",
    "verified": "string",
    "source": "string",
    "pypi_default?": "boolean",
    "notes?": "strings",
}


def load_torch(path: Path) -> TorchTable:
    """Read torch.toml; every problem is a DataError naming the file and key."""
    r = Reader(path)
    meta = r.meta("torch", _FILE)
    builds = []
    for key, row in r.rows("build", _ROW):
        torch = r.version(row["torch"], f"{key}.torch", "2.9.0")
        if torch.is_prerelease or torch.local:
            raise r.fail(f"{key}.torch", f"{torch} is not a final release number", "a release like '2.9.0'")
        cuda = r.version(row["cuda"], f"{key}.cuda", "12.8")
        variant = VARIANT.fullmatch(row["variant"])
        if variant is None:
            problem = f"{row['variant']!r} is not a CUDA variant"
            raise r.fail(f"{key}.variant", problem, "cu followed by the CUDA version: 'cu128'")
        if variant.group(1) != "".join(str(p) for p in cuda.release[:2]):
            problem = f"{row['variant']!r} is not the variant of CUDA {cuda}"
            raise r.fail(f"{key}.variant", problem, f"'cu{cuda.major}{cuda.minor}'")
        arch_list = row["arch_list"]
        r.nonempty(arch_list, f"{key}.arch_list", "the get_arch_list() entries: 'sm_80', 'compute_90'")
        for i, arch in enumerate(arch_list):
            if not ARCH.fullmatch(arch):
                accepted = "'sm_80', 'sm_90a' or 'compute_90'"
                raise r.fail(f"{key}.arch_list[{i}]", f"{arch!r} is not an architecture", accepted)
        r.unique(((f"{key}.arch_list[{i}]", a) for i, a in enumerate(arch_list)), "architecture")
        if not row["source"].strip():
            raise r.fail(f"{key}.source", "is empty", "the wheel file read, or the page")
        builds.append(
            TorchBuild(
                torch=torch,
                variant=row["variant"],
                cuda=cuda,
                cudnn=r.version(row["cudnn"], f"{key}.cudnn", "9.10.2.21"),
                arch_list=tuple(arch_list),
                verified=r.choice(row["verified"], f"{key}.verified", VERIFIED),
                source=row["source"],
                pypi_default=row.get("pypi_default", False),
                notes=row_notes(row),
            )
        )
    r.nonempty(builds, "build", "one [[build]] per release and CUDA variant")
    r.unique(((f"build[{i}].variant", (str(b.torch), b.variant)) for i, b in enumerate(builds)), "release and variant")
    defaults = ((f"build[{i}].pypi_default", str(b.torch)) for i, b in enumerate(builds) if b.pypi_default)
    r.unique(defaults, "PyPI default build of release")
    return TorchTable(meta, tuple(builds), load_torch_runtime(r))


@dataclass(frozen=True)
class TorchRuntime:
    """torch.toml's [runtime]: what a fresh torch process starts with (TF32 switches, allocator variables)."""

    torch: SpecifierSet  # the releases it is documented for
    matmul_allow_tf32: bool  # torch.backends.cuda.matmul.allow_tf32
    cudnn_allow_tf32: bool  # torch.backends.cudnn.allow_tf32
    alloc_conf_variables: tuple[str, ...]  # preferred first
    tf32_override_variable: str
    sources: tuple[str, ...]


_RUNTIME: Schema = {
    "torch": "string",
    "matmul_allow_tf32": "boolean",
    "cudnn_allow_tf32": "boolean",
    "alloc_conf_variables": "strings",
    "tf32_override_variable": "string",
    "sources": "strings",
    "notes?": "strings",
}


def load_torch_runtime(r: Reader) -> TorchRuntime | None:
    """The [runtime] table of a torch.toml already checked by `load_torch` (None where the file has none)."""
    if "runtime" not in r.data:
        return None
    row = r.table(r.data["runtime"], "runtime", _RUNTIME)
    r.nonempty(row["alloc_conf_variables"], "runtime.alloc_conf_variables", "'PYTORCH_ALLOC_CONF'")
    r.nonempty(row["sources"], "runtime.sources", "the pages and wheels read")
    return TorchRuntime(
        r.specifier(row["torch"], "runtime.torch"),
        row["matmul_allow_tf32"],
        row["cudnn_allow_tf32"],
        tuple(row["alloc_conf_variables"]),
        row["tf32_override_variable"],
        tuple(row["sources"]),
    )
