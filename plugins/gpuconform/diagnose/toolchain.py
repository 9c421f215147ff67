"""The CUDA toolchain XLA compiles with (ptxas, libdevice), judged against matrices/xla_toolchain.toml.

Two checks ask it: the libraries layer judges what the toolchain probe found on disk (no
libdevice.10.bc where this release searches, a ptxas that cannot compile for a GPU's sm_XY), and
the framework layer judges what TensorFlow's own log said about its toolchain (a ptxas that fails,
which releases 2.2-2.4 retry for every kernel). Each judgement is a Finding: a failure or a warning.
"""

from __future__ import annotations

from dataclasses import dataclass

from packaging.version import InvalidVersion
from packaging.version import Version

from gpuconform.expect.matrix import Matrices
from gpuconform.expect.tables.tensorflow import TfRelease
from gpuconform.facts.model import Facts
from gpuconform.facts.model import ToolVersion
from gpuconform.facts.versions import format_cc
from gpuconform.verdict.check import Finding

TABLE = "matrices/xla_toolchain.toml"
PROBE = "the toolchain probe (ptxas/nvcc --version, nvvm/libdevice under XLA's CUDA roots)"


@dataclass(frozen=True)
class Judgement:
    """A toolchain problem: a failure (the host does not conform) or a warning (it works, slowly or riskily)."""

    failure: bool
    finding: Finding


def libdevice_fix(release: TfRelease, facts: Facts, matrices: Matrices) -> str:
    """How this release gets a libdevice.10.bc where it looks, valid for the release and this environment."""
    env = dict(facts.platform.environment)
    cuda = release.cuda
    pip = matrices.rules.xla_toolchain.pip_location(cuda.major)
    if release.version >= Version("2.14") and pip is not None:
        pin = f"~={cuda.major}.{cuda.minor}.0" if pip.package.endswith(f"cu{cuda.major}") else ""
        return (
            f"pip install '{pip.package.split(' ')[0]}{pin}' (part of tensorflow[and-cuda]; TensorFlow "
            f"{release.series} finds its {pip.libdevice}), or export XLA_FLAGS=--xla_gpu_cuda_data_dir=<a CUDA "
            f"{cuda.major}.{cuda.minor} root holding nvvm/libdevice/libdevice.10.bc>"
        )
    if env.get("CONDA_PREFIX"):
        # TensorFlow's own guide for its conda installs (tf_platforms.toml, xla_toolchain.toml libdevice_missing).
        return (
            "conda install -c nvidia cuda-nvcc; export XLA_FLAGS=--xla_gpu_cuda_data_dir=$CONDA_PREFIX/lib/ "
            "(persist it in $CONDA_PREFIX/etc/conda/activate.d/env_vars.sh); mkdir -p $CONDA_PREFIX/lib/nvvm/libdevice "
            "&& cp $CONDA_PREFIX/lib/libdevice.10.bc $CONDA_PREFIX/lib/nvvm/libdevice/"
        )
    return (
        f"install the CUDA {cuda.major}.{cuda.minor} toolkit's compiler (its nvvm/libdevice), e.g. "
        f"sudo apt-get install cuda-nvcc-{cuda.major}-{cuda.minor}, and export "
        f"XLA_FLAGS=--xla_gpu_cuda_data_dir=/usr/local/cuda-{cuda.major}.{cuda.minor}"
    )


def ptxas_fix(release: TfRelease, matrices: Matrices, low: Version | None = None) -> str:
    """How this release gets a ptxas it finds (newer than `low` where given)."""
    cuda = release.cuda
    pip = matrices.rules.xla_toolchain.pip_location(cuda.major)
    floor = f" {low} or newer" if low is not None else ""
    if release.version >= Version("2.14") and pip is not None:
        return f"pip install '{pip.package.split(' ')[0]}' (a ptxas{floor} where TensorFlow {release.series} looks)"
    return (
        f"put the bin directory of a CUDA toolkit{floor} first on PATH (e.g. /usr/local/cuda/bin; in a container, "
        "a CUDA -devel image: -base and -runtime images ship no ptxas)"
    )


def judge_found(facts: Facts, release: TfRelease, matrices: Matrices) -> list[Judgement]:
    """What the toolchain probe found, against what XLA needs for this release and these GPUs."""
    tc = facts.toolchain
    if tc is None:
        return []
    out: list[Judgement] = []
    searched = ", ".join(tc.searched) or "XLA's CUDA roots"
    if tc.libdevice is None and tc.libdevice_error is not None:
        out.append(
            Judgement(
                True,
                Finding(
                    f"XLA finds no libdevice.10.bc for TensorFlow {release.version}",
                    expected="nvvm/libdevice/libdevice.10.bc under a CUDA root XLA searches "
                    "(XLA_FLAGS --xla_gpu_cuda_data_dir, /usr/local/cuda, the pip nvidia/cuda_nvcc from 2.14)",
                    found=f"{tc.libdevice_error.message} (searched: {searched})",
                    source=f"{PROBE}; {TABLE}",
                    why="every XLA-compiled kernel that calls a math routine (tf.function(jit_compile=True), Keras "
                    "optimizers) fails: 'InternalError: libdevice not found at ./libdevice.10.bc'",
                    fix=libdevice_fix(release, facts, matrices),
                ),
            )
        )
    ptxas = tc.ptxas
    if ptxas.error is not None and ptxas.error.kind == "missing":
        out.append(
            Judgement(
                False,
                Finding(
                    "XLA finds no ptxas: it falls back to the driver to compile its PTX",
                    expected="a ptxas on PATH or under a CUDA root XLA searches",
                    found=f"{ptxas.error.message} (searched: {searched})",
                    source=f"{PROBE}; {TABLE}",
                    why="the driver's JIT is slower and uses more memory; TensorFlow 2.2-2.4 retry the missing "
                    "ptxas for every kernel (minutes at start-up)",
                    fix=ptxas_fix(release, matrices),
                ),
            )
        )
    elif ptxas.error is not None:
        out.append(
            Judgement(
                False,
                Finding(
                    f"the ptxas XLA would run does not work: {ptxas.error.message}",
                    expected="ptxas --version answers with its version",
                    found=f"{ptxas.path or 'ptxas'}: {ptxas.error.kind}: {ptxas.error.message}",
                    source=PROBE,
                    why="XLA falls back to the driver's JIT, or fails the compilation",
                    fix=ptxas_fix(release, matrices),
                ),
            )
        )
    version = _version(ptxas)
    if version is not None:
        out += _ptxas_version(version, ptxas, facts, release, matrices)
    return out


