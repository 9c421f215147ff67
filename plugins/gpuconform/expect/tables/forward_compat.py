"""matrices/forward_compat.toml (see its [meta] for sources): when a cuda-compat libcuda newer than the kernel
module can work.

A forward-compatibility libcuda (the cuda-compat package, /usr/local/cuda/compat in NVIDIA's images) runs over
an older kernel module only on the GPUs NVIDIA lists (data center, select server RTX, Jetson) and only over
the kernel-driver branches its package supports (the Driver list of its ELF note). The questions the
libraries layer asks: does this GPU support forward compatibility, does this compat package support this
kernel branch, and what do CUDA errors 803 and 804 mean and fix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gpuconform.expect.tables.reader import Reader
from gpuconform.expect.tables.reader import TableMeta
from gpuconform.facts.versions import DriverVersion
from gpuconform.facts.versions import driver_branch
from gpuconform.facts.versions import parse_driver_version

_GPU_RULE = {
    "family": "string",
    "forward_compat": "boolean",
    "nvml_name_patterns?": "strings",
    "error?": "string",
    "fix?": "string",
    "source": "string",
    "notes?": "strings",
}
_PACKAGE = {
    "libcuda": "string",
    "cuda": "string",
    "supported_kernel_branches": "integers",
    "source": "string",
    "notes?": "strings",
}
_BRANCH = {
    "branch": "string",
    "designation": "string",
    "native_cuda?": "string",
    "native_cuda_major?": "integer",
    "eol?": "string",
    "via_forward_compat": "strings",
    "source": "string",
    "notes?": "strings",
}
_ERROR = {
    "code": "integer",
    "name": "string",
    "runtime_name": "string",
    "message?": "string",
    "meaning": "string",
    "tf_log?": "string",
    "fix": "string",
    "source": "string",
    "notes?": "strings",
}
_CONTAINER = {"rule": "string", "source": "string", "notes?": "strings"}
_LIBCUDA = re.compile(r"^libcuda\.so\.(?P<build>[0-9]+(\.[0-9]+)+)$")
_BRANCH_NAME = re.compile(r"^R(?P<branch>[0-9]{3})$")


@dataclass(frozen=True)
class GpuRule:
    """Which GPUs support forward compatibility."""

    family: str
    forward_compat: bool
    patterns: tuple[re.Pattern[str], ...]  # NVML product names of the family; none: the rest
    fix: str | None
    source: str

    def matches(self, name: str) -> bool:
        return any(p.search(name) for p in self.patterns)


@dataclass(frozen=True)
class CompatPackage:
    """One cuda-compat package whose ELF note was read: its libcuda build and the kernel branches it supports."""

    build: DriverVersion | None  # None for a libcuda not named by build (Jetson's libcuda.so.1.1)
    cuda: str
    supported_kernel_branches: tuple[int, ...]
    source: str


@dataclass(frozen=True)
class CudaError:
    """A CUDA driver error a compat libcuda causes."""

    code: int
    name: str
    message: str | None
    fix: str
    source: str


@dataclass(frozen=True)
class ForwardCompat:
    """The rows of forward_compat.toml, and the questions the rules ask of them."""

    meta: TableMeta
    gpu_rules: tuple[GpuRule, ...]
    packages: tuple[CompatPackage, ...]
    branch_designations: dict[int, str]  # 535 -> "LTSB"
    errors: tuple[CudaError, ...]

    def gpu_rule(self, name: str) -> GpuRule:
        """The rule for a GPU by its NVML name: the first family whose names match, else the catch-all row."""
        named = next((r for r in self.gpu_rules if r.patterns and r.matches(name)), None)
        if named is not None:
            return named
        return next(r for r in self.gpu_rules if not r.patterns and not r.forward_compat)

    def package(self, build: str | DriverVersion) -> CompatPackage | None:
        """The compat package whose libcuda is this driver build, when its ELF note was read."""
        text = str(build)
        return next((p for p in self.packages if p.build is not None and str(p.build) == text), None)

    def supports_kernel(self, build: str | DriverVersion, kernel: str | DriverVersion) -> bool | None:
        """Whether compat libcuda `build` runs over kernel module `kernel`: its package's note lists the kernel's
        branch; None when that package's note was not read."""
        package = self.package(build)
        if package is None:
            return None
        return driver_branch(parse_driver_version(str(kernel))) in package.supported_kernel_branches

    def error(self, code: int) -> CudaError | None:
        return next((e for e in self.errors if e.code == code), None)


def load_forward_compat(path: Path) -> ForwardCompat:
    """Read and check forward_compat.toml: name patterns that compile, builds that are driver versions,
    exactly one catch-all GPU row (no patterns, no forward compatibility) with a fix."""
    reader = Reader(path)
    arrays = ("gpu_rule", "compat_package", "driver_branch", "error", "container_rule")
    meta = reader.meta("forward_compat", {"meta": "table", **{f"{a}?": "tables" for a in arrays}})
    rules = [_gpu_rule(reader, key, row) for key, row in _rows(reader, "gpu_rule", _GPU_RULE)]
    rest = [r for r in rules if not r.patterns and not r.forward_compat]
    if len(rest) != 1:
        raise reader.fail("gpu_rule", f"{len(rest)} rows without nvml_name_patterns and forward_compat = false",
                          "exactly one: the GPUs no other row names")
    if rest[0].fix is None:
        raise reader.fail("gpu_rule", f"the row for {rest[0].family!r} needs the fix to give")
    packages = []
    for key, row in _rows(reader, "compat_package", _PACKAGE):
        match = _LIBCUDA.match(row["libcuda"])
        build = reader.driver(match["build"], f"{key}.libcuda") if match else None
        for i, branch in enumerate(row["supported_kernel_branches"]):
            reader.int_range(branch, f"{key}.supported_kernel_branches[{i}]", 100, 9999)
        packages.append(CompatPackage(build, row["cuda"], tuple(row["supported_kernel_branches"]), row["source"]))
    designations = {}
    for key, row in _rows(reader, "driver_branch", _BRANCH):
        match = _BRANCH_NAME.match(row["branch"])
        if match is None:
            raise reader.fail(f"{key}.branch", f"{row['branch']!r} is not a branch", "'R535'")
        designations[int(match["branch"])] = row["designation"]
    errors = [
        CudaError(row["code"], row["name"], row.get("message"), row["fix"], row["source"])
        for _, row in _rows(reader, "error", _ERROR)
    ]
    _rows(reader, "container_rule", _CONTAINER)
    return ForwardCompat(meta, tuple(rules), tuple(packages), designations, tuple(errors))


def _rows(reader: Reader, name: str, schema: dict[str, str]) -> list[tuple[str, dict[str, Any]]]:
    return reader.rows(name, schema) if name in reader.data else []


def _gpu_rule(reader: Reader, key: str, row: dict[str, Any]) -> GpuRule:
    patterns = []
    for i, text in enumerate(row.get("nvml_name_patterns", ())):
        try:
            patterns.append(re.compile(text))
        except re.error as exc:
            problem = f"{text!r} is not a regular expression: {exc}"
            raise reader.fail(f"{key}.nvml_name_patterns[{i}]", problem) from None
    return GpuRule(row["family"], row["forward_compat"], tuple(patterns), row.get("fix"), row["source"])
