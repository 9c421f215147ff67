"""The fixes the libraries layer writes: which copy of a library to keep, the driver a runtime needs, a reinstall.

Each is a line a user runs (or follows) on the host the facts describe: a pip, conda or apt command,
an LD_LIBRARY_PATH without the stray directory, the file's owning package.
"""

from __future__ import annotations

from packaging.version import Version

from gpuconform.diagnose.libcuda import same_build
from gpuconform.diagnose.reach import WINDOWS
from gpuconform.diagnose.reach import Host
from gpuconform.diagnose.reach import copies
from gpuconform.diagnose.reach import ld_path_line
from gpuconform.diagnose.reach import wheel_dir
from gpuconform.expect.matrix import Matrices
from gpuconform.facts.model import Facts
from gpuconform.facts.model import LibraryFacts
from gpuconform.facts.model import LibraryLoad
from gpuconform.facts.versions import driver_branch


def stray_copies_fix(lib: LibraryFacts, loads: tuple[LibraryLoad, ...], host: Host, host_facts: Facts) -> str:
    """Which copy to keep and the command that drops each other one.

    The copy to keep: for libcuda the one of the kernel module's driver build (never "the newest": a newer
    libcuda than the module is a forward-compatibility copy or a leftover), else the one TF's build wants
    (cuDNN's minor), pip's first.
    """
    versioned = [ld for ld in loads if ld.version]
    release = host.release
    found = {c.candidate.path: c for c in copies(lib, host)}
    kernel = kernel_version(host_facts)

    def rank(ld: LibraryLoad) -> tuple[bool, bool, Version]:
        v = Version(ld.version)  # type: ignore[arg-type]
        copy = found.get(ld.path)
        origins = copy.origins if copy is not None else ()
        if lib.name == "cuda":
            build = copy.candidate.driver_build if copy is not None else None
            matches = kernel is not None and build is not None and same_build(build, kernel)
            return (matches, "compat" not in origins, Version("0"))  # never "the newest" libcuda
        fits = release is None or lib.name != "cudnn" or (v.major, v.minor) >= release.cudnn.release[:2]
        return (fits, "pip" in origins, v)

    keep = max(versioned, key=rank)
    env = dict(host.env)
    keep_dir = keep.path.rpartition("/")[0]
    steps = []
    for ld in versioned:
        if ld.version == keep.version:
            continue
        copy = found.get(ld.path)
        origins = copy.origins if copy is not None else ("?",)
        directory = ld.path.rpartition("/")[0]
        if "LD_LIBRARY_PATH" in origins:
            dirs = env.get("LD_LIBRARY_PATH", "").split(":")
            rest = [d for d in dirs if d and d.rstrip("/") != directory.rstrip("/")]
            command = f"export LD_LIBRARY_PATH={':'.join(rest)}" if rest else "unset LD_LIBRARY_PATH"
            where = "$CONDA_PREFIX/etc/conda/activate.d/env_vars.sh, " if host.conda else ""
            steps.append(
                f"{command} (drops {directory}; also where LD_LIBRARY_PATH is set: {where}~/.bashrc, /etc/profile.d, "
                "the image's ENV)"
            )
            keeper = found.get(keep.path)
            if keeper is not None and "LD_LIBRARY_PATH" in keeper.origins:
                package = wheel_dir(lib.name, keep.path) if "pip" in keeper.origins else None
                steps.append(f"or keep {directory} for other software and put {keep_dir} first: "
                             f"{ld_path_line(keep_dir, host, package)}")
        elif host.system == WINDOWS:
            steps.append(f"remove {directory} from %PATH% (or the copy {ld.path})")
        elif "pip" in origins:
            steps.append(f"pip uninstall {pip_distribution(ld.path, host_facts, host)}")
        elif "conda" in origins:
            steps.append(f"conda remove --prefix {env.get('CONDA_PREFIX', '$CONDA_PREFIX')} {lib.name}")
        else:
            steps.append(
                f"remove {ld.path}: find its package with dpkg -S {ld.path} (rpm -qf on RHEL), "
                f"or drop {directory} from /etc/ld.so.conf.d and run sudo ldconfig"
            )
    return f"keep {lib.name} {keep.version} ({keep.path}); " + "; ".join(steps)


def driver_for_runtime(runtime: Version, matrices: Matrices) -> str:
    """The driver package that runs a CUDA runtime version (through minor-version compatibility)."""
    try:
        req = matrices.driver_requirement(f"{runtime.major}.{runtime.minor}")
    except (KeyError, ValueError):
        return f"install a driver for CUDA {runtime.major}.x"
    floor = req.minor_compat or req.full
    return (
        f"sudo apt install nvidia-driver-{driver_branch(floor)} (a driver >= {floor} runs CUDA {runtime}), then reboot"
    )


def reinstall_fix(path: str, host_facts: Facts, host: Host) -> str:
    """The command that reinstalls the package a broken library file came from."""
    if "/site-packages/nvidia/" in path or "/dist-packages/nvidia/" in path:
        wheel = pip_distribution(path, host_facts, host)
        return f"pip install --force-reinstall --no-deps {wheel} (then `ldd {path}` shows any missing dependency)"
    if host.system == WINDOWS:
        return f"reinstall the CUDA toolkit or cuDNN archive that put {path} there (NVIDIA's Windows installer)"
    if host.conda and path.startswith(host.conda.rstrip("/") + "/"):
        return f"conda install --force-reinstall the package that owns {path} (conda list; `ldd {path}`)"
    return (
        f"find the package that owns it with dpkg -S {path} (rpm -qf on RHEL) and reinstall it; "
        f"`ldd {path}` shows any missing dependency"
    )


def pip_distribution(path: str, host_facts: Facts, host: Host) -> str:
    """The nvidia-* wheel that ships a file below site-packages/nvidia/<dir>/lib, pinned when installed."""
    directory = path.split("/nvidia/", 1)[1].split("/", 1)[0]  # "cublas", "cuda_runtime", "cudnn"
    stem = f"nvidia-{directory.replace('_', '-')}-cu"
    installed = next((p for p in host_facts.packages.nvidia if p.name.lower().startswith(stem)), None)
    if installed is not None:
        return f"'{installed.name}=={installed.version}'"
    release = host.release
    return f"{stem}{release.cuda.major if release else 12}"


def kernel_version(host_facts: Facts) -> str | None:
    """The nvidia kernel module's version: /proc/driver/nvidia/version, else what NVML says of the driver."""
    return host_facts.driver.kernel_module_version or host_facts.driver.nvml.driver_version
