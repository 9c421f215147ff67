"""Layer `libraries`: can the CUDA libraries TensorFlow needs be loaded, in the right versions, once?

The probe found every copy of each soname where TensorFlow would look (pip
wheels, LD_LIBRARY_PATH, conda, the ld cache, /usr/local/cuda) and loaded each
in a child process, asking the library itself for its version.
"""

from __future__ import annotations

from typing import Any

import pytest
from packaging.version import Version

from gpuconform.check import could_not_check
from gpuconform.check import fail
from gpuconform.check import not_applicable
from gpuconform.driverdiag import driver_api_needed
from gpuconform.expectations import Expectations
from gpuconform.facts import Facts
from gpuconform.facts import LibrariesFacts
from gpuconform.facts import LibraryFacts
from gpuconform.facts import LibraryLoad
from gpuconform.matrix import Matrices
from gpuconform.versions import driver_branch

pytestmark = pytest.mark.libraries

NAMES = ("cuda", "cudart", "cublas", "cublasLt", "cufft", "curand", "cusolver", "cusparse", "cudnn", "nccl")
PIP_PACKAGE = {
    "cudart": "cuda-runtime",
    "cublas": "cublas",
    "cublasLt": "cublas",
    "cufft": "cufft",
    "curand": "curand",
    "cusolver": "cusolver",
    "cusparse": "cusparse",
    "cudnn": "cudnn",
    "nccl": "nccl",
}
SOURCE = "dlopen + the library's own version call, in a child process"


@pytest.fixture
def libraries(host_facts: Facts) -> LibrariesFacts:
    """The libraries facts; an error when the probe itself could not run."""
    facts = host_facts.libraries
    if facts is None:
        could_not_check("the CUDA libraries", "no libraries facts were recorded")
    if facts.error is not None:
        could_not_check("the CUDA libraries", f"{facts.error.kind}: {facts.error.message}")
    return facts


@pytest.fixture
def tf_needs_cuda(host_expect: Expectations) -> Expectations:
    """The expectations, for checks that compare with what a CUDA-enabled TF needs."""
    if not host_expect.profile.expects_gpu:
        not_applicable(f"profile {host_expect.profile.name!r} expects no GPU")
    if not host_expect.tf_is_gpu_build or host_expect.tf_release is None:
        tf = host_expect.tensorflow
        not_applicable(
            "TensorFlow is not installed"
            if tf is None
            else f"{tf.name} {tf.version} loads no CUDA libraries from the matrix"
        )
    return host_expect


def _library(libraries: LibrariesFacts, name: str) -> LibraryFacts:
    found = next((lib for lib in libraries.libraries if lib.name == name), None)
    if found is None:
        not_applicable(f"{name} is not among the libraries for {libraries.basis}")
    return found


def _where(load: LibraryLoad, lib: LibraryFacts) -> str:
    origin = next((c.origin for c in lib.candidates + lib.other_candidates if c.path == load.path), "?")
    return f"{load.path} ({origin})"


def install_fix(name: str, host_expect: Expectations, host_matrices: Matrices) -> str:
    """The command that installs the library version the installed TF needs."""
    tf = host_expect.tensorflow
    release = host_expect.tf_release
    if name == "cuda":
        return "install the NVIDIA driver's user-space libraries (libcuda.so.1 ships with the driver)"
    pins = host_matrices.and_cuda_pins(tf.version) if tf is not None else None
    if pins:
        wanted = [f"'{pkg}{spec}'" for pkg, spec in pins.items() if pkg.startswith(f"nvidia-{PIP_PACKAGE[name]}-cu")]
        if wanted:
            return f"pip install {' '.join(wanted)}   (or: pip install 'tensorflow[and-cuda]=={tf.version}')"  # type: ignore[union-attr]
    if release is not None:
        return (
            f"install CUDA {release.cuda} / cuDNN {release.cudnn} for {tf.name if tf else 'TensorFlow'} "
            f"{tf.version if tf else ''}, e.g. conda install -c conda-forge "
            f"cudatoolkit={release.cuda.major}.{release.cuda.minor} "
            f"cudnn={release.cudnn.major}.{release.cudnn.minor}"
        )
    return "install the CUDA libraries matching your TensorFlow (pip install 'tensorflow[and-cuda]')"


