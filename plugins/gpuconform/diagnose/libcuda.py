"""Whether the libcuda.so.1 the loader takes belongs to the loaded kernel module (matrices/forward_compat.toml).

libcuda is the user-space half of the driver; the nvidia kernel module is the other. They must be one
release, with one exception: a forward-compatibility libcuda (the cuda-compat package, /usr/local/cuda/compat
in NVIDIA's images) newer than the module, which works only on the GPUs NVIDIA lists and over the kernel
branches its package supports. A compat copy anywhere else fails cuInit with
CUDA_ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE (804), and one older than the module with 803. So two libcuda
copies are never ranked by version: the one to use is the module's own build, and the fix is to take the
other off the loader path (or to upgrade the host driver), never to "prefer the newer".
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass

from gpuconform.diagnose.reach import Copy
from gpuconform.expect.matrix import Matrices
from gpuconform.facts.versions import parse_driver_version

SOURCE = (
    "each libcuda copy's driver build (its file libcuda.so.<build>) and the kernel module's version "
    "(/proc/driver/nvidia/version); matrices/forward_compat.toml"
)
#: Where the loader takes libcuda from first: LD_LIBRARY_PATH, then a directory the description or probe
#: marked (a compat or WSL directory, a RUNPATH, the Windows PATH), then the ld cache, then the system dirs.
_LOADER_RANK = {"LD_LIBRARY_PATH": 0, "compat": 1, "wsl": 1, "runpath": 1, "windows_path": 1, "ldcache": 2}
_LOADER_RANK |= {"system": 3}


@dataclass(frozen=True)
class Problem:
    """A failure's four parts and its summary."""

    summary: str
    expected: str
    found: str
    source: str
    why: str
    fix: str


@dataclass(frozen=True)
class Judged:
    """The libcuda copy the loader takes, and what is wrong with it (None: it is the module's own, or a
    forward-compatibility copy where forward compatibility works)."""

    copy: Copy
    finding: Problem | None


def compare_builds(build: str, kernel: str) -> int:
    """-1, 0 or 1 as driver build `build` is older than, the same as or newer than `kernel`; a build given
    as its branch alone ("575") is the same as any build of that branch."""
    a = parse_driver_version(build).release
    b = parse_driver_version(kernel).release
    n = min(len(a), len(b))
    return (a[:n] > b[:n]) - (a[:n] < b[:n])


def same_build(build: str, kernel: str) -> bool:
    return compare_builds(build, kernel) == 0


def taken(found: Sequence[Copy]) -> Copy | None:
    """The copy the loader takes: the first in loader order of the reached ones."""
    ranked = sorted(
        (c for c in found if c.reached), key=lambda c: min(_LOADER_RANK.get(o, 4) for o in c.origins)
    )
    return ranked[0] if ranked else None


