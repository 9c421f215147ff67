"""Layer `libraries`: can the CUDA libraries TensorFlow needs be loaded, in the right versions, once?
And did PyTorch and JAX map their own pip copies of theirs (the end of this file)?

The probe found every copy of each soname where TensorFlow would look (pip
wheels, LD_LIBRARY_PATH, conda, the ld cache, /usr/local/cuda) and loaded each
in a child process, asking the library itself for its version. Which of those
places the installed release's own loader really searches is data
(matrices/library_search.toml, through gpuconform.diagnose.reach): a copy only there
where it does not look is neither found nor a duplicate.
"""

from __future__ import annotations

import dataclasses
import posixpath
from typing import Any

import pytest
from packaging.version import Version

from gpuconform.diagnose.driver import driver_api_needed
from gpuconform.diagnose.fixes import driver_for_runtime
from gpuconform.diagnose.fixes import kernel_version
from gpuconform.diagnose.fixes import reinstall_fix
from gpuconform.diagnose.fixes import stray_copies_fix
from gpuconform.diagnose.libcuda import Judged
from gpuconform.diagnose.libcuda import judge_libcuda
from gpuconform.diagnose.reach import Host
from gpuconform.diagnose.reach import copies
from gpuconform.diagnose.reach import described
from gpuconform.diagnose.reach import install_fix as _install_fix
from gpuconform.diagnose.reach import reached_loads
from gpuconform.diagnose.reach import unreached_fix
from gpuconform.diagnose.shadowing import finding as shadow_finding
from gpuconform.diagnose.shadowing import own_libraries
from gpuconform.diagnose.shadowing import shadows
from gpuconform.expect.expectations import Expectations
from gpuconform.expect.framework_needs import FrameworkNeed
from gpuconform.expect.matrix import Matrices
from gpuconform.expect.tables.sonames import LIBRARY_NAMES
from gpuconform.facts.model import Facts
from gpuconform.facts.model import LibrariesFacts
from gpuconform.facts.model import LibraryFacts
from gpuconform.facts.model import LibraryLoad
from gpuconform.facts.model import PackageInfo
from gpuconform.facts.unstated import driver_version_not_stated
from gpuconform.facts.unstated import is_not_stated
from gpuconform.facts.unstated import library_version_not_stated
from gpuconform.frameworks.base import OTHER_FRAMEWORK_EXPERIMENTS
from gpuconform.frameworks.children import Planned
from gpuconform.frameworks.jax.observations import JaxBuildInfo
from gpuconform.frameworks.live import LiveChildren
from gpuconform.frameworks.maps import MappedLibraries
from gpuconform.frameworks.needs import answer
from gpuconform.frameworks.needs import imports_check
from gpuconform.frameworks.needs import judged
from gpuconform.frameworks.own_copies import Words
from gpuconform.frameworks.own_copies import judge as judge_own_copies
from gpuconform.frameworks.torch.observations import TorchBuildInfo
from gpuconform.verdict.check import blocked
from gpuconform.verdict.check import could_not_check
from gpuconform.verdict.check import fail
from gpuconform.verdict.check import fail_with
from gpuconform.verdict.check import not_applicable

pytestmark = pytest.mark.libraries

NAMES = LIBRARY_NAMES
SOURCE = "dlopen + the library's own version call, in a child process"
SEARCH = "matrices/library_search.toml (the search order of each TensorFlow release's own loader)"
KERNEL_CHECK = "libraries::the_cuda_driver_library_matches_the_kernel_module"
SHADOW_CHECK = "libraries::no_ld_library_path_directory_shadows_the_distributions_own_libraries"


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


@pytest.fixture
def lib_host(host_expect: Expectations, host_facts: Facts, host_matrices: Matrices) -> Host:
    """What the reachability rules and the fixes depend on: the installed TF, its row, environment, system."""
    tf = host_expect.tensorflow if host_expect.tf_is_gpu_build else None
    return Host(
        tf,
        host_expect.tf_release if tf is not None else None,
        dict(host_facts.platform.environment),
        host_facts.platform.system,
        host_facts.platform.container,
        host_matrices,
    )


