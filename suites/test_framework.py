"""Layer `framework`: does the installed TensorFlow match the matrix, load its libraries and see the GPUs?

The first two checks need only the facts and the matrices (they also run on
replayed facts and simulated hosts), and so does the first question of the third
(two TensorFlow distributions installed at once). The others ask a TensorFlow child:
one child runs every framework experiment (see `gpuconform.frameworks.tensorflow.experiments.framework`)
with TF's verbose log on, so that a library TF failed to load is named.

Whether a build can use the GPU follows the distribution's era (matrices/tf_platforms.toml:
before 2.1 plain `tensorflow` is the CPU build); whether its kernels cover a GPU follows the
wheel's fatbins and, for PTX-only coverage, whether its CUDA predates the GPU's architecture
(matrices/architectures.toml); when TF sees fewer GPUs than NVML the cause is one of
`gpuconform.frameworks.tensorflow.diagnose.CAUSES` (docs/no-gpu-causes.md).
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterable
from typing import Any

import pytest
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion
from packaging.version import Version

from gpuconform.diagnose.toolchain import judge_log
from gpuconform.expect.compat import releases_for
from gpuconform.expect.expectations import Expectations
from gpuconform.expect.framework_needs import FrameworkNeed
from gpuconform.expect.framework_tables import FrameworkTables
from gpuconform.expect.lookups import ReleaseVerdict
from gpuconform.expect.matrix import Matrices
from gpuconform.expect.matrix import MatrixKeyError
from gpuconform.expect.tables.kernels import KernelRelease
from gpuconform.expect.tables.tensorflow import TfRelease
from gpuconform.expect.tables.tensorrt import TENSORRT_LIBRARIES
from gpuconform.facts.model import Facts
from gpuconform.facts.model import LibraryLoad
from gpuconform.facts.model import PackageInfo
from gpuconform.facts.text import headline
from gpuconform.facts.unstated import driver_version_not_stated
from gpuconform.facts.versions import driver_branch
from gpuconform.facts.versions import format_cc
from gpuconform.facts.versions import parse_cc
from gpuconform.frameworks.base import OTHER_FRAMEWORK_EXPERIMENTS
from gpuconform.frameworks.children import Batch
from gpuconform.frameworks.children import Planned
from gpuconform.frameworks.devices import VISIBLE
from gpuconform.frameworks.devices import visibility
from gpuconform.frameworks.gpus import expected_gpus
from gpuconform.frameworks.gpus import gpus_with_cc
from gpuconform.frameworks.identity import Identity
from gpuconform.frameworks.jax import JaxBuildInfo
from gpuconform.frameworks.jax import JaxDevices
from gpuconform.frameworks.jax import checks as jax_checks
from gpuconform.frameworks.live import LiveChildren
from gpuconform.frameworks.maps import check_mapped_libraries
from gpuconform.frameworks.maps import mapped_files
from gpuconform.frameworks.needs import STARTS_CHECKS
from gpuconform.frameworks.needs import answer
from gpuconform.frameworks.needs import import_fix
from gpuconform.frameworks.needs import installed_finding
from gpuconform.frameworks.needs import judged
from gpuconform.frameworks.tensorflow import FRAMEWORK
from gpuconform.frameworks.tensorflow import BuildInfo
from gpuconform.frameworks.tensorflow import DeviceList
from gpuconform.frameworks.tensorflow import Evidence
from gpuconform.frameworks.tensorflow import GpuInit
from gpuconform.frameworks.tensorflow import LiveTf
from gpuconform.frameworks.tensorflow import TfIdentity
from gpuconform.frameworks.tensorflow import TfLog
from gpuconform.frameworks.tensorflow import diagnose
from gpuconform.frameworks.tensorflow import gpu_build
from gpuconform.frameworks.tensorflow import no_cuda_summary
from gpuconform.frameworks.tensorflow import observe
from gpuconform.frameworks.tensorflow import parse_log
from gpuconform.frameworks.torch import TorchBuildInfo
from gpuconform.frameworks.torch import TorchDevices
from gpuconform.frameworks.torch import checks as torch_checks
from gpuconform.plugin.frameworks import live_for
from gpuconform.verdict.check import CouldNotCheck
from gpuconform.verdict.check import Finding
from gpuconform.verdict.check import could_not_check
from gpuconform.verdict.check import fail
from gpuconform.verdict.check import fail_with
from gpuconform.verdict.check import not_applicable

from .test_libraries import install_fix

pytestmark = pytest.mark.framework

MODULE = "framework"
EXPERIMENTS = ("identity", "build_info", "devices", "gpu_init")
#: Read once, before import: INFO lines and VLOG(1) name every library TF failed to dlopen. Only checks that
#: apply where the profile expects GPUs read them (`gpu_build`): elsewhere the child is forked from the zygote
#: the other layers use instead of needing one of its own.
VERBOSE = {"TF_CPP_MIN_LOG_LEVEL": "0", "TF_CPP_MAX_VLOG_LEVEL": "1"}
#: The files TF-TRT dlopens (libnvinfer.so.7, libnvinfer_plugin.so.8.6.1): TensorRT, not a CUDA library.
TENSORRT_FILES = tuple(f"lib{name}.so" for name in TENSORRT_LIBRARIES)
#: The layer's one child (started when collection ends: `gpuconform.plugin.early`).
FRAMEWORK_CHILD = Planned(MODULE, EXPERIMENTS, gpus_env=VERBOSE)
CHILD = f"a TensorFlow child process ({FRAMEWORK.describe(MODULE)})"
IMPORTS = "framework::tensorflow_imports_as_the_installed_distribution"
LOADS = "framework::tensorflow_loads_every_gpu_library"
SEES = "framework::tensorflow_sees_the_expected_gpus"
KERNELS_TABLE = "matrices/kernels.toml (the CUDA fatbins of each wheel)"
ARCH_TABLE = "matrices/architectures.toml (the first CUDA of each architecture)"
PLATFORMS_TABLE = "matrices/tf_platforms.toml"
TIMEOUT_FIX = "re-run with a longer --host-tf-timeout (the first TensorFlow start on a fresh GPU may JIT for minutes)"


# ---- fixtures: one child for the whole layer ----------------------------------------


@pytest.fixture
def framework_batch(tf_live: LiveTf, host_expect: Expectations) -> Batch:
    return tf_live.planned(FRAMEWORK_CHILD, host_expect.profile.expects_gpu)


@pytest.fixture
def identity(framework_batch: Batch) -> TfIdentity | None:
    """Which TensorFlow imported; None when the import itself failed (the identity check says so)."""
    crash = framework_batch["__import__"].crash
    if crash is not None and crash.kind == "timeout":
        # Slow is not broken (a first import may JIT or fill caches): could not check, not a failure.
        could_not_check("TensorFlow", f"{crash.kind}: {crash.message}", source=CHILD, fix=TIMEOUT_FIX)
    if framework_batch.import_error:
        return None
    return observe(framework_batch, "identity", TfIdentity)


@pytest.fixture
def build_info(framework_batch: Batch) -> BuildInfo:
    return observe(framework_batch, "build_info", BuildInfo)


@pytest.fixture
def device_list(framework_batch: Batch) -> DeviceList:
    return observe(framework_batch, "devices", DeviceList)


@pytest.fixture
def gpu_init(framework_batch: Batch) -> GpuInit:
    return observe(framework_batch, "gpu_init", GpuInit)


@pytest.fixture
def framework_log(framework_batch: Batch) -> TfLog:
    return parse_log(framework_batch.log)


def _fix_for_library(host_expect: Expectations, host_matrices: Matrices) -> Callable[[str], str]:
    def fix(name: str) -> str:
        try:
            return install_fix(name, host_expect, host_matrices)
        except KeyError:  # a transitive dependency the libraries layer does not list
            return (
                f"install the package that provides lib{name}.so (see the dlerror): pip install 'tensorflow[and-cuda]'"
            )

    return fix


# ---- facts and matrices only ----------------------------------------------------------


def test_tensorflow_build_can_use_the_gpu(host_expect: Expectations, host_matrices: Matrices) -> None:
    tf = host_expect.tensorflow
    profile = host_expect.profile
    if tf is None:
        not_applicable("TensorFlow is not installed")
    if not profile.expects_gpu:
        not_applicable(f"profile {profile.name!r} expects no GPU; any TensorFlow build will do")
    if profile.tensorflow.gpu_build is False:
        not_applicable(f"profile {profile.name!r} accepts a CPU-only TensorFlow")
    if host_expect.shadowing:
        names = " and ".join(f"{d.name} {d.version}" for d in host_expect.tf_distributions)
        not_applicable(f"{names} are installed at once: {IMPORTS} judges which build runs")
    if host_expect.tf_is_gpu_build:
        return
    said = host_expect.tf_cuda_build_source or f"the distribution name {tf.name}"
    fail(
        no_cuda_summary(tf),
        expected=f"a CUDA build of TensorFlow (profile {profile.name!r} expects {profile.gpus.count} GPU(s))",
        found=f"{tf.name} {tf.version} at {tf.location or '?'}: {said}",
        source=f"Python package metadata (importlib.metadata); {PLATFORMS_TABLE}",
        why=f"{tf.name} {tf.version} is built without CUDA: it never looks for a GPU and runs everything on the CPU",
        fix=_cpu_build_fix(tf, host_expect, host_matrices),
    )


def _cpu_build_fix(tf: PackageInfo, expect: Expectations, matrices: Matrices, said_no: bool = False) -> str:
    """Replace a CPU-only build with the GPU build of the same release, as that release's era names it
    (`said_no`: TensorFlow's own build info says no CUDA, whatever its name and era say)."""
    platforms = matrices.rules.tf_platforms
    try:
        gpu_name = platforms.gpu_distribution(tf.version)
        by_era = platforms.is_cuda_build(tf.name, tf.version)
    except InvalidVersion:
        gpu_name, by_era = "tensorflow", None
    and_cuda = matrices.and_cuda_pins(tf.version) is not None
    if canonicalize_name(tf.name) == gpu_name and by_era is not False and (expect.tf_cuda_build is False or said_no):
        # Named like the CUDA build, but its own build info says no CUDA (a repackaged or conda build).
        wanted = f"'tensorflow[and-cuda]=={tf.version}'" if and_cuda else f"'{gpu_name}=={tf.version}'"
        return (
            f"install a CUDA build of {tf.version} in a fresh environment: pip install {wanted}; from conda, a build "
            "whose tf.test.is_built_with_cuda() is True (the build string alone does not prove it)"
        )
    wanted = f"'tensorflow[and-cuda]=={tf.version}'" if and_cuda and gpu_name == "tensorflow" else ""
    wanted = wanted or f"'{gpu_name}=={tf.version}'"
    fix = f"pip uninstall -y {tf.name} && pip install {wanted}"
    if gpu_name != canonicalize_name(tf.name) and not canonicalize_name(tf.name).endswith("-cpu"):
        # Before 2.1 both builds install the same `tensorflow` package under different names: whatever put
        # the CPU one in (a requirements file, a package's install_requires, a conda update) swaps it back.
        fix += (
            f"; and change whatever installed {tf.name} (a requirements file, a package's install_requires, a "
            f"`conda update`) to {gpu_name}, or the next install swaps the CPU build back in"
        )
    return fix


def test_gpu_kernels_cover_every_compute_capability(
    host_expect: Expectations, host_facts: Facts, host_matrices: Matrices, host_warn: Any
) -> None:
    installed = gpu_build(host_expect)
    tf = host_expect.tensorflow
    assert tf is not None
    if host_expect.tf_release is None:
        not_applicable(f"{installed} has no row in {KERNELS_TABLE}")
    gpus = gpus_with_cc(host_facts, host_expect)
    for name, cc, source in gpus:
        coverage = host_matrices.coverage(tf.version, cc)
        label = f"{name} (compute capability {format_cc(cc)})"
        if coverage.kind == "native":
            continue
        problem = kernel_problem(host_expect, host_facts, host_matrices, cc)
        if problem is None:
            host_warn(
                f"{label} has no native kernels in {installed}: the first use JIT-compiles them from PTX, "
                "which can take many minutes",
                found=coverage.detail,
                source=f"{source}; {KERNELS_TABLE}",
                why="a fresh machine or container pays the JIT on its first TensorFlow run: timeouts fire",
                fix="pre-warm once per machine: run a small model on the GPU with CUDA_CACHE_MAXSIZE=4294967296 "
                "(the cache is ~/.nv/ComputeCache: keep it on a persistent volume in containers)",
            )
            continue
        summary, expected, found, why, fix = problem
        fail(
            summary.format(label=label, installed=installed),
            expected=expected,
            found=found,
            source=f"{source}; {KERNELS_TABLE}; {ARCH_TABLE}",
            why=why,
            fix=fix,
        )


def kernel_problem(
    expect: Expectations, facts: Facts, matrices: Matrices, cc: tuple[int, int]
) -> tuple[str, str, str, str, str] | None:
    """Why the installed wheel cannot run a GPU of `cc` (summary template, expected, found, why, fix), or None
    when it can (natively, or through PTX JIT from a CUDA that knows the architecture)."""
    tf, release = expect.tensorflow, expect.tf_release
    if tf is None or release is None:
        return None
    coverage = matrices.coverage(tf.version, cc)
    if coverage.kind == "native":
        return None
    arch = matrices.rules.architectures
    releases = releases_for(matrices, facts.driver.nvml.driver_version, cc, facts.platform.python_version)
    runnable = next((r for r in releases if r.runs and not r.release.prerelease), None)
    if coverage.kind == "ptx":
        newer = arch.cuda_predates(release.cuda, cc)
        if newer is None:
            return None
        first = arch.first_cuda_for(cc)
        assert first is not None  # cuda_predates found a row of the GPU's family
        built = next((r for r in reversed(matrices.tf_releases) if not r.prerelease and r.cuda >= first), None)
        return (
            f"{{label}} is newer than the CUDA {release.cuda} of {{installed}}: no kernels it can load",
            f"a TensorFlow built with CUDA {first} or newer (the first toolkit for {newer.name} {newer.sm}), "
            f"or SASS for compute capability {cc[0]}.x at or below {format_cc(cc)}",
            f"{tf.name} {tf.version} is built with CUDA {release.cuda}; {coverage.detail}",
            f"the wheel's PTX could be JIT-compiled for this GPU, but CUDA {release.cuda}'s cuBLAS and cuDNN carry no "
            f"kernels for {newer.name}: CUDA initialisation fails ('device kernel image is invalid', "
            "CUDA_ERROR_INVALID_PTX) or every kernel is JIT-compiled for minutes",
            _newer_fix(cc, first, built, runnable, expect, facts, matrices),
        )
    kernels = matrices.kernels_for(tf.version)
    oldest = min(kernels.sass, default=None)
    return (
        "{label} has no kernels in {installed}",
        f"SASS for compute capability {cc[0]}.x at or below {format_cc(cc)}, or PTX at or below it",
        coverage.detail,
        "TensorFlow either ignores the GPU or fails at the first kernel launch "
        "('no kernel image is available for execution on the device', 'device kernel image is invalid')",
        _older_fix(cc, oldest, release, runnable, expect, facts, matrices),
    )


def _install(release: TfRelease, facts: Facts, matrices: Matrices) -> str:
    return matrices.rules.tf_platforms.gpu_install(
        release.version,
        and_cuda=matrices.and_cuda_pins(release.version) is not None,
        cuda=str(release.cuda),
        cudnn=str(release.cudnn),
        system=facts.platform.system,
    )


def _newer_fix(
    cc: tuple[int, int],
    first: Version | None,
    built: TfRelease | None,
    runnable: ReleaseVerdict | None,
    expect: Expectations,
    facts: Facts,
    matrices: Matrices,
) -> str:
    text = format_cc(cc)
    if runnable is not None:
        fix = (
            f"install TensorFlow {runnable.release.series} (CUDA {runnable.release.cuda}), the newest release that "
            f"runs here: {_install(runnable.release, facts, matrices)}"
        )
        if built is not None and built.series != runnable.release.series:
            fix += f"; TensorFlow {built.series} (CUDA {built.cuda}) is the first release built for {text}"
        return fix
    if built is not None:
        answers = releases_for(matrices, facts.driver.nvml.driver_version, cc, facts.platform.python_version)
        blocking = next((r for r in answers if r.release.version == built.version), None)
        why = f" (here: {blocking.problems[0]})" if blocking is not None and blocking.problems else ""
        return (
            f"TensorFlow {built.series} (CUDA {built.cuda}) is the first release built for compute capability {text}"
            f"{why}: {_install(built, facts, matrices)}"
        )
    newest = matrices.tf_releases[0]
    return (
        f"no TensorFlow release in the matrix (to {newest.version}) is built with CUDA {first} or newer, which "
        f"compute capability {text} (sm_{cc[0]}{cc[1]}) needs: run a TensorFlow build that targets it, e.g. NVIDIA's "
        f"NGC TensorFlow container (nvcr.io/nvidia/tensorflow), or build TensorFlow from source with CUDA {first} "
        f"or newer and TF_CUDA_COMPUTE_CAPABILITIES={text}"
    )


def _older_fix(
    cc: tuple[int, int],
    oldest: tuple[int, int] | None,
    release: TfRelease,
    runnable: ReleaseVerdict | None,
    expect: Expectations,
    facts: Facts,
    matrices: Matrices,
) -> str:
    text = format_cc(cc)
    parts = []
    if runnable is not None:
        parts.append(
            f"install TensorFlow {runnable.release.series} (the newest release with kernels for {text}): "
            f"{_install(runnable.release, facts, matrices)}"
        )
    dropped = matrices.rules.architectures.cuda_dropped(release.cuda, cc)
    if dropped is None:
        parts.append(
            f"build TensorFlow {release.series} from source with TF_CUDA_COMPUTE_CAPABILITIES={text} "
            f"(its CUDA {release.cuda} still targets sm_{cc[0]}{cc[1]})"
        )
    if oldest is not None and oldest > cc:
        parts.append(f"use a GPU of compute capability {format_cc(oldest)} or newer")
    fix = "; or ".join(parts) or "use a newer GPU"
    if dropped is not None:
        fix += (
            f" (no build of TensorFlow {release.series} can target it: CUDA {release.cuda} dropped {dropped.sm} "
            f"after CUDA {dropped.last_cuda})"
        )
    return fix


# ---- TensorFlow itself ----------------------------------------------------------------


def test_tensorflow_imports_as_the_installed_distribution(
    host_expect: Expectations, host_matrices: Matrices, host_facts: Facts, request: pytest.FixtureRequest
) -> None:
    tf = host_expect.tensorflow
    if tf is None:
        not_applicable("TensorFlow is not installed")
    if host_expect.shadowing:
        _fail_two_tensorflows(host_expect, host_matrices, request)
    framework_batch: Batch = request.getfixturevalue("framework_batch")
    identity: TfIdentity | None = request.getfixturevalue("identity")
    imports_as_installed(host_expect, framework_batch, identity, host_facts.platform.environment)


def _fail_two_tensorflows(expect: Expectations, matrices: Matrices, request: pytest.FixtureRequest) -> None:
    """Two distributions own the `tensorflow` package (judged from the package facts; the child, where recorded,
    says which one's files import)."""
    dists = expect.tf_distributions
    winner = dists[0]
    how = "the first on sys.path, whose tensorflow/__init__.py is its own (RECORD)"
    try:
        seen: TfIdentity | None = request.getfixturevalue("identity")
    except (pytest.skip.Exception, CouldNotCheck):
        seen = None
    if seen is not None and seen.distribution:
        winner = next((d for d in dists if canonicalize_name(d.name) == canonicalize_name(seen.distribution)), winner)
        how = f"tensorflow.__file__ {seen.module_file} in the TensorFlow child"
    platforms = matrices.rules.tf_platforms
    builds = {d.name: _is_cuda(d, platforms) for d in dists}
    gpu = next((d for d in dists if builds[d.name]), None)
    kind = {True: "a CUDA build", False: "the CPU-only build", None: "a build of unknown kind"}
    listed = "; ".join(f"{d.name} {d.version} ({kind[builds[d.name]]}) at {d.location or '?'}" for d in dists)
    names = " ".join(sorted({d.name for d in dists}, key=lambda n: (n != "tensorflow", n)))
    if expect.profile.expects_gpu:
        version = (gpu or winner).version
        try:
            target = f"{platforms.gpu_distribution(version)}=={version}"
        except InvalidVersion:
            target = f"{(gpu or winner).name}=={version}"
    else:
        target = f"{winner.name}=={winner.version}"
    loads = f"{winner.name} {winner.version}" + (" (the CPU-only build)" if builds[winner.name] is False else "")
    fail(
        f"{len(dists)} TensorFlow distributions are installed at once; import tensorflow loads {loads}",
        expected="one TensorFlow distribution owning the tensorflow package",
        found=f"{listed}; import tensorflow loads {winner.name} ({how})",
        source=f"Python package metadata (importlib.metadata); {PLATFORMS_TABLE}",
        why="both install the same tensorflow package: whichever was installed last (or comes first on sys.path) "
        "wins, file by file, so the build that runs is not the one the other install asked for",
        fix=f"pip uninstall {names} -y && pip install '{target}'; then take the other one out of whatever pulled "
        "it in (pip show <name> lists what requires it: a requirements file, a package's install_requires, a "
        "conda environment or `conda update`), or the next install brings it back",
    )


def _is_cuda(dist: PackageInfo, platforms: Any) -> bool | None:
    try:
        said: bool | None = platforms.is_cuda_build(dist.name, dist.version)
    except InvalidVersion:
        return None
    if said is None and canonicalize_name(dist.name).endswith("-cpu"):
        return False
    return said


def imports_as_installed(
    host_expect: Expectations,
    framework_batch: Batch,
    identity: TfIdentity | None,
    environment: Iterable[tuple[str, str]] = (),
) -> None:
    """The import check against the TensorFlow child: the import works, and imports the installed distribution."""
    tf = host_expect.tensorflow
    assert tf is not None
    installed = f"{tf.name} {tf.version}"
    if identity is None:
        error = framework_batch.import_error or "no answer"
        crash = framework_batch.crash_text or ""
        why = "every TensorFlow check above this one needs the import to work"
        fix = import_fix(tf, error, environment)
        if "SIGILL" in crash:
            why = "SIGILL: the wheel uses CPU instructions (AVX/AVX2) this CPU lacks"
            fix = "run on a CPU with AVX2, or build TensorFlow from source for this CPU"
        fail(
            f"import tensorflow fails: {headline(error, 200)}",
            expected=f"{installed} imports",
            found=error[:1500],
            source=CHILD,
            why=why,
            fix=fix,
        )
    ident = identity
    owner = ident.distribution
    same_owner = owner is not None and canonicalize_name(owner) == canonicalize_name(tf.name)
    if same_owner and _same_version(ident.version, tf.version):
        return
    who = (
        f"{canonicalize_name(owner)} {ident.distribution_version}" if owner else "files no installed distribution owns"
    )
    fail(
        f"import tensorflow loads TensorFlow {ident.version} from {who}, not the installed {installed}",
        expected=f"{installed} at {tf.location or '?'}",
        found=f"TensorFlow {ident.version} imported from {ident.module_file} ({who})",
        source=CHILD + "; Python package metadata",
        why="a second TensorFlow shadows the installed one (PYTHONPATH, a user site, two distributions writing the "
        "same files): every check and every job runs a TensorFlow other than the one the matrix was judged for",
        fix=f"pip uninstall -y tensorflow tensorflow-cpu tf-nightly && pip install '{tf.name}=={tf.version}' "
        "(and remove any other copy from PYTHONPATH)",
    )


@pytest.mark.depends_on(IMPORTS)
def test_build_info_matches_the_matrix(
    host_expect: Expectations, host_matrices: Matrices, build_info: BuildInfo, host_warn: Any
) -> None:
    tf = host_expect.tensorflow
    assert tf is not None
    installed = f"{tf.name} {tf.version}"
    cpu_dist = canonicalize_name(tf.name).endswith("-cpu")
    if cpu_dist or build_info.is_cuda_build is False:
        if build_info.is_cuda_build and cpu_dist:
            fail(
                f"{installed} reports a CUDA build",
                expected=f"{tf.name} is built without CUDA (is_cuda_build False)",
                found=f"get_build_info(): {_build_text(build_info)}",
                source=CHILD,
                why="a CPU distribution with CUDA build info was rebuilt or repackaged: no matrix row describes it",
                fix=f"pip install --force-reinstall '{tf.name}=={tf.version}'",
            )
        return  # a CPU build that says so: nothing CUDA to compare
    lookup = host_expect.tf_lookup
    release = host_expect.tf_release
    if release is None or lookup is None:
        not_applicable(f"{installed} has no matrix row to compare its build with")
    kernels = host_matrices.kernels_for(release.version)
    row = f"TensorFlow {release.version}" + (" (a pre-release row)" if release.prerelease else "")
    if build_info.has_cuda_keys:
        found = f"get_build_info(): {_build_text(build_info)}"
        mismatches = _build_info_mismatches(build_info, release, kernels.build_info_caps)
        expected = f"CUDA {release.cuda}, cuDNN {release.cudnn_major}, {', '.join(kernels.build_info_caps)}"
        source = CHILD
    elif build_info.header_cuda or build_info.header_cudnn:
        # TF 2.22 dropped the CUDA keys from get_build_info(); the package's headers still say what it was built with.
        found = f"{_header_text(build_info)} (get_build_info() has no CUDA keys: {', '.join(build_info.keys)})"
        mismatches = _header_mismatches(build_info, release, kernels)
        archs = sorted({format_cc(c) for c in kernels.sass + kernels.sass_partial + kernels.ptx}, key=parse_cc)
        expected = f"CUDA {release.cuda}, cuDNN {release.cudnn}, compute capabilities {', '.join(archs)}"
        source = f"{CHILD}: {', '.join(build_info.header_files)}"
    else:
        host_warn(
            f"{installed} does not say which CUDA and cuDNN it was built with: the lower layers used the matrix "
            f"row of {row} (CUDA {release.cuda}, cuDNN {release.cudnn}) unchecked",
            found=f"get_build_info(): {_build_text(build_info)}; no cuda_config.h or cudnn_version.h in the package",
            source=CHILD,
            why="every CUDA, cuDNN and driver requirement of the lower layers was derived from the matrix row",
            fix=f"pip install --force-reinstall '{tf.name}=={tf.version}' (the official wheel ships its headers)",
        )
        return
    if not mismatches:
        return
    parts = {
        "expected": f"{expected} ({row} in matrices/tensorflow.toml and matrices/kernels.toml)",
        "found": found,
        "source": f"{source}; matrices/tensorflow.toml and matrices/kernels.toml",
        "why": "every CUDA, cuDNN and driver requirement of the lower layers was derived from the matrix row",
    }
    if lookup.status != "known":
        host_warn(
            f"{installed} is not in the matrix and its build differs from the newest row: {'; '.join(mismatches)}",
            **parts,
            fix="add the release to matrices/tensorflow.toml and matrices/kernels.toml",
        )
        return
    fail(
        f"{installed} was built with {'; '.join(mismatches)}",
        **parts,
        fix=f"install the official wheel: pip install --force-reinstall '{tf.name}=={tf.version}' "
        "(or, for a custom build, correct matrices/tensorflow.toml)",
    )


def _build_info_mismatches(build: BuildInfo, release: TfRelease, caps_row: tuple[str, ...]) -> list[str]:
    mismatches = []
    if build.cuda_version is not None and not _same_cuda(build.cuda_version, str(release.cuda)):
        mismatches.append(f"CUDA {build.cuda_version} (matrix: {release.cuda})")
    if build.cudnn_version is not None and build.cudnn_version.split(".")[0] != str(release.cudnn_major):
        mismatches.append(f"cuDNN {build.cudnn_version} (matrix: {release.cudnn_major})")
    caps = tuple(build.cuda_compute_capabilities)
    if caps and caps_row and caps != tuple(caps_row):
        mismatches.append(f"compute capabilities {', '.join(caps)} (matrix: {', '.join(caps_row)})")
    return mismatches


def _header_mismatches(build: BuildInfo, release: TfRelease, kernels: KernelRelease) -> list[str]:
    mismatches = []
    if build.header_cuda is not None and not _same_cuda(build.header_cuda, str(release.cuda)):
        mismatches.append(f"CUDA {build.header_cuda} (matrix: {release.cuda})")
    cudnn = build.header_cudnn
    if cudnn is not None:
        # A full header version is compared on the components the row gives; a bare major on the major.
        same = _same_cuda(cudnn, str(release.cudnn)) if "." in cudnn else cudnn == str(release.cudnn_major)
        if not same:
            mismatches.append(f"cuDNN {cudnn} (matrix: {release.cudnn})")
    listed = {format_cc(c) for c in kernels.sass + kernels.sass_partial + kernels.ptx}
    if build.header_caps and set(build.header_caps) != listed:
        want = ", ".join(sorted(listed, key=parse_cc))
        mismatches.append(f"compute capabilities {', '.join(build.header_caps)} (matrix: {want})")
    return mismatches


def _header_text(build: BuildInfo) -> str:
    caps = ", ".join(build.header_caps) or "none listed"
    return f"the package's headers: CUDA {build.header_cuda}, cuDNN {build.header_cudnn}, compute capabilities {caps}"


def _same_version(imported: str, installed: str) -> bool:
    """tf.__version__ '2.22.0-rc0' is the distribution's '2.22.0rc0': equal as PEP 440 versions."""
    try:
        return Version(imported) == Version(installed)
    except InvalidVersion:
        return imported == installed


def _same_cuda(built: str, matrix: str) -> bool:
    """'12.5.1' vs '12.5.1', or '12.3' vs '12.3.0': equal on the components both give."""
    a, b = built.split("."), matrix.split(".")
    return all(x.lstrip("0") == y.lstrip("0") for x, y in zip(a, b))


def _build_text(build: BuildInfo) -> str:
    return (
        f"is_cuda_build={build.is_cuda_build}, cuda_version={build.cuda_version!r}, "
        f"cudnn_version={build.cudnn_version!r}, cuda_compute_capabilities={list(build.cuda_compute_capabilities)}"
    )


@pytest.mark.depends_on(IMPORTS)
def test_tensorflow_loads_every_gpu_library(
    host_expect: Expectations, host_facts: Facts, host_matrices: Matrices, framework_log: TfLog
) -> None:
    installed = gpu_build(host_expect)
    log = framework_log
    # TF-TRT's TensorRT is optional: its "Could not load dynamic library 'libnvinfer.so.7'" is harmless without
    # TensorRT, and libraries::tensorrt_matches_the_tensorflow_build judges a host that has one.
    lost = [m for m in log.missing if not m.file.startswith(TENSORRT_FILES)]
    if not lost and not log.cannot_dlopen:
        return
    if lost:
        first = lost[0]
        fail(
            f"{installed} cannot load {', '.join(m.file for m in lost)}",
            expected="every CUDA library TensorFlow needs loads (cudart, cublas(Lt), cufft, cusolver, cusparse, cudnn)",
            found="; ".join(f"{m.file}: {m.dlerror}" for m in lost)
            + (f" (LD_LIBRARY_PATH: {first.ld_library_path})" if first.ld_library_path else ""),
            source=f"TensorFlow's own log ({', '.join(f'{k}={v}' for k, v in VERBOSE.items())})",
            why="TensorFlow skips GPU registration when any required library fails to dlopen, "
            "and then runs on the CPU without an error",
            fix=_fix_for_library(host_expect, host_matrices)(first.file.removeprefix("lib").split(".so")[0]),
        )
    libraries = host_facts.libraries
    missing = [lib.soname for lib in (libraries.libraries if libraries else ()) if lib.required and not lib.candidates]
    fail(
        f"{installed} could not dlopen some GPU libraries" + (f": {', '.join(missing)} not found" if missing else ""),
        expected="every required CUDA library loads",
        found="'Cannot dlopen some GPU libraries' in TensorFlow's log, without the per-library lines",
        source="TensorFlow's own log",
        why="TensorFlow skipped GPU registration: every op runs on the CPU",
        fix=f"read TensorFlow's account of each library: {'; '.join(f'{k}={v}' for k, v in VERBOSE.items())} "
        "python -c \"import tensorflow as tf; tf.config.list_physical_devices('GPU')\"",
    )


@pytest.mark.depends_on(IMPORTS, LOADS)
def test_tensorflow_sees_the_expected_gpus(
    host_expect: Expectations,
    host_facts: Facts,
    tf_live: LiveTf,
    device_list: DeviceList,
    build_info: BuildInfo,
    framework_log: TfLog,
    host_matrices: Matrices,
    host_warn: Any,
    framework_batch: Batch,
) -> None:
    profile = host_expect.profile
    seen = device_list.gpus
    if not any(d.endswith(":CPU:0") for d in device_list.physical):
        fail(
            "TensorFlow lists no CPU device",
            expected="/physical_device:CPU:0 among tf.config.list_physical_devices()",
            found=", ".join(device_list.physical) or "no device at all",
            source=CHILD,
            why="every TensorFlow program needs the host CPU device",
            fix=f"pip install --force-reinstall '{host_expect.tensorflow.name}=={host_expect.tensorflow.version}'",  # type: ignore[union-attr]
        )
    if not profile.expects_gpu:
        if seen:
            host_warn(
                f"profile {profile.name!r} expects no GPU, but TensorFlow sees {len(seen)}",
                found=", ".join(f"{g.name} ({g.device_name})" for g in seen),
                source=CHILD,
                fix="run with --host-profile auto (or the profile of this GPU) to check the GPUs",
            )
        return
    expected = expected_gpus(host_facts, host_expect, tf_live.pin)
    chosen = visibility(device_list.cuda_visible_devices, host_facts.driver.nvml.gpus)
    subset = tf_live.pin is None and chosen.value and chosen.resolved and 0 < len(chosen.gpus) < len(expected)
    if subset and len(seen) == len(chosen.gpus):
        # A subset chosen on purpose: TF sees exactly it, renumbered from GPU:0 (CUDA's rule, not a fault).
        host_warn(
            f"{VISIBLE}={chosen.value!r} shows TensorFlow {len(chosen.gpus)} of the {len(expected)} GPUs",
            found=chosen.describe(),
            source=f"{CHILD}; NVML",
            why=f"TensorFlow numbers the GPUs it is shown from GPU:0: its GPU:0 is NVML's GPU "
            f"{chosen.gpus[0].index}; the others stay unused by this process",
            fix=f"unset {VISIBLE} to give TensorFlow every GPU (nvidia-smi shows which ones a job uses)",
        )
        expected = chosen.gpus
    if len(seen) < len(expected):
        tf = host_expect.tensorflow
        evidence = Evidence(
            expected=len(expected),
            seen=len(seen),
            nvml_gpus=host_facts.driver.nvml.gpus,
            distribution=tf.name if tf else None,
            version=tf.version if tf else None,
            build=build_info,
            visible=device_list.cuda_visible_devices,
            log=framework_log,
            libraries=host_facts.libraries,
            driver=host_facts.driver,
            container=host_facts.platform.container,
            log_text=framework_batch.log,
            **_matrix_evidence(host_expect, host_facts, host_matrices),
        )
        d = diagnose(evidence, _fix_for_library(host_expect, host_matrices))
        fail(
            d.summary,
            expected=f"{len(expected)} GPU(s) in tf.config.list_physical_devices('GPU'){_pin_text(tf_live)}",
            found=d.found,
            source=f"{CHILD}; NVML; the libraries layer; TensorFlow's log",
            why=d.why,
            fix=d.fix,
        )
    if len(seen) > len(expected):
        fail(
            f"TensorFlow sees {len(seen)} GPUs, {len(expected)} expected",
            expected=f"{len(expected)} GPU(s) (profile {profile.name!r}{_pin_text(tf_live)})",
            found=", ".join(f"{g.name} ({g.device_name})" for g in seen),
            source=CHILD,
            why="a host with more GPUs than its profile is not the host the profile describes",
            fix=f"correct the profile's gpus.count, or restrict the GPUs with {VISIBLE}",
        )
    want = sorted(g.compute_capability for g in expected if g.compute_capability)
    got = sorted(g.compute_capability for g in seen if g.compute_capability)
    if want and got and want != got:
        fail(
            f"TensorFlow reports compute capabilities {', '.join(map(format_cc, got))}; "
            f"NVML says {', '.join(map(format_cc, want))}",
            expected=", ".join(
                f"GPU {g.index} {g.name}: {format_cc(g.compute_capability)}" for g in expected if g.compute_capability
            ),
            found=", ".join(
                f"{g.name} {g.device_name}: {format_cc(g.compute_capability)}" for g in seen if g.compute_capability
            ),
            source=f"{CHILD} (get_device_details); NVML",
            why="TensorFlow picks kernels by the compute capability it sees: a mismatch means it drives another device",
            fix=f"set {VISIBLE} by GPU UUID (nvidia-smi -L) so CUDA and NVML name the same device",
        )


def _matrix_evidence(expect: Expectations, facts: Facts, matrices: Matrices) -> dict[str, str | None]:
    """The causes of missing GPUs that the facts and the matrices show without TensorFlow's help (tfdiag.Evidence)."""
    out: dict[str, str | None] = {}
    tf = expect.tensorflow
    if tf is None:
        return out
    p = facts.platform
    if p.system == "Windows":
        row = matrices.rules.tf_platforms.platform("windows_native", tf.version)
        if row is not None and row.gpu is False:
            out["platform_problem"] = f"{tf.name} {tf.version} on native Windows: no CUDA build after TensorFlow 2.10"
            out["platform_fix"] = row.fix
    if not expect.tf_is_gpu_build:
        out["cpu_build"] = expect.tf_cuda_build_source or None
    # Used only if the cause is a CPU build: the build info may say so where the package facts did not.
    out["cpu_build_fix"] = _cpu_build_fix(tf, expect, matrices, said_no=expect.tf_is_gpu_build)
    driver, requirement = facts.driver.nvml.driver_version, expect.driver_requirement
    if driver and requirement is not None and expect.tf_is_gpu_build:
        try:
            level = requirement.satisfied_by(Version(driver))
        except InvalidVersion:
            level = "unknown"
        if level is None:
            floor = requirement.minor_compat or requirement.full
            out["driver_problem"] = (
                f"driver {driver} is older than the {floor} that {requirement.toolkit_label} of {tf.name} "
                f"{tf.version} needs"
            )
            out["driver_fix"] = (
                f"sudo apt install nvidia-driver-{driver_branch(requirement.full)} (a driver >= {requirement.full}), "
                "then reboot (see driver::driver_is_new_enough_for_the_tensorflow_cuda)"
            )
    for gpu in facts.driver.nvml.gpus:
        if gpu.compute_capability is None:
            continue
        problem = kernel_problem(expect, facts, matrices, gpu.compute_capability)
        if problem is not None:
            label = f"{gpu.name} (compute capability {format_cc(gpu.compute_capability)})"
            out["kernel_problem"] = problem[0].format(label=label, installed=f"{tf.name} {tf.version}")
            out["kernel_fix"] = problem[4]
            break
    return out


def _version(load: LibraryLoad | None) -> str:
    return load.version or "?" if load else "?"


def _pin_text(tf_live: LiveTf) -> str:
    return f"; this xdist worker is pinned to GPU {tf_live.pin}" if tf_live.pin is not None else ""


@pytest.mark.depends_on(IMPORTS, SEES)
def test_tensorflow_maps_the_libraries_the_libraries_layer_checked(
    host_expect: Expectations, host_facts: Facts, gpu_init: GpuInit
) -> None:
    installed = gpu_build(host_expect)
    libraries = host_facts.libraries
    if libraries is None or libraries.error is not None:
        not_applicable("the libraries layer recorded no libraries to compare with")
    problems = check_mapped_libraries(libraries, mapped_files("\n".join(gpu_init.maps)))
    if not problems:
        return
    p = problems[0]
    mapped = ", ".join(c.path for c in p.mapped)
    if p.kind == "several-copies":
        summary = f"{installed} has {len(p.mapped)} copies of {p.library.name} mapped at once: {mapped}"
        why = "two copies of one CUDA library in one process: symbols resolve to either, and state is split"
    elif p.kind == "unseen":
        summary = f"{installed} loaded {p.library.soname} from {mapped}, a copy the libraries layer never found"
        why = (
            "its version was never checked: it came from a RUNPATH, LD_PRELOAD or dlopen path outside the searched ones"
        )
    else:
        want = p.expected.path if p.expected else "?"
        summary = f"{installed} loaded {p.library.soname} from {mapped}, not the expected {want}"
        why = "a different copy won the loader's search: the version the libraries layer checked is not the one running"
    versions = "; ".join(
        f"{c.path}: version {c.load.version if c.load else '?'}" + (f" ({c.candidate.origin})" if c.candidate else "")
        for c in p.mapped
    )
    fail(
        summary,
        expected=f"{p.expected.path} ({p.expected.origin}, version {_version(p.expected_load)})"
        if p.expected
        else "one of the copies the libraries layer checked: "
        + (", ".join(c.path for c in p.library.candidates) or "none"),
        found=versions,
        source=f"/proc/{gpu_init.pid}/maps of {CHILD} after GPU initialisation",
        why=why,
        fix="remove the stray copy or its directory from LD_LIBRARY_PATH / LD_PRELOAD, so that only the pip "
        "nvidia-* wheels TensorFlow pins (or one CUDA install) remain",
    )


@pytest.mark.depends_on(IMPORTS)
def test_tensorflow_log_names_no_xla_toolchain_failure(
    host_expect: Expectations, host_facts: Facts, host_matrices: Matrices, framework_batch: Batch, host_warn: Any
) -> None:
    installed = gpu_build(host_expect)
    tf = host_expect.tensorflow
    assert tf is not None
    try:
        version = Version(tf.version)
    except InvalidVersion:
        not_applicable(f"{installed}: its version cannot be compared with the toolchain table's releases")
    judgements = judge_log(framework_batch.log, version, host_expect.tf_release, host_facts, host_matrices)
    for j in judgements:
        if not j.failure:
            f = j.finding
            host_warn(f.summary, expected=f.expected, found=f.found, source=f.source, why=f.why, fix=f.fix)
    failure = next((j.finding for j in judgements if j.failure), None)
    if failure is not None:
        fail_with(failure)


@pytest.mark.depends_on(IMPORTS, SEES)
def test_tensorfloat32_state_is_reported(
    host_expect: Expectations, device_list: DeviceList, gpu_init: GpuInit, host_warn: Any, measured: Any
) -> None:
    gpu_build(host_expect)
    ampere = [g for g in device_list.gpus if g.compute_capability and g.compute_capability >= (8, 0)]
    if not ampere:
        not_applicable("TensorFloat-32 exists on compute capability 8.0 (Ampere) and newer only")
    if gpu_init.tf32 is None:
        not_applicable("this TensorFlow predates TensorFloat-32 control (tensor_float_32_execution_enabled, TF 2.4)")
    measured("tensorfloat32", gpu_init.tf32)
    if gpu_init.tf32:
        names = ", ".join(sorted({g.device_name or g.name for g in ampere}))
        host_warn(
            f"TensorFloat-32 is on for {names}: float32 matmuls and convolutions round inputs to 10-bit mantissas",
            found="tf.config.experimental.tensor_float_32_execution_enabled() is True (the default since TF 2.4)",
            source=CHILD,
            why="results differ from the CPU's float32 by ~1e-3 relative: the placement layer's tolerances "
            "and the determinism layer's golden outputs account for it",
            fix="for bitwise float32: tf.config.experimental.enable_tensor_float_32_execution(False), "
            "or NVIDIA_TF32_OVERRIDE=0 in the environment",
        )


# ---- PyTorch and JAX: the same questions, asked of their own children ------------------------
#
# Which of them are checked follows the profile's [frameworks] table
# (`gpuconform.frameworks.needs`): a required framework fails these checks, one only installed
# warns, and a profile without the table checks TensorFlow alone. One child per framework answers
# identity, build_info, devices and maps (`gpuconform.frameworks.torch.experiments.framework`,
# `gpuconform.frameworks.jax.experiments.framework`; ``maps`` is for the libraries layer); the
# judgements are the frameworks' own (`gpuconform.frameworks.torch.checks`, `gpuconform.frameworks.jax.checks`).

TORCH_CHILD = Planned(MODULE, OTHER_FRAMEWORK_EXPERIMENTS, framework="torch")
JAX_CHILD = Planned(MODULE, OTHER_FRAMEWORK_EXPERIMENTS, framework="jax")
TORCH_IMPORTS = "framework::torch_imports_as_the_installed_distribution"
TORCH_BUILD = "framework::torch_build_can_use_the_gpu"
TORCH_DRIVER = "framework::torch_cuda_build_runs_on_this_driver"
JAX_IMPORTS = "framework::jax_imports_as_the_installed_distribution"
JAX_BUILD = "framework::jax_build_can_use_the_gpu"
JAX_VERSIONS = "framework::jaxlib_and_its_cuda_plugin_versions_match"
JAX_DRIVER = "framework::jax_cuda_plugin_runs_on_this_driver"
JAX_STARTS = STARTS_CHECKS["jax"]


@pytest.fixture
def torch_batch(torch_live: LiveChildren) -> Batch:
    return torch_live.batch(*TORCH_CHILD.args())


@pytest.fixture
def jax_batch(jax_live: LiveChildren) -> Batch:
    return jax_live.batch(*JAX_CHILD.args())


@pytest.fixture
def torch_build(torch_live: LiveChildren, torch_need: FrameworkNeed, torch_batch: Batch) -> TorchBuildInfo:
    found: TorchBuildInfo = answer(torch_live, torch_need, torch_batch, "build_info", TorchBuildInfo)
    return found


@pytest.fixture
def torch_devices(torch_live: LiveChildren, torch_need: FrameworkNeed, torch_batch: Batch) -> TorchDevices:
    found: TorchDevices = answer(torch_live, torch_need, torch_batch, "devices", TorchDevices)
    return found


@pytest.fixture
def jax_build(jax_live: LiveChildren, jax_need: FrameworkNeed, jax_batch: Batch) -> JaxBuildInfo:
    found: JaxBuildInfo = answer(jax_live, jax_need, jax_batch, "build_info", JaxBuildInfo)
    return found


@pytest.fixture
def jax_devices(jax_live: LiveChildren, jax_need: FrameworkNeed, jax_batch: Batch) -> JaxDevices:
    found: JaxDevices = answer(jax_live, jax_need, jax_batch, "devices", JaxDevices)
    return found


def _imports(
    need: FrameworkNeed, request: pytest.FixtureRequest, warn: Any, top: str, environment: Iterable[tuple[str, str]]
) -> None:
    """The framework is installed as the profile asks, imports in a child, and is the installed distribution."""
    judged(need, installed_finding(need), warn)
    if need.installed is None:
        return
    live = live_for(request.config, need)
    batch = live.batch(*(TORCH_CHILD if need.name == "torch" else JAX_CHILD).args())
    crash = batch["__import__"].crash
    if crash is not None and crash.kind == "timeout":
        could_not_check(live.name, f"{crash.kind}: {crash.message}", source=live.source(MODULE), fix=TIMEOUT_FIX)
    installed = f"{need.installed.name} {need.installed.version}"
    if batch.import_error:
        failed = Finding(
            f"import {top} fails in a child process: {headline(batch.import_error)}",
            expected=f"{installed} imports",
            found=batch.import_error,
            source=live.source(MODULE),
            why=f"every {live.name} program on this host fails the same way",
            fix=import_fix(need.installed, batch.import_error, environment),
        )
        judged(need, failed, warn)
        return
    identity = live.observe(batch, "identity", Identity)
    judged(need, torch_checks.imports_as_installed(need.installed, identity, live.source(MODULE)), warn)


def _gpu_profile_build(host_expect: Expectations, need: FrameworkNeed) -> PackageInfo:
    if not host_expect.profile.expects_gpu:
        not_applicable(f"profile {host_expect.profile.name!r} expects no GPU")
    assert need.installed is not None  # the imports check blocks the rest without
    return need.installed


def _driver(host_facts: Facts) -> str:
    driver = host_facts.driver.nvml.driver_version
    if driver is None:
        unstated = driver_version_not_stated(host_facts)
        not_applicable(unstated or "NVML reports no driver version (the driver layer says why)")
    return driver


def _expects(host_expect: Expectations) -> str:
    p = host_expect.profile
    return f"profile {p.name!r} expects {p.gpus.count} GPU(s)"


def test_torch_imports_as_the_installed_distribution(
    torch_need: FrameworkNeed, request: pytest.FixtureRequest, host_facts: Facts, host_warn: Any
) -> None:
    """PyTorch is installed as the profile asks and imports, in a child, as that distribution."""
    _imports(torch_need, request, host_warn, "torch", host_facts.platform.environment)


@pytest.mark.depends_on(TORCH_IMPORTS)
def test_torch_build_can_use_the_gpu(
    host_expect: Expectations, host_facts: Facts, torch_need: FrameworkNeed, torch_live: LiveChildren,
    torch_build: TorchBuildInfo, other_tables: FrameworkTables, host_warn: Any,
) -> None:
    """The PyTorch build is a CUDA build (not +cpu) where the profile expects GPUs."""
    installed = _gpu_profile_build(host_expect, torch_need)
    driver = host_facts.driver.nvml.driver_version
    source = torch_live.source(MODULE)
    found = torch_checks.cpu_build(installed, torch_build, other_tables, driver, _expects(host_expect), source)
    judged(torch_need, found, host_warn)


@pytest.mark.depends_on(TORCH_IMPORTS, TORCH_BUILD)
def test_torch_cuda_build_runs_on_this_driver(
    host_expect: Expectations, host_facts: Facts, torch_need: FrameworkNeed, torch_build: TorchBuildInfo,
    torch_devices: TorchDevices, other_tables: FrameworkTables, host_warn: Any,
) -> None:
    """The CUDA of the PyTorch build (torch.version.cuda) is one this driver runs."""
    installed = _torch_cuda(host_expect, torch_need, torch_build)
    driver = _driver(host_facts)
    try:
        found = torch_checks.runs_on_driver(installed, torch_build, torch_devices, other_tables, driver)
    except MatrixKeyError as exc:
        not_applicable(f"CUDA {torch_build.cuda} of torch {installed.version}: {exc}")
    judged(torch_need, found, host_warn)


@pytest.mark.depends_on(TORCH_IMPORTS, TORCH_BUILD)
def test_torch_build_has_kernels_for_each_gpu(
    host_expect: Expectations, host_facts: Facts, torch_need: FrameworkNeed, torch_build: TorchBuildInfo,
    other_tables: FrameworkTables, host_warn: Any,
) -> None:
    """The PyTorch build's architecture list has code for each GPU's compute capability."""
    installed = _torch_cuda(host_expect, torch_need, torch_build)
    gpus = gpus_with_cc(host_facts, host_expect)
    driver = host_facts.driver.nvml.driver_version
    judged(torch_need, torch_checks.kernels_for(installed, torch_build, gpus, other_tables, driver), host_warn)


@pytest.mark.depends_on(TORCH_IMPORTS, TORCH_BUILD, TORCH_DRIVER)
def test_torch_sees_the_expected_gpus(
    host_expect: Expectations, host_facts: Facts, torch_need: FrameworkNeed, torch_live: LiveChildren,
    torch_build: TorchBuildInfo, torch_devices: TorchDevices, host_warn: Any,
) -> None:
    """PyTorch counts the GPUs the profile promises (torch.cuda.device_count())."""
    installed = _torch_cuda(host_expect, torch_need, torch_build)
    expected = expected_gpus(host_facts, host_expect, torch_live.pin)
    shown = visibility(torch_devices.cuda_visible_devices, host_facts.driver.nvml.gpus)
    found = torch_checks.sees_gpus(installed, torch_devices, expected, shown, torch_live.source(MODULE))
    judged(torch_need, found, host_warn)


def _torch_cuda(host_expect: Expectations, need: FrameworkNeed, build: TorchBuildInfo) -> PackageInfo:
    installed = _gpu_profile_build(host_expect, need)
    if build.cuda is None:
        not_applicable(f"torch {installed.version} is not a CUDA build ({TORCH_BUILD})")
    return installed


def test_jax_imports_as_the_installed_distribution(
    jax_need: FrameworkNeed, request: pytest.FixtureRequest, host_facts: Facts, host_warn: Any
) -> None:
    """JAX is installed as the profile asks and imports, in a child, as that distribution."""
    _imports(jax_need, request, host_warn, "jax", host_facts.platform.environment)


@pytest.mark.depends_on(JAX_IMPORTS)
def test_jax_starts_a_backend_under_this_hosts_settings(
    host_facts: Facts, jax_need: FrameworkNeed, jax_live: LiveChildren, jax_batch: Batch, host_warn: Any
) -> None:
    """JAX starts a backend with this host's XLA_FLAGS and JAX_PLATFORMS: every JAX program needs one."""
    assert jax_need.installed is not None  # the imports check blocks this one without
    environment, source = dict(host_facts.platform.environment), jax_live.source(MODULE)
    found = jax_checks.unknown_xla_flags(jax_need.installed, jax_batch.log, environment, source)
    if found is None:  # else the child died of it: no devices to read
        devices: JaxDevices = answer(jax_live, jax_need, jax_batch, "devices", JaxDevices)
        found = jax_checks.no_backend(jax_need.installed, devices, source)
    judged(jax_need, found, host_warn)


@pytest.mark.depends_on(JAX_IMPORTS, JAX_STARTS)
def test_jax_build_can_use_the_gpu(
    host_expect: Expectations, host_facts: Facts, jax_need: FrameworkNeed, jax_live: LiveChildren,
    jax_build: JaxBuildInfo, jax_devices: JaxDevices, other_tables: FrameworkTables, host_warn: Any,
) -> None:
    """jaxlib has a CUDA plugin where the profile expects GPUs."""
    installed = _gpu_profile_build(host_expect, jax_need)
    driver = host_facts.driver.nvml.driver_version
    source = jax_live.source(MODULE)
    found = jax_checks.no_cuda_plugin(
        installed, jax_build, jax_devices, other_tables, driver, _expects(host_expect), source
    )
    judged(jax_need, found, host_warn)


@pytest.mark.depends_on(JAX_IMPORTS)
def test_jaxlib_and_its_cuda_plugin_versions_match(
    jax_need: FrameworkNeed, jax_build: JaxBuildInfo, other_tables: FrameworkTables, host_warn: Any
) -> None:
    """jaxlib, its CUDA plugin and PJRT wheel are one version, and jax accepts it."""
    assert jax_need.installed is not None  # the imports check blocks this one without
    judged(jax_need, jax_checks.versions_match(jax_need.installed, jax_build, other_tables), host_warn)


@pytest.mark.depends_on(JAX_IMPORTS, JAX_BUILD)
def test_jax_cuda_plugin_runs_on_this_driver(
    host_expect: Expectations, host_facts: Facts, jax_need: FrameworkNeed, jax_build: JaxBuildInfo,
    other_tables: FrameworkTables, host_warn: Any,
) -> None:
    """The CUDA of the JAX CUDA plugin is one this driver runs."""
    installed = _jax_cuda(host_expect, jax_need, jax_build)
    driver = _driver(host_facts)
    known = [f"{p} {v}" for p, v in jax_build.plugins.items() if other_tables.jax.plugin(p, v) is not None]
    if not known:
        not_applicable(f"{', '.join(f'{p} {v}' for p, v in jax_build.plugins.items())} has no row in matrices/jax.toml")
    judged(jax_need, jax_checks.plugin_runs_on_driver(installed, jax_build, other_tables, driver), host_warn)


@pytest.mark.depends_on(JAX_IMPORTS, JAX_STARTS, JAX_BUILD, JAX_VERSIONS, JAX_DRIVER)
def test_jax_sees_the_expected_gpus(
    host_expect: Expectations, host_facts: Facts, jax_need: FrameworkNeed, jax_live: LiveChildren,
    jax_build: JaxBuildInfo, jax_devices: JaxDevices, host_warn: Any,
) -> None:
    """JAX lists the GPUs the profile promises (jax.devices('gpu'))."""
    installed = _jax_cuda(host_expect, jax_need, jax_build)
    expected = expected_gpus(host_facts, host_expect, jax_live.pin)
    shown = visibility(jax_devices.cuda_visible_devices, host_facts.driver.nvml.gpus)
    found = jax_checks.sees_gpus(installed, jax_devices, expected, shown, jax_live.source(MODULE))
    judged(jax_need, found, host_warn)


def _jax_cuda(host_expect: Expectations, need: FrameworkNeed, build: JaxBuildInfo) -> PackageInfo:
    installed = _gpu_profile_build(host_expect, need)
    if not build.plugins:
        not_applicable(f"jax {installed.version} has no CUDA plugin installed ({JAX_BUILD})")
    return installed