def stray_copies_fix(lib: LibraryFacts, host_expect: Expectations, host_facts: Facts) -> str:
    """Which copy to keep (the one TF's build wants, pip's first) and the command that drops each other one."""
    loads = [ld for ld in lib.loads if ld.version]
    release = host_expect.tf_release
    origin = {c.path: c.origin for c in lib.candidates}

    def rank(ld: LibraryLoad) -> tuple[bool, bool, Version]:
        v = Version(ld.version)  # type: ignore[arg-type]
        fits = release is None or lib.name != "cudnn" or (v.major, v.minor) >= release.cudnn.release[:2]
        return (fits, origin.get(ld.path) == "pip", v)

    keep = max(loads, key=rank)
    env = dict(host_facts.platform.environment)
    steps = []
    for ld in loads:
        if ld.version == keep.version:
            continue
        where = origin.get(ld.path, "?")
        directory = ld.path.rpartition("/")[0]
        if where == "LD_LIBRARY_PATH":
            dirs = env.get("LD_LIBRARY_PATH", "").split(":")
            rest = [d for d in dirs if d and d.rstrip("/") != directory.rstrip("/")]
            command = f"export LD_LIBRARY_PATH={':'.join(rest)}" if rest else "unset LD_LIBRARY_PATH"
            steps.append(
                f"{command} (drops {directory}; also where LD_LIBRARY_PATH is set: ~/.bashrc, /etc/profile.d, "
                "the image's ENV)"
            )
        elif where == "pip":
            steps.append(f"pip uninstall {_pip_distribution(ld.path, host_expect, host_facts)}")
        elif where == "conda":
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


def reinstall_fix(path: str, host_expect: Expectations, host_facts: Facts) -> str:
    """The command that reinstalls the package a broken library file came from."""
    if "/site-packages/nvidia/" in path or "/dist-packages/nvidia/" in path:
        wheel = _pip_distribution(path, host_expect, host_facts)
        return f"pip install --force-reinstall --no-deps {wheel} (then `ldd {path}` shows any missing dependency)"
    return (
        f"find the package that owns it with dpkg -S {path} (rpm -qf on RHEL) and reinstall it; "
        f"`ldd {path}` shows any missing dependency"
    )


def _pip_distribution(path: str, host_expect: Expectations, host_facts: Facts) -> str:
    """The nvidia-* wheel that ships a file below site-packages/nvidia/<dir>/lib, pinned when installed."""
    directory = path.split("/nvidia/", 1)[1].split("/", 1)[0]  # "cublas", "cuda_runtime", "cudnn"
    stem = f"nvidia-{directory.replace('_', '-')}-cu"
    installed = next((p for p in host_facts.packages.nvidia if p.name.lower().startswith(stem)), None)
    if installed is not None:
        return f"'{installed.name}=={installed.version}'"
    release = host_expect.tf_release
    return f"{stem}{release.cuda.major if release else 12}"


@pytest.mark.parametrize("name", NAMES)
def test_library_is_found(
    name: str, libraries: LibrariesFacts, tf_needs_cuda: Expectations, host_matrices: Matrices
) -> None:
    lib = _library(libraries, name)
    if lib.candidates:
        return
    if not lib.required:
        not_applicable(f"{lib.soname} is optional: only the ops that use it load it")
    release = tf_needs_cuda.tf_release
    tf = tf_needs_cuda.tensorflow
    other = [ld for ld in lib.other_loads if ld.version]
    found = "no file named " + lib.soname + " in " + ", ".join(libraries.search_path[:6] or ["the search path"])
    summary = f"{lib.soname} is missing: {tf.name} {tf.version} cannot register the GPU"  # type: ignore[union-attr]
    if other:
        versions = ", ".join(f"{ld.version} at {_where(ld, lib)}" for ld in other)
        found = f"only other majors: {versions}"
        summary = f"{name} {other[0].version} is installed but {tf.name} {tf.version} needs {lib.soname}"  # type: ignore[union-attr]
        if name == "cudnn" and release is not None:
            summary = f"cuDNN {other[0].version} is loaded but {tf.name} {tf.version} needs cuDNN {release.cudnn_major}"  # type: ignore[union-attr]
    fail(
        summary,
        expected=f"{lib.soname} (CUDA {release.cuda if release else '?'}, cuDNN {release.cudnn if release else '?'} "
        "build)",
        found=found,
        source="TensorFlow's search order: pip nvidia/*/lib, LD_LIBRARY_PATH, conda, ld cache, /usr/local/cuda",
        why="TensorFlow dlopens it at start-up; without it TF logs 'Cannot dlopen some GPU libraries' and runs on the "
        "CPU",
        fix=install_fix(name, tf_needs_cuda, host_matrices),
    )