def _library(libraries: LibrariesFacts, name: str) -> LibraryFacts:
    found = next((lib for lib in libraries.libraries if lib.name == name), None)
    if found is None:
        not_applicable(f"{name} is not among the libraries for {libraries.basis}")
    return found


def _where(load: LibraryLoad, lib: LibraryFacts) -> str:
    cand = next((c for c in lib.candidates + lib.other_candidates if c.path == load.path), None)
    origins = ", ".join(cand.origins or (cand.origin,)) if cand is not None else "?"
    return f"{load.path} ({origins})"


def install_fix(name: str, host_expect: Expectations, host_matrices: Matrices) -> str:
    """The command that installs the library version the installed TF needs, valid for its release (for other
    layers that name a library TF could not load; this layer's checks pass the host's `lib_host`)."""
    host = Host(host_expect.tensorflow, host_expect.tf_release, {}, "Linux", None, host_matrices)
    return _install_fix(name, name, host)


def _judge_libcuda(lib: LibraryFacts, host_facts: Facts, lib_host: Host) -> Judged | None:
    """The libcuda copy the loader takes, judged against the kernel module; None when nothing can be judged."""
    kernel = kernel_version(host_facts)
    if kernel is None:
        return None
    reached = [c for c in copies(lib, lib_host) if c.reached]
    gpus = [g.name for g in host_facts.driver.nvml.gpus]
    return judge_libcuda(reached, kernel, gpus, dict(host_facts.platform.environment), lib_host.matrices)


def _reached(libraries: LibrariesFacts, name: str, host: Host) -> bool:
    """Whether the installed release's loader reaches a copy of library `name` (one the facts lack counts)."""
    lib = next((lib for lib in libraries.libraries if lib.name == name), None)
    return lib is None or any(c.reached for c in copies(lib, host))


def _soname(libraries: LibrariesFacts, name: str) -> str:
    return next((lib.soname for lib in libraries.libraries if lib.name == name), name)


@pytest.mark.parametrize("name", NAMES)
def test_library_is_found(
    name: str, libraries: LibrariesFacts, tf_needs_cuda: Expectations, lib_host: Host
) -> None:
    lib = _library(libraries, name)
    found = copies(lib, lib_host)
    if any(c.reached for c in found):
        return
    tf = tf_needs_cuda.tensorflow
    assert tf is not None
    # A release that links its libraries needs exactly those at import; the others load with the ops that use them.
    linked = lib_host.matrices.rules.library_search.linked(tf.version)
    if not (name in linked if linked else lib.required):
        not_applicable(f"{lib.soname} is optional: only the ops that use it load it")
    release = tf_needs_cuda.tf_release
    needs = (
        f"{lib.soname} (CUDA {release.cuda if release else '?'}, cuDNN {release.cudnn if release else '?'} build)"
    )
    why = "TensorFlow dlopens it at start-up; without it TF logs 'Cannot dlopen some GPU libraries' and runs on the CPU"
    if name in linked:
        first = next((n for n in linked[: linked.index(name)] if not _reached(libraries, n, lib_host)), None)
        if first is not None:
            blocked(
                f"libraries::library_is_found[{first}]",
                f"{tf.name} {tf.version} links {lib.soname} at import after {_soname(libraries, first)}, and the "
                "dynamic linker stops at the first library it cannot find (library_search.toml `linked`)",
            )
        why = (
            f"{tf.name} {tf.version} links it (DT_NEEDED): without it `import tensorflow` fails with "
            f"'ImportError: {lib.soname}: cannot open shared object file'"
        )
    if found:
        copy = found[0]
        elsewhere = "; ".join(f"{described(c)}: {c.why}" for c in found)
        fail(
            f"{lib.soname} is installed, but {tf.name} {tf.version}'s loader does not search "
            f"{copy.candidate.path.rpartition('/')[0]} ({', '.join(copy.origins)})",
            expected=f"{needs} where {tf.name} {tf.version} looks for it",
            found=f"only copies it does not reach: {elsewhere}",
            source=SEARCH,
            why=why,
            fix=unreached_fix(lib, copy, lib_host),
        )
    other = [ld for ld in lib.other_loads if ld.version]
    listed = ", ".join(libraries.search_path[:6] or ["the search path"])
    found_text = f"no file named {lib.soname} in {listed}"
    summary = f"{lib.soname} is missing: {tf.name} {tf.version} cannot register the GPU"
    if other:
        versions = ", ".join(f"{ld.version} at {_where(ld, lib)}" for ld in other)
        found_text = f"only other majors: {versions}"
        summary = f"{name} {other[0].version} is installed but {tf.name} {tf.version} needs {lib.soname}"
        if name == "cudnn" and release is not None:
            summary = f"cuDNN {other[0].version} is loaded but {tf.name} {tf.version} needs cuDNN {release.cudnn_major}"
    fail(
        summary,
        expected=needs,
        found=found_text,
        source=f"TensorFlow's search order: pip nvidia/*/lib, LD_LIBRARY_PATH, conda, ld cache; {SEARCH}",
        why=why,
        fix=_install_fix(name, lib.soname, lib_host),
    )


