"""Probe the CUDA toolchain XLA compiles with: ptxas, nvcc and libdevice.10.bc, where XLA would find them.

XLA (tf.function(jit_compile=True), Keras jit_compile, and many GPU ops) runs ptxas to turn its PTX
into SASS and links libdevice.10.bc into every kernel that calls a math routine. Where it looks
(matrices/xla_toolchain.toml, [[search]]): ptxas on $PATH first, then under each candidate CUDA root
(XLA_FLAGS --xla_gpu_cuda_data_dir, /usr/local/cuda, from 2.14 the pip nvidia/cuda_nvcc next to
TensorFlow, the conda prefix); libdevice under <root>/nvvm/libdevice of the same roots, with no
$PATH step. This probe looks in those places, runs `ptxas --version` and `nvcc --version` (each a
child with a timeout, never a shell) and never imports TensorFlow.

`root` (--host-root) re-roots the system roots (/usr/local/cuda, /opt/cuda) only: $PATH, XLA_FLAGS,
the conda prefix and the site-packages next to TensorFlow are this process's paths, as they are
for the libraries probe (its pip directories and LD_LIBRARY_PATH).
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Mapping
from pathlib import Path

from packaging.version import InvalidVersion
from packaging.version import Version

from gpuconform.facts.base import ProbeError
from gpuconform.facts.model import ToolchainFacts
from gpuconform.facts.model import ToolVersion
from gpuconform.probes.child import child_process
from gpuconform.probes.child import kill_group

#: "Cuda compilation tools, release 12.5, V12.5.82": the version ptxas and nvcc print.
_VERSION = re.compile(r"\bV(\d+\.\d+\.\d+)\b")
_DATA_DIR = re.compile(r"--xla_gpu_cuda_data_dir=(\S+)")
LIBDEVICE = "nvvm/libdevice/libdevice.10.bc"
#: Roots TensorFlow's wheels name beside the runtime ones (xla_toolchain.toml sources).
SYSTEM_ROOTS = ("/usr/local/cuda", "/opt/cuda")


def candidate_roots(env: Mapping[str, str], site: str | None, tf_version: str | None) -> list[str]:
    """The CUDA roots XLA searches for ptxas and libdevice, in its order (xla_toolchain.toml [[search]])."""
    roots: list[str] = []
    flags = _DATA_DIR.search(env.get("XLA_FLAGS", "") + " " + env.get("TF_XLA_FLAGS", ""))
    if flags:
        roots.append(flags.group(1).rstrip("/"))
    roots += SYSTEM_ROOTS
    if site and _at_least(tf_version, "2.14"):
        roots += [f"{site}/nvidia/cuda_nvcc", f"{site}/nvidia/cu13"]
    if env.get("CONDA_PREFIX"):
        roots += [env["CONDA_PREFIX"], f"{env['CONDA_PREFIX']}/lib"]
    return list(dict.fromkeys(roots))


def probe_toolchain(
    env: Mapping[str, str],
    site: str | None,
    tf_version: str | None,
    root: Path = Path("/"),
    timeout: float = 10.0,
) -> ToolchainFacts:
    """Find ptxas, nvcc and libdevice where XLA would, and ask the tools their versions."""
    roots = candidate_roots(env, site, tf_version)
    path_dirs = [d for d in env.get("PATH", "").split(os.pathsep) if d]
    searched = tuple(dict.fromkeys([*path_dirs, *(f"{r}/bin" for r in roots)]))
    libdevice = next((f"{r}/{LIBDEVICE}" for r in roots if _is_file(root, f"{r}/{LIBDEVICE}")), None)
    missing = ProbeError("toolchain", "missing", f"no {LIBDEVICE} under {', '.join(roots)}")
    return ToolchainFacts(
        ptxas=_tool("ptxas", searched, root, timeout),
        nvcc=_tool("nvcc", searched, root, timeout),
        libdevice=libdevice,
        searched=searched,
        libdevice_error=None if libdevice else missing,
    )


def _tool(name: str, directories: tuple[str, ...], root: Path, timeout: float) -> ToolVersion:
    found = next((f"{d}/{name}" for d in directories if _is_executable(root, f"{d}/{name}")), None)
    if found is None:
        return ToolVersion(error=ProbeError("toolchain", "missing", f"no {name} on PATH or under the CUDA roots"))
    host_path = _local(root, found)
    try:
        with child_process(
            [host_path, "--version"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        ) as proc:
            try:
                out, _ = proc.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                kill_group(proc)
                proc.communicate()
                return ToolVersion(found, error=ProbeError("toolchain", "timeout", f"{name} --version: no answer"))
    except OSError as exc:
        return ToolVersion(found, error=ProbeError("toolchain", "exit", f"{name} --version: {exc.strerror or exc}"))
    if proc.returncode != 0:
        tail = out.strip().splitlines()[-1:] if out.strip() else []
        said = f": {tail[0][:200]}" if tail else ""
        return ToolVersion(found, error=_error("exit", f"{name} --version exited {proc.returncode}{said}"))
    match = _VERSION.search(out)
    if match is None:
        return ToolVersion(found, error=_error("invalid-output", f"{name} --version printed no V<x.y.z>"))
    return ToolVersion(found, match.group(1))


def _error(kind: str, message: str) -> ProbeError:
    return ProbeError("toolchain", kind, message)


def _local(root: Path, path: str) -> str:
    """Where `path` is for this process: a system root's path lies under `root`, any other is its own."""
    system = any(path == r or path.startswith(f"{r}/") for r in SYSTEM_ROOTS)
    return str(root / path.lstrip("/")) if system and root != Path("/") else path


def _is_file(root: Path, path: str) -> bool:
    return Path(_local(root, path)).is_file()


def _is_executable(root: Path, path: str) -> bool:
    full = Path(_local(root, path))
    return full.is_file() and os.access(full, os.X_OK)


def _at_least(version: str | None, floor: str) -> bool:
    if version is None:
        return True  # no TensorFlow: look everywhere a current release would
    try:
        return Version(version) >= Version(floor)
    except InvalidVersion:
        return True
