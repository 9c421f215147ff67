"""Why a PyTorch build cannot use this host's GPUs, and the fix: the framework layer's judgements for torch.

Each function takes what the child answered (`observations`), the host's facts and the
matrices (torch.toml through `gpuconform.expect.framework_tables`, its minimum driver through
cuda_drivers.toml) and returns the Finding a check fails (or warns) with, or None. The suites
call them (suites/test_framework.py); `gpuconform.frameworks.needs.judged` decides the level.
"""

from __future__ import annotations

from collections.abc import Sequence

from packaging.version import InvalidVersion
from packaging.version import Version

from gpuconform.expect.framework_tables import FrameworkTables
from gpuconform.expect.matrix import MatrixKeyError
from gpuconform.expect.tables.torch import ARCH
from gpuconform.expect.tables.torch import TorchBuild
from gpuconform.facts.model import GpuFacts
from gpuconform.facts.model import PackageInfo
from gpuconform.facts.versions import format_cc
from gpuconform.frameworks.devices import Visibility
from gpuconform.frameworks.gpus import GpuCc
from gpuconform.frameworks.gpus import describe_gpus
from gpuconform.frameworks.gpus import first_sentence
from gpuconform.frameworks.identity import Identity
from gpuconform.frameworks.torch.observations import TorchBuildInfo
from gpuconform.frameworks.torch.observations import TorchDevices
from gpuconform.verdict.check import Finding

MATRIX = "matrices/torch.toml"
INDEX = "https://download.pytorch.org/whl/"
TOO_OLD = "The NVIDIA driver on your system is too old"
NO_KERNEL = "no kernel image is available for execution on the device"


def imports_as_installed(installed: PackageInfo, identity: Identity, source: str) -> Finding | None:
    """The imported torch is the installed distribution's (not a copy earlier on sys.path, not another version)."""
    owner = identity.distribution
    if owner == installed.name and _same(identity.version, installed.version):
        return None
    who = f"owned by {owner} {identity.distribution_version}" if owner else "owned by no installed distribution"
    return Finding(
        f"import torch loads {identity.module_file} (torch {identity.version}), "
        f"not {installed.name} {installed.version}",
        expected=f"the files of {installed.name} {installed.version} at {installed.location or '?'}",
        found=f"{identity.module_file}, {who}",
        source=source,
        why="a copy earlier on sys.path (a source checkout, a user site, PYTHONPATH) shadows the installed wheel; "
        "its build, not the installed one, is what runs",
        fix="remove the shadowing copy or fix sys.path; then: "
        f"pip install --force-reinstall '{installed.name}=={installed.version}'",
    )


def cpu_build(
    installed: PackageInfo, build: TorchBuildInfo, tables: FrameworkTables, driver: str | None, gpus: str, source: str
) -> Finding | None:
    """A CPU-only (`+cpu`) or ROCm build where the profile expects NVIDIA GPUs."""
    if build.cuda is not None:
        return None
    kind = f"a ROCm build (torch.version.hip {build.hip})" if build.hip else "a CPU-only build"
    return Finding(
        f"torch {installed.version} is {kind}: torch.version.cuda is None",
        expected=f"a CUDA build of torch ({gpus})",
        found=f"torch.version.cuda = None, torch.cuda.get_arch_list() = {list(build.arch_list)}",
        source=source,
        why="a +cpu wheel (the download.pytorch.org/whl/cpu index) carries no CUDA code: torch.cuda.is_available() "
        "is False on any host and every model runs on the CPU",
        fix=install_fix(installed.version, tables, driver),
    )


def runs_on_driver(
    installed: PackageInfo, build: TorchBuildInfo, devices: TorchDevices | None, tables: FrameworkTables, driver: str
) -> Finding | None:
    """The build's CUDA (torch.version.cuda) is one this driver runs, in full or through minor-version compatibility."""
    assert build.cuda is not None
    requirement = tables.matrices.driver_requirement(build.cuda)
    if requirement.satisfied_by(Version(driver)) is not None:
        return None
    floor = requirement.minor_compat or requirement.full
    said = next((w for w in (devices.warnings if devices else ()) if TOO_OLD in w), None)
    found = f"driver {driver}" + (f"; torch warned: {said}" if said else "")
    fix = f"upgrade the NVIDIA driver to >= {requirement.full} ({requirement.toolkit_label})"
    if requirement.minor_compat is not None and requirement.minor_compat < requirement.full:
        fix += (
            f", or at least {requirement.minor_compat} (CUDA {Version(build.cuda).major} minor-version compatibility)"
        )
    other = newest(tables, Version(driver), None)
    if other is not None:
        fix += f"; or install a build for a CUDA this driver runs: {install_command(other)}"
    return Finding(
        f"torch {installed.version} is built for CUDA {build.cuda}, which needs NVIDIA driver >= {floor}; "
        f"this host has {driver}",
        expected=f"driver >= {floor} for CUDA {build.cuda} (matrices/cuda_drivers.toml: {requirement.toolkit_label})",
        found=found,
        source="torch.version.cuda in a PyTorch child; the driver version from NVML",
        why=f'PyTorch then says "{TOO_OLD}" and torch.cuda.is_available() is False: every model runs on the CPU',
        fix=fix,
    )