@pytest.mark.parametrize("name", NAMES)
def test_library_loads_and_reports_its_version(
    name: str, libraries: LibrariesFacts, host_facts: Facts, lib_host: Host
) -> None:
    lib = _library(libraries, name)
    if not lib.loads:
        not_applicable(f"no copy of {lib.soname} was found to load")
    loads = reached_loads(lib, lib_host)
    if not loads:
        not_applicable(f"no copy of {lib.soname} is where the installed TensorFlow's loader looks")
    for load in loads:
        error = load.error
        if load.loaded and error is None:
            continue
        if error is not None and (error.kind == "no-version-symbol" or (load.loaded and is_not_stated(error))):
            continue  # it loads; its version is simply not queryable, or not stated by the replayed facts
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
            fix=reinstall_fix(load.path, host_facts, lib_host),
        )


# A host driver too old for the image's CUDA is the root cause the compat copy works around: blocked by it.
@pytest.mark.depends_on("driver::driver_is_new_enough_for_the_container_cuda")
def test_the_cuda_driver_library_matches_the_kernel_module(
    libraries: LibrariesFacts, host_facts: Facts, lib_host: Host
) -> None:
    lib = _library(libraries, "cuda")
    if kernel_version(host_facts) is None:
        unstated = driver_version_not_stated(host_facts)
        not_applicable(
            f"{unstated}, so the libcuda copy is not compared with the kernel module"
            if unstated
            else "no nvidia kernel module version to compare with (the driver layer says why)"
        )
    judged = _judge_libcuda(lib, host_facts, lib_host)
    if judged is None:
        not_applicable("no libcuda copy the loader takes names its driver build (libcuda.so.<build>)")
    if judged.finding is not None:
        f = judged.finding
        fail(f.summary, expected=f.expected, found=f.found, source=f.source, why=f.why, fix=f.fix)


# The distribution's own CUDA libraries (nvidia-tensorflow's pip requirements, tensorflow's [and-cuda] wheels) and
# the LD_LIBRARY_PATH copies glibc takes ahead of them: gpuconform.diagnose.shadowing.
def test_no_ld_library_path_directory_shadows_the_distributions_own_libraries(
    libraries: LibrariesFacts, host_facts: Facts, host_matrices: Matrices, lib_host: Host, host_warn: Any
) -> None:
    own = own_libraries(lib_host.tf, host_facts.packages, libraries, host_matrices)
    if own is None:
        tf = host_facts.packages.tensorflow
        what = f"{tf.name} {tf.version}" if tf is not None else "no TensorFlow"
        not_applicable(f"{what}: no CUDA library of its own installed (nvidia-tensorflow, tensorflow[and-cuda])")
    found = shadows(libraries, lib_host.env, own, host_matrices)
    if not found and own.widened:
        # An unknown label spanning releases of two CUDA majors: a directory that shadows the copies of some.
        own = dataclasses.replace(own, sonames=own.widened, unknown=own.widened_why)
        found = shadows(libraries, lib_host.env, own, host_matrices)
    if not found:
        return
    f = shadow_finding(found[0], own, lib_host.env, lib_host.conda)
    if own.unknown:
        # The directory is reported; it is the cause only where every candidate release installs those libraries.
        host_warn(f"{f.summary} (not judged the cause: {own.unknown})", expected=f.expected, found=f.found,
                  source=f.source, why=f.why, fix=f.fix)
        return
    fail_with(f)


