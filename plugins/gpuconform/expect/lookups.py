"""What the matrices answer: a TF release looked up, a driver requirement, kernel coverage, a release's verdict."""

from __future__ import annotations

from dataclasses import dataclass

from packaging.version import Version

from gpuconform.expect.tables.and_cuda import AndCudaRelease as AndCudaRelease
from gpuconform.expect.tables.cuda_drivers import DriverBranch as DriverBranch
from gpuconform.expect.tables.cuda_drivers import MinorCompat as MinorCompat
from gpuconform.expect.tables.cuda_drivers import Toolkit as Toolkit
from gpuconform.expect.tables.gpus import GpuModel as GpuModel
from gpuconform.expect.tables.kernels import KernelRelease as KernelRelease

# The row types are re-exported (`X as X`) for callers that import them from here.
from gpuconform.expect.tables.reader import CC
from gpuconform.expect.tables.reader import TableMeta as TableMeta
from gpuconform.expect.tables.tensorflow import TfRelease as TfRelease
from gpuconform.facts.versions import driver_branch
from gpuconform.facts.versions import format_cc

# --- answers -----------------------------------------------------------------------------------


VERDICTS = (
    "runs",
    "runs-minor-compat",
    "needs-ptx-jit",
    "driver-unknown",  # set by gpuconform.expect.compat: a GPU host whose driver could not be read
    "driver-too-old",
    "gpu-too-old",
    "gpu-too-new",  # set by gpuconform.expect.compat: the release's CUDA predates the GPU's architecture
    "python-outside-range",
)
#: The advice attached to PTX JIT: the default JIT cache is too small for TF's kernels.
JIT_CACHE_HINT = "export CUDA_CACHE_MAXSIZE=2147483648 keeps the JIT result between runs"


@dataclass(frozen=True)
class TfLookup:
    """The matrix row that applies to an installed TensorFlow, and how sure that is."""

    requested: str
    release: TfRelease | None
    status: str  # "known", "unknown-newer", "unknown-older", "other-build" (not the project's) or "unknown"
    warning: str | None = None


@dataclass(frozen=True)
class DriverRequirement:
    """The Linux driver a CUDA toolkit needs."""

    full: Version  # the driver packaged with the toolkit (Table 3)
    minor_compat: Version | None  # the per-major floor for minor-version compatibility
    toolkit_label: str  # "CUDA 12.5 Update 1"
    cuda: Version | None = None  # the CUDA version asked about
    third_party: bool = False  # the toolkit row comes from third-party quotes only

    def satisfied_by(self, driver: Version) -> str | None:
        """Return "full", "minor-compat" (only through minor-version compatibility), or None."""
        if driver >= self.full:
            return "full"
        if self.minor_compat is not None and driver >= self.minor_compat:
            return "minor-compat"
        return None


@dataclass(frozen=True)
class Coverage:
    """Whether a TF wheel has GPU code for a compute capability.

    kind "native": SASS for an arch of the same major and a minor at or below the GPU's
    exists in every fatbin. "ptx": at least some kernels must be JIT-compiled from PTX of
    an older or equal arch (first use is slow); `partial_sass` names the arch whose SASS
    covers the rest, when some exists. "none": no code the GPU can run.
    """

    kind: str  # "native", "ptx" or "none"
    arch: str | None  # "sm_70" for native, "compute_90" for ptx, None for none
    detail: str
    partial_sass: str | None = None  # "sm_90" when that SASS is in only some fatbins


@dataclass(frozen=True)
class DriverSupport:
    """Whether a driver branch supports a GPU; truthy when it does."""

    supported: bool
    reason: str

    def __bool__(self) -> bool:
        return self.supported


@dataclass(frozen=True)
class ReleaseVerdict:
    """Whether one TensorFlow release can run on a host, and why."""

    release: TfRelease
    verdict: str  # one of VERDICTS
    detail: str
    problems: tuple[str, ...] = ()  # every blocking problem, first one decides the verdict
    coverage: Coverage | None = None
    requirement: DriverRequirement | None = None

    @property
    def runs(self) -> bool:
        """True for "runs", "runs-minor-compat" and "needs-ptx-jit"."""
        return self.verdict in VERDICTS[:3]