@pytest.mark.parametrize("name", NAMES)
def test_library_loads_and_reports_its_version(
    name: str, libraries: LibrariesFacts, host_expect: Expectations, host_facts: Facts
) -> None:
    lib = _library(libraries, name)
    if not lib.loads:
        not_applicable(f"no copy of {lib.soname} was found to load")
    for load in lib.loads:
        error = load.error
        if load.loaded and error is None:
            continue
        if error is not None and error.kind == "no-version-symbol":
            continue  # it loads; its version is simply not queryable
        what = {"signal": "crashes on load", "timeout": "hangs on load", "exit": "kills its process on load"}.get(
            error.kind if error else "", "cannot be loaded"
        )
        fail(
            f"{lib.soname} at {load.path} {what}"
            + (f": {error.message.removeprefix(load.path + ': ')}" if error else ""),
            expected=f"{lib.soname} loads and answers its version call",
            found=f"{error.kind}: {error.message}" if error else "dlopen failed",
            source=SOURCE,
            why="TensorFlow loads the same file at start-up: a crash there kills the training process, a dlopen "
            "failure silently drops to the CPU",
            fix=reinstall_fix(load.path, host_expect, host_facts),
        )


@pytest.mark.parametrize("name", NAMES)
def test_only_one_version_of_each_library_is_reachable(
    name: str, libraries: LibrariesFacts, host_expect: Expectations, host_facts: Facts
) -> None:
    lib = _library(libraries, name)
    versions = {ld.version for ld in lib.loads if ld.version}
    if not versions:
        not_applicable(f"no copy of {lib.soname} with a readable version was found")
    if len(versions) == 1:
        return
    listed = "; ".join(f"{ld.version} at {_where(ld, lib)}" for ld in lib.loads if ld.version)
    fail(
        f"{len(versions)} different versions of {lib.soname} are reachable: {', '.join(sorted(versions))}",
        expected=f"one version of {lib.soname}",
        found=listed,
        source=SOURCE,
        why="which copy wins depends on RUNPATH, LD_LIBRARY_PATH and load order; TF may load one and a plugin the "
        "other (the classic duplicate libcudnn: 'Loaded runtime CuDNN library ... but source was compiled with ...')",
        fix=stray_copies_fix(lib, host_expect, host_facts),
    )


@pytest.mark.parametrize("name", [n for n in NAMES if n != "cuda"])
def test_library_version_matches_the_tensorflow_build(
    name: str, libraries: LibrariesFacts, tf_needs_cuda: Expectations, host_matrices: Matrices
) -> None:
    lib = _library(libraries, name)
    release = tf_needs_cuda.tf_release
    assert release is not None
    loaded = [ld for ld in lib.loads if ld.version]
    if not loaded:
        not_applicable(f"no version of {lib.soname} could be read")
    tf = tf_needs_cuda.tensorflow
    for ld in loaded:
        version = Version(ld.version)  # type: ignore[arg-type]
        if name == "cudnn":
            built = release.cudnn
            ok = version.major == built.major and version.release[:2] >= built.release[:2]
            need = f"cuDNN {built.major}.x >= {built.major}.{built.minor}"
            why = (
                "TF refuses a cuDNN of another major or an older minor: "
                "'Loaded runtime CuDNN library: X but source was compiled with: Y'"
            )
        elif name == "cudart":
            ok = version.major == release.cuda.major
            need = f"CUDA runtime {release.cuda.major}.x"
            why = "the CUDA runtime must be of the major TensorFlow was built with"
        else:
            continue  # the soname suffix already pins the major of the other libraries
        if not ok:
            fail(
                f"{lib.soname} is version {version}, but {tf.name} {tf.version} was built with "  # type: ignore[union-attr]
                f"{name} {built if name == 'cudnn' else release.cuda}",
                expected=need,
                found=f"{version} at {_where(ld, lib)}",
                source=SOURCE + "; matrices/tensorflow.toml",
                why=why,
                fix=install_fix(name, tf_needs_cuda, host_matrices),
            )