@pytest.mark.parametrize("name", NAMES)
def test_only_one_version_of_each_library_is_reachable(
    name: str, libraries: LibrariesFacts, host_facts: Facts, host_matrices: Matrices, lib_host: Host
) -> None:
    lib = _library(libraries, name)
    loads = reached_loads(lib, lib_host)
    versions = {ld.version for ld in loads if ld.version}
    if not versions:
        not_applicable(
            library_version_not_stated(loads)
            or f"no copy of {lib.soname} with a readable version is where TensorFlow looks"
        )
    if len(versions) == 1:
        return
    own = own_libraries(lib_host.tf, host_facts.packages, libraries, host_matrices)
    if own is not None and not own.unknown:
        # A copy in a directory that shadows the distribution's own libraries: that directory is the cause.
        shadowing = [s for s in shadows(libraries, lib_host.env, own, host_matrices)
                     if any(posixpath.dirname(ld.path) == s.directory for ld in loads)]
        if shadowing:
            blocked(SHADOW_CHECK, f"{shadowing[0].directory} on LD_LIBRARY_PATH shadows {own.what}'s own libraries")
    if name == "cuda":
        judged = _judge_libcuda(lib, host_facts, lib_host)
        if judged is not None and judged.finding is not None:
            blocked(KERNEL_CHECK, judged.finding.summary)  # the copy the loader takes is the problem
    listed = "; ".join(f"{ld.version} at {_where(ld, lib)}" for ld in loads if ld.version)
    fail(
        f"{len(versions)} different versions of {lib.soname} are reachable: {', '.join(sorted(versions))}",
        expected=f"one version of {lib.soname}",
        found=listed,
        source=f"{SOURCE}; {SEARCH}",
        why="which copy wins depends on RUNPATH, LD_LIBRARY_PATH and load order; TF may load one and a plugin the "
        "other (the classic duplicate libcudnn: 'Loaded runtime CuDNN library ... but source was compiled with ...')",
        fix=stray_copies_fix(lib, loads, lib_host, host_facts),
    )


@pytest.mark.parametrize("name", [n for n in NAMES if n != "cuda"])
def test_library_version_matches_the_tensorflow_build(
    name: str, libraries: LibrariesFacts, tf_needs_cuda: Expectations, lib_host: Host
) -> None:
    lib = _library(libraries, name)
    release = tf_needs_cuda.tf_release
    assert release is not None
    reached = reached_loads(lib, lib_host)
    loaded = [ld for ld in reached if ld.version]
    if not loaded:
        not_applicable(
            library_version_not_stated(reached) or f"no version of {lib.soname} could be read where TensorFlow looks"
        )
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
                fix=_install_fix(name, lib.soname, lib_host),
            )