def judge_libcuda(
    found: Sequence[Copy], kernel: str, gpus: Sequence[str], env: Mapping[str, str], matrices: Matrices
) -> Judged | None:
    """Judge the libcuda copy the loader takes against kernel module `kernel`; None when that copy names no
    driver build. `gpus` are the NVML names (for forward-compatibility support)."""
    copy = taken(found)
    if copy is None or copy.candidate.driver_build is None:
        return None
    build = copy.candidate.driver_build
    order = compare_builds(build, kernel)
    if order == 0:
        return Judged(copy, None)
    fc = matrices.rules.forward_compat
    path = copy.candidate.path
    directory = posixpath.dirname(path)
    compat = "compat" in copy.origins
    builds = [(c, c.candidate.driver_build) for c in found if c is not copy]
    host_copy = next((c for c, b in builds if b is not None and same_build(b, kernel)), None)
    use = f"the host driver's libcuda.so.1 ({host_copy.candidate.path}, {kernel})" if host_copy else (
        f"the host driver's own libcuda.so.1 ({kernel})"
    )
    expected = f"libcuda.so.1 of the kernel module's driver {kernel}, or a forward-compatibility copy where it works"
    found_text = f"{path} ({', '.join(copy.origins)}) is driver {build}; the kernel module is {kernel}"
    if compat and order > 0:
        unsupported = [g for g in gpus if not fc.gpu_rule(g).forward_compat]
        branch_ok = fc.supports_kernel(build, kernel)
        if not unsupported and (branch_ok is not False):
            return Judged(copy, None)  # forward compatibility as designed (or a package whose note was not read)
        error = fc.error(804)
        if unsupported:
            rule = fc.gpu_rule(unsupported[0])
            reason = f"the {unsupported[0]} ({rule.family.split(' (')[0]}) has no forward compatibility"
        else:
            reason = f"its package does not support the kernel's branch R{parse_driver_version(kernel).release[0]}"
        code = f"{error.name} ({error.code})" if error else "error 804"
        said = error.message if error and error.message else "forward compatibility was attempted on non supported HW"
        return Judged(
            copy,
            Problem(
                summary=f"libcuda.so.1 is the forward-compatibility copy {path} (driver {build}) over kernel module "
                f"{kernel}, and {reason}: cuInit fails with {code}",
                expected=expected,
                found=found_text,
                source=SOURCE,
                why="a compat libcuda newer than the kernel module runs only on data-center GPUs (and Jetson, select "
                f"server RTX) over the branches its package lists; elsewhere every CUDA call fails ({said})",
                fix=f"{_drop(directory, copy, env)} so that {use} is loaded; or upgrade the host driver to the "
                f"R{parse_driver_version(build).release[0]} branch or newer ({build}), and still keep the compat copy "
                "from being forced ahead of it (a compat libcuda older than the module fails with error 803)",
            ),
        )
    if compat:
        error = fc.error(803)
        code = f"{error.name} ({error.code})" if error else "error 803"
        return Judged(
            copy,
            Problem(
                summary=f"libcuda.so.1 is the forward-compatibility copy {path} (driver {build}), older than the "
                f"kernel module {kernel}: cuInit fails with {code}",
                expected=expected,
                found=found_text,
                source=SOURCE,
                why="compat libraries are only for hosts whose driver is older than the compat package",
                fix=f"{_drop(directory, copy, env)} so that {use} is loaded",
            ),
        )
    newer = order > 0
    return Judged(
        copy,
        Problem(
            summary=f"libcuda.so.1 at {path} is driver {build}, but the loaded kernel module is {kernel}",
            expected=expected,
            found=found_text,
            source=SOURCE,
            why="the user-space driver and the kernel module must be one release: cuInit fails ('CUDA driver version "
            "is insufficient' or 'system has unsupported display driver / cuda driver combination')",
            fix=(
                f"reboot, so that the {build} kernel module the upgrade installed is loaded; or "
                f"{_drop(directory, copy, env)}"
                if newer
                else f"{_drop(directory, copy, env)} so that {use} is loaded (find its package: dpkg -S {path})"
            ),
        ),
    )


def _drop(directory: str, copy: Copy, env: Mapping[str, str]) -> str:
    """How to take `directory` off the loader path, for the origins that put it there."""
    if "LD_LIBRARY_PATH" in copy.origins:
        rest = [d for d in env.get("LD_LIBRARY_PATH", "").split(":") if d and d.rstrip("/") != directory.rstrip("/")]
        line = f"export LD_LIBRARY_PATH={':'.join(rest)}" if rest else "unset LD_LIBRARY_PATH"
        return f"drop {directory} from the loader path: {line} (and in the image's ENV or entrypoint)"
    if "ldcache" in copy.origins:
        return (
            f"drop {directory} from the loader path: remove the /etc/ld.so.conf.d file that names it and run "
            "sudo ldconfig"
        )
    return (
        f"drop {directory} from the loader path (LD_LIBRARY_PATH, an /etc/ld.so.conf.d entry then sudo ldconfig, "
        "or the image's ENV or entrypoint that adds it)"
    )