def test_cudnn_and_cudart_are_built_for_the_same_cuda_major(
    libraries: LibrariesFacts, host_expect: Expectations
) -> None:
    cudnn = next((lib for lib in libraries.libraries if lib.name == "cudnn"), None)
    cudart = next((lib for lib in libraries.libraries if lib.name == "cudart"), None)
    runtime = [ld for ld in (cudart.loads if cudart else ()) if ld.version]
    dnn = [ld for ld in (cudnn.loads + cudnn.other_loads if cudnn else ()) if ld.cuda_major is not None]
    if not runtime or not dnn:
        not_applicable("needs both a CUDA runtime and a cuDNN whose versions could be read")
    majors = {Version(ld.version).major for ld in runtime}  # type: ignore[arg-type]
    wrong = [ld for ld in dnn if ld.cuda_major not in majors]
    if wrong:
        ld = wrong[0]
        fail(
            f"cuDNN {ld.version} is built for CUDA {ld.cuda_major}, "
            f"but the CUDA runtime is {', '.join(sorted(r.version for r in runtime))}",  # type: ignore[misc]
            expected=f"a cuDNN built for CUDA {'/'.join(str(m) for m in sorted(majors))}",
            found=f"cuDNN {ld.version} (cudnnGetCudartVersion major {ld.cuda_major}) at {ld.path}",
            source=SOURCE,
            why="a cuDNN for another CUDA major fails at the first convolution (CUDNN_STATUS_NOT_INITIALIZED or a "
            "missing symbol)",
            fix=f"pip install 'nvidia-cudnn-cu{'/'.join(str(m) for m in sorted(majors))}' (the -cuXX suffix must "
            "match the CUDA runtime)",
        )


# Fails whenever the driver layer's CUDA check does: it is then blocked by it, not a second problem.
@pytest.mark.depends_on("driver::driver_is_new_enough_for_the_tensorflow_cuda")
def test_the_driver_api_is_new_enough_for_the_runtime(
    libraries: LibrariesFacts, host_facts: Facts, host_expect: Expectations, host_matrices: Matrices
) -> None:
    driver = next((lib for lib in libraries.libraries if lib.name == "cuda"), None)
    cudart = next((lib for lib in libraries.libraries if lib.name == "cudart"), None)
    api = [ld for ld in (driver.loads if driver else ()) if ld.version]
    runtime = [ld for ld in (cudart.loads if cudart else ()) if ld.version]
    if not api or not runtime:
        not_applicable("needs both libcuda.so.1 and a CUDA runtime whose versions could be read")
    supported = max(Version(ld.version) for ld in api)  # type: ignore[arg-type]
    for ld in runtime:
        version = Version(ld.version)  # type: ignore[arg-type]
        needed = driver_api_needed(version, supported, host_matrices)
        if needed is not None:
            fail(
                f"the driver supports CUDA up to {supported}, but the CUDA runtime is {version}",
                expected=f"a driver whose CUDA version (cuDriverGetVersion) is >= {needed}",
                found=f"libcuda.so.1 reports CUDA {supported}; {cudart.soname if cudart else 'cudart'} {version} at "
                f"{ld.path}",
                source=SOURCE,
                why="the runtime refuses to start on an older driver major: 'CUDA driver version is insufficient for "
                "CUDA runtime version'",
                fix=f"{driver_for_runtime(version, host_matrices)}, or use a CUDA {supported.major} build of "
                "TensorFlow",
            )


# The toolchain XLA compiles with: the rules are gpuconform.toolchain's (matrices/xla_toolchain.toml).
def test_xla_finds_libdevice_and_a_ptxas_for_each_gpu(
    tf_needs_cuda: Expectations, host_facts: Facts, host_matrices: Matrices, host_warn: Any
) -> None:
    from gpuconform.toolchain import judge_found

    release = tf_needs_cuda.tf_release
    assert release is not None
    if host_facts.toolchain is None:
        not_applicable("the CUDA toolchain (ptxas, libdevice) was not recorded")
    judgements = judge_found(host_facts, release, host_matrices)
    for w in (j.finding for j in judgements if not j.failure):
        host_warn(w.summary, expected=w.expected, found=w.found, source=w.source, why=w.why, fix=w.fix)
    f = next((j.finding for j in judgements if j.failure), None)
    if f is not None:
        fail(f.summary, expected=f.expected, found=f.found, source=f.source, why=f.why, fix=f.fix)