def test_cudnn_and_cudart_are_built_for_the_same_cuda_major(
    libraries: LibrariesFacts, host_expect: Expectations, lib_host: Host
) -> None:
    cudnn = next((lib for lib in libraries.libraries if lib.name == "cudnn"), None)
    cudart = next((lib for lib in libraries.libraries if lib.name == "cudart"), None)
    runtime = [ld for ld in (reached_loads(cudart, lib_host) if cudart else ()) if ld.version]
    dnn_loads = reached_loads(cudnn, lib_host) + reached_loads(cudnn, lib_host, other=True) if cudnn else ()
    dnn = [ld for ld in dnn_loads if ld.cuda_major is not None]
    if not runtime or not dnn:
        unstated = library_version_not_stated(reached_loads(cudart, lib_host) if cudart else ()) or (
            library_version_not_stated(dnn_loads) if not dnn else None
        )
        not_applicable(unstated or "needs both a CUDA runtime and a cuDNN whose versions could be read")
    majors = {Version(ld.version).major for ld in runtime}  # type: ignore[arg-type]
    wrong = [ld for ld in dnn if ld.cuda_major not in majors]
    if wrong:
        ld = wrong[0]
        pins = lib_host.matrices.and_cuda_pins(lib_host.tf.version) if lib_host.tf is not None else None
        suffix = "/".join(str(m) for m in sorted(majors))
        fix = (
            f"pip install 'nvidia-cudnn-cu{suffix}' (the -cuXX suffix must match the CUDA runtime)"
            if pins
            else _install_fix("cudnn", cudnn.soname if cudnn else "cudnn", lib_host)
        )
        fail(
            f"cuDNN {ld.version} is built for CUDA {ld.cuda_major}, "
            f"but the CUDA runtime is {', '.join(sorted(r.version for r in runtime))}",  # type: ignore[misc]
            expected=f"a cuDNN built for CUDA {suffix}",
            found=f"cuDNN {ld.version} (cudnnGetCudartVersion major {ld.cuda_major}) at {ld.path}",
            source=SOURCE,
            why="a cuDNN for another CUDA major fails at the first convolution (CUDNN_STATUS_NOT_INITIALIZED or a "
            "missing symbol)",
            fix=fix,
        )


# Fails whenever the driver layer's CUDA check does: it is then blocked by it, not a second problem.
@pytest.mark.depends_on("driver::driver_is_new_enough_for_the_tensorflow_cuda")
def test_the_driver_api_is_new_enough_for_the_runtime(
    libraries: LibrariesFacts, host_facts: Facts, host_expect: Expectations, host_matrices: Matrices, lib_host: Host
) -> None:
    driver = next((lib for lib in libraries.libraries if lib.name == "cuda"), None)
    cudart = next((lib for lib in libraries.libraries if lib.name == "cudart"), None)
    api = [ld for ld in (reached_loads(driver, lib_host) if driver else ()) if ld.version]
    runtime = [ld for ld in (reached_loads(cudart, lib_host) if cudart else ()) if ld.version]
    if not api or not runtime:
        unstated = library_version_not_stated(reached_loads(driver, lib_host) if driver else ()) or (
            library_version_not_stated(reached_loads(cudart, lib_host) if cudart else ())
        )
        not_applicable(
            f"{unstated}, so the CUDA version libcuda supports is not compared with the runtime's"
            if unstated
            else "needs both libcuda.so.1 and a CUDA runtime whose versions could be read"
        )
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


# TF-TRT's TensorRT: the rules are gpuconform.diagnose.tensorrt's (matrices/tensorrt.toml). Judged whatever the
# profile: a host that installed TensorRT means to run TF-TRT, and which sonames are installed is a question of files.
def test_tensorrt_matches_the_tensorflow_build(libraries: LibrariesFacts, lib_host: Host) -> None:
    from gpuconform.diagnose.tensorrt import judge_tensorrt

    judged = judge_tensorrt(libraries.tensorrt, lib_host.tf, lib_host)
    if judged.not_applicable is not None:
        not_applicable(judged.not_applicable)
    if judged.finding is not None:
        fail_with(judged.finding)