def runs(arch: str, cc: tuple[int, int]) -> bool:
    """Whether an entry of get_arch_list() has code a GPU of compute capability `cc` runs.

    SASS (sm_XY) runs on the same major at an equal or higher minor; an arch-specific sm_XYa only on
    XY itself; PTX (compute_XY) is JIT-compiled by the driver for XY and anything newer.
    """
    match = ARCH.fullmatch(arch)
    if match is None:
        return False
    kind, number, suffix = match.group(1), int(match.group(2)), match.group(3)
    built = (number // 10, number % 10)
    if kind == "compute":
        return built <= cc
    if suffix == "a":
        return built == cc
    return built[0] == cc[0] and built[1] <= cc[1]


def kernels_for(
    installed: PackageInfo, build: TorchBuildInfo, gpus: Sequence[GpuCc], tables: FrameworkTables, driver: str | None
) -> Finding | None:
    """Each GPU's compute capability has code in the build's architecture list."""
    for name, cc, where in gpus:
        if any(runs(a, cc) for a in build.arch_list):
            continue
        arch = f"sm_{cc[0]}{cc[1]}"
        other = newest(tables, Version(driver) if driver else None, cc)
        fix = (
            f"install a build with {arch}: {install_command(other)}"
            if other
            else (
                f"no torch build in {MATRIX} has kernels for {arch}: build PyTorch from source with "
                f"TORCH_CUDA_ARCH_LIST={format_cc(cc)}"
            )
        )
        return Finding(
            f"torch {installed.version} has no kernels for {name} (compute capability {format_cc(cc)})",
            expected=f"{arch} (or PTX of an older architecture) in torch.cuda.get_arch_list()",
            found=f"torch.cuda.get_arch_list() = {list(build.arch_list)}",
            source=f"a PyTorch child; the compute capability from {where}; {MATRIX}",
            why=f'every CUDA op on that GPU fails with "CUDA error: {NO_KERNEL}"',
            fix=fix,
        )
    return None


def sees_gpus(
    installed: PackageInfo, devices: TorchDevices, expected: tuple[GpuFacts, ...], shown: Visibility, source: str
) -> Finding | None:
    """torch.cuda counts the GPUs the profile promises (those CUDA_VISIBLE_DEVICES shows)."""
    if devices.device_count >= len(expected) and devices.is_available:
        return None
    if shown.value is not None and len(shown.gpus) < len(expected):
        cause = f"{shown.describe()}"
        fix = "unset CUDA_VISIBLE_DEVICES or list every GPU the job should use"
    elif devices.warnings or devices.error:
        cause = first_sentence(devices.error or devices.warnings[0])
        fix = (
            "upgrade the NVIDIA driver (framework::torch_cuda_build_runs_on_this_driver names the version)"
            if TOO_OLD in cause
            else "read the warning: it names what CUDA initialisation could not do"
        )
    else:
        cause = "torch.cuda gave no reason"
        fix = "check the driver layer's checks and CUDA_VISIBLE_DEVICES; run nvidia-smi in the same environment"
    return Finding(
        f"PyTorch sees {devices.device_count} of the {len(expected)} GPU(s) expected: {cause}",
        expected=describe_gpus(expected),
        found=f"torch.cuda.is_available() = {devices.is_available}, torch.cuda.device_count() = {devices.device_count}"
        + (f"; warnings: {' | '.join(devices.warnings)}" if devices.warnings else ""),
        source=source,
        why="a GPU torch does not count runs nothing; models silently run on the CPU",
        fix=fix,
    )


# ---- which build to install ------------------------------------------------------------------


def install_command(build: TorchBuild) -> str:
    """pip's command for one row of torch.toml, from its CUDA wheel index."""
    return f"pip install --force-reinstall 'torch=={build.torch}' --index-url {INDEX}{build.variant}"


def install_fix(version: str, tables: FrameworkTables, driver: str | None) -> str:
    """The CUDA build of the installed release (one this driver runs, where the driver is known)."""
    try:
        public = Version(version).public
    except InvalidVersion:
        public = version
    builds = [b for b in tables.torch.builds_of(public) if _runs_on(tables, b, Version(driver) if driver else None)]
    if builds:
        return f"{install_command(builds[0])} (the CUDA {builds[0].cuda} build of torch {public})"
    other = newest(tables, Version(driver) if driver else None, None)
    return (
        f"pip install --force-reinstall 'torch=={public}' --index-url {INDEX}cu<XY> (the CUDA variant this driver runs"
        + (f"; {MATRIX}'s newest that does: {install_command(other)})" if other else ")")
    )


def newest(tables: FrameworkTables, driver: Version | None, cc: tuple[int, int] | None) -> TorchBuild | None:
    """The newest build of torch.toml this driver runs (any, when unknown) with code for `cc` (any, when None)."""
    for build in tables.torch.builds:
        if _runs_on(tables, build, driver) and (cc is None or any(runs(a, cc) for a in build.arch_list)):
            return build
    return None


def _runs_on(tables: FrameworkTables, build: TorchBuild, driver: Version | None) -> bool:
    if driver is None:
        return True
    try:
        return tables.torch_driver(build).satisfied_by(driver) is not None
    except MatrixKeyError:
        return False


def _same(imported: str, installed: str) -> bool:
    """The imported torch.__version__ is the installed distribution's version.

    PyPI's torch wheels name their CUDA in torch.__version__ but not in their metadata
    (torch-2.14.1-cp311-cp311-manylinux_2_28_x86_64.whl: METADATA `Version: 2.14.1`,
    torch/version.py `__version__ = '2.14.1+cu130'`), while download.pytorch.org's wheels carry
    the label in both (`2.13.0+cpu`): a local label only the import has is the same release.
    """
    try:
        imported_version, installed_version = Version(imported), Version(installed)
    except InvalidVersion:
        return imported == installed
    if installed_version.local is None:
        return Version(imported_version.public) == installed_version
    return imported_version == installed_version