def needs_jit(coverage: Coverage | None) -> bool:
    return coverage is not None and coverage.kind == "ptx"


def branches_text(driver: Version, needed: Version) -> str:
    have, want = driver_branch(driver), driver_branch(needed)
    if have == want:
        return f"same branch R{have}, needs {needed} or newer"
    return f"branch R{have}, needs R{want} or newer"


def driver_text(driver: Version, req: DriverRequirement, level: str | None, coverage: Coverage | None) -> str:
    cuda = req.cuda
    if level == "full":
        return f"driver {driver} meets {req.full} required by CUDA {cuda} ({req.toolkit_label})"
    if level == "minor-compat":
        assert req.minor_compat is not None and cuda is not None
        if needs_jit(coverage):
            assert coverage is not None
            return (
                f"driver {driver} is older than {req.full} required by CUDA {cuda} "
                f"({req.toolkit_label}): minor-version compatibility (floor {req.minor_compat}) "
                f"does not cover JIT of PTX built by a newer toolkit, and this GPU needs "
                f"{coverage.arch} PTX JIT: {branches_text(driver, req.full)}"
            )
        return (
            f"driver {driver} is older than {req.full} required by CUDA {cuda} "
            f"({req.toolkit_label}) but meets {req.minor_compat}, the minor-version "
            f"compatibility floor for {cuda.release[0]}.x"
        )
    if req.minor_compat is not None and cuda is not None:
        return (
            f"driver {driver} is older than {req.minor_compat} required by CUDA {cuda} "
            f"(minor-version compatibility floor for {cuda.release[0]}.x): "
            f"{branches_text(driver, req.minor_compat)}"
        )
    return (
        f"driver {driver} is older than {req.full} required by CUDA {cuda} "
        f"({req.toolkit_label}; CUDA {cuda.release[0] if cuda else '?'}.x has no minor-version "
        f"compatibility): {branches_text(driver, req.full)}"
    )


def sm_name(cc: CC, prefix: str = "sm") -> str:
    return f"{prefix}_{cc[0]}{cc[1]}"


def kernel_coverage(kernels: KernelRelease, gpu: CC, where: str) -> Coverage:
    on = f"compute capability {format_cc(gpu)}"
    in_tf = f" in {where}" if where else ""
    full = [a for a in kernels.sass if a[0] == gpu[0] and a[1] <= gpu[1]]
    partial = [a for a in kernels.sass_partial if a[0] == gpu[0] and a[1] <= gpu[1]]
    ptx = [a for a in kernels.ptx if a <= gpu]
    newest_ptx = max(kernels.ptx) if kernels.ptx else None
    if full:
        arch = sm_name(max(full))
        detail = f"{arch} SASS{in_tf} runs natively on {on}"
        if kernels.ptx_only_fatbins and newest_ptx is not None and gpu < newest_ptx:
            detail += (
                f" ({kernels.ptx_only_fatbins} fatbins hold only {sm_name(newest_ptx, 'compute')} "
                f"PTX, which cannot load on {on})"
            )
        return Coverage("native", arch, detail)
    if ptx:
        arch = sm_name(max(ptx), "compute")
        if partial:
            sass = sm_name(max(partial))
            detail = (
                f"{sass} SASS{in_tf} is in only some fatbins; the other kernels are "
                f"JIT-compiled from {arch} PTX on first use ({JIT_CACHE_HINT})"
            )
            return Coverage("ptx", arch, f"{on}: {detail}", partial_sass=sass)
        return Coverage(
            "ptx",
            arch,
            f"no SASS{in_tf} runs on {on}; kernels are JIT-compiled from {arch} PTX on "
            f"first use, which can take many minutes ({JIT_CACHE_HINT})",
        )
    # Partial SASS without usable PTX leaves some kernels with no code at all: "none" too.
    archs = [sm_name(a) for a in kernels.sass + kernels.sass_partial]
    archs += [sm_name(a, "compute") for a in kernels.ptx]
    return Coverage(
        "none",
        None,
        f"no code{in_tf} runs on {on} (it has {', '.join(archs)}; SASS needs the same major, "
        "PTX an arch at or below the GPU's)",
    )