# The toolchain XLA compiles with: the rules are gpuconform.diagnose.toolchain's (matrices/xla_toolchain.toml).
def test_xla_finds_libdevice_and_a_ptxas_for_each_gpu(
    tf_needs_cuda: Expectations, host_facts: Facts, host_matrices: Matrices, host_warn: Any
) -> None:
    from gpuconform.diagnose.toolchain import judge_found

    release = tf_needs_cuda.tf_release
    assert release is not None
    if host_facts.toolchain is None:
        not_applicable("the CUDA toolchain (ptxas, libdevice) was not recorded")
    judgements = judge_found(host_facts, release, host_matrices)
    for w in (j.finding for j in judgements if not j.failure):
        host_warn(w.summary, expected=w.expected, found=w.found, source=w.source, why=w.why, fix=w.fix)
    f = next((j.finding for j in judgements if j.failure), None)
    if f is not None:
        fail_with(f)


# ---- PyTorch and JAX: the copies their own children mapped -------------------------------------
#
# Their framework child (the framework layer's: `gpuconform.frameworks.base.OTHER_FRAMEWORK_EXPERIMENTS`) reads its
# /proc/self/maps after import and CUDA initialisation; gpuconform.frameworks.own_copies judges the lines
# against the nvidia-* wheels of its environment. A required framework fails, one only installed warns
# (`gpuconform.frameworks.needs.judged`). Run whatever the profile: a CUDA build maps its libraries at
# import, GPU or not.

FRAMEWORK_MODULE = "framework"
TORCH_CHILD = Planned(FRAMEWORK_MODULE, OTHER_FRAMEWORK_EXPERIMENTS, framework="torch")
JAX_CHILD = Planned(FRAMEWORK_MODULE, OTHER_FRAMEWORK_EXPERIMENTS, framework="jax")
TORCH_REACHES = (
    "the nvidia-* wheel torch is installed with, reached through libtorch_cuda.so's RUNPATH "
    "$ORIGIN/../../nvidia/<library>/lib"
)
JAX_REACHES = (
    "the nvidia-* wheel the CUDA plugin is installed with, loaded by path when the plugin initialises "
    "(jax_plugins' _load_nvidia_libraries)"
)


def _installed(need: FrameworkNeed) -> PackageInfo:
    if need.installed is None:
        not_applicable(f"{need.name} is not installed ({imports_check(need.name)} says what the profile asks)")
    return need.installed


def test_torch_maps_its_own_cuda_libraries(
    torch_need: FrameworkNeed, torch_live: LiveChildren, host_warn: Any
) -> None:
    """Each CUDA library a PyTorch child mapped is its own pip copy, and only one copy of each."""
    installed = _installed(torch_need)
    batch = torch_live.batch(*TORCH_CHILD.args())
    build: TorchBuildInfo = answer(torch_live, torch_need, batch, "build_info", TorchBuildInfo)
    if build.cuda is None:
        not_applicable(
            f"torch {installed.version} is not a CUDA build (torch.version.cuda is None): it maps no CUDA library"
        )
    mapped: MappedLibraries = answer(torch_live, torch_need, batch, "maps", MappedLibraries)
    words = Words(f"torch {installed.version}", "PyTorch", TORCH_REACHES, torch_live.source(FRAMEWORK_MODULE))
    judged(torch_need, judge_own_copies(words, mapped), host_warn)


def test_jax_maps_its_own_cuda_libraries(jax_need: FrameworkNeed, jax_live: LiveChildren, host_warn: Any) -> None:
    """Each CUDA library a JAX child mapped is its CUDA plugin's own pip copy, and only one copy of each."""
    installed = _installed(jax_need)
    batch = jax_live.batch(*JAX_CHILD.args())
    build: JaxBuildInfo = answer(jax_live, jax_need, batch, "build_info", JaxBuildInfo)
    if not build.plugins:
        not_applicable(
            f"jax {installed.version} has no CUDA plugin installed: jaxlib {build.jaxlib} maps no CUDA library"
        )
    plugins = ", ".join(f"{p} {v}" for p, v in build.plugins.items())
    mapped: MappedLibraries = answer(jax_live, jax_need, batch, "maps", MappedLibraries)
    words = Words(f"jax {installed.version} ({plugins})", "JAX", JAX_REACHES, jax_live.source(FRAMEWORK_MODULE))
    judged(jax_need, judge_own_copies(words, mapped), host_warn)