def _ptxas_version(
    version: Version, ptxas: ToolVersion, facts: Facts, release: TfRelease, matrices: Matrices
) -> list[Judgement]:
    xla = matrices.rules.xla_toolchain
    out: list[Judgement] = []
    where = f"{ptxas.path} (ptxas --version: {ptxas.version})"
    tf = facts.packages.tensorflow
    installed = _version(ToolVersion(version=tf.version)) if tf is not None else None
    installed = installed or release.version
    for floor in xla.floors_for(installed):
        if version < floor.min_ptxas:
            out.append(
                Judgement(
                    floor.severity == "error",
                    Finding(
                        f"ptxas {version} is older than the {floor.min_ptxas} TensorFlow {installed} asks for",
                        expected=f"ptxas >= {floor.min_ptxas}",
                        found=where,
                        source=f"{PROBE}; {TABLE}",
                        why=f"TensorFlow says: {floor.message}",
                        fix=ptxas_fix(release, matrices, floor.min_ptxas),
                    ),
                )
            )
    seen: set[tuple[int, int]] = set()
    for gpu in facts.driver.nvml.gpus:
        cc = gpu.compute_capability
        if cc is None or cc in seen:
            continue
        seen.add(cc)
        low, high = xla.ptxas_range(cc)
        if low is None:
            row = matrices.rules.architectures.row(cc)
            low = row.min_cuda if row else None
        too_old = low is not None and _release(version) < low
        too_new = high is not None and _release(version) > high
        if not (too_old or too_new):
            continue
        sm = f"sm_{cc[0]}{cc[1]}"
        bound = f"{low} or newer" if too_old else f"{high} or older"
        out.append(
            Judgement(
                False,
                Finding(
                    f"ptxas {version} is too {'old' if too_old else 'new'} for {gpu.name} ({sm}): XLA falls back to "
                    "the driver to compile",
                    expected=f"a ptxas that accepts {sm} (CUDA {bound}) for compute capability {format_cc(cc)}",
                    found=where,
                    source=f"{PROBE}; NVML; {TABLE}",
                    why=f"ptxas refuses the GPU (\"Value '{sm}' is not defined for option 'gpu-name'\"): every XLA "
                    "kernel is compiled by the driver's JIT instead, slower and with more memory",
                    fix=ptxas_fix(release, matrices, low if too_old else None)
                    if too_old
                    else f"put a CUDA {high} (or older) ptxas first on PATH for this GPU",
                ),
            )
        )
    return out


def judge_log(
    log: str, release_version: Version, release: TfRelease | None, facts: Facts, matrices: Matrices
) -> list[Judgement]:
    """What TensorFlow's own log says about its toolchain (xla_toolchain.toml [[message]])."""
    xla = matrices.rules.xla_toolchain
    out: list[Judgement] = []
    uncached = xla.uncached_failure(release_version)
    for row, line in xla.messages_in(log):
        # A row whose fix says "Same as above" shares the first fix of its cause.
        fix = next(m.fix for m in xla.messages if m.cause == row.cause)
        if release is not None and row.cause == "libdevice_missing":
            fix = libdevice_fix(release, facts, matrices)
        ptxas_trouble = row.cause in ("ptxas_failed", "ptxas_not_found")
        if ptxas_trouble and uncached is not None:
            out.append(
                Judgement(
                    True,
                    Finding(
                        f"TensorFlow {release_version} cannot run ptxas and retries it for every kernel",
                        expected="a ptxas that runs (ptxas --version answers), or a release that caches a failed "
                        f"ptxas ({uncached.fixed_by})",
                        found=line,
                        source=f"TensorFlow's own log; {TABLE}",
                        why=f"TensorFlow {uncached.tensorflow} caches only successful ptxas runs: every autotuned "
                        "convolution retries the failing ptxas, so training starts minutes late",
                        fix=f"{fix} Or upgrade to TensorFlow 2.5 or newer, which caches the failure "
                        f"({uncached.fixed_by}).",
                    ),
                )
            )
            continue
        failure = row.cause == "libdevice_missing"
        out.append(
            Judgement(
                failure,
                Finding(
                    f"TensorFlow's log names an XLA toolchain problem ({row.cause.replace('_', ' ')})",
                    expected="no toolchain error in TensorFlow's log",
                    found=line,
                    source=f"TensorFlow's own log; {TABLE}",
                    why="XLA-compiled kernels fail: 'libdevice not found at ./libdevice.10.bc'"
                    if failure
                    else "XLA falls back to the driver's JIT: slower, and with more memory",
                    fix=fix,
                ),
            )
        )
    return out


def _version(tool: ToolVersion) -> Version | None:
    try:
        return Version(tool.version) if tool.version else None
    except InvalidVersion:
        return None


def _release(version: Version) -> Version:
    return Version(".".join(str(p) for p in version.release[:2]))
