"""Layer `platform`: is this Python, OS, CPU and C library one the installed TensorFlow supports?

Each rule asks the installed release (or, where an install failed, the release that was asked
for): its Python range (matrices/tensorflow.toml), whether this OS runs that release on an NVIDIA
GPU and the CPU instructions its wheels need (matrices/tf_platforms.toml), so that every fix is one
the installed version can take (no "pin tensorflow<2.11" for an installed 2.3).
"""

from __future__ import annotations

from typing import Any

import pytest
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from gpuconform.diagnose.containers import judge_container
from gpuconform.diagnose.containers import judge_default_runtime
from gpuconform.diagnose.installs import Requested
from gpuconform.diagnose.installs import requested
from gpuconform.diagnose.installs import unsatisfied
from gpuconform.diagnose.installs import venv_hint
from gpuconform.expect.expectations import Expectations
from gpuconform.expect.matrix import Matrices
from gpuconform.expect.tables.tensorflow import TfRelease
from gpuconform.facts.model import Facts
from gpuconform.verdict.check import fail
from gpuconform.verdict.check import not_applicable

pytestmark = pytest.mark.platform

METADATA = "Python package metadata (importlib.metadata)"
PLATFORMS_TABLE = "matrices/tf_platforms.toml"


# First: a container that was refused its GPUs (or never started) is the first thing wrong on the host.
def test_container_exposes_the_gpus(host_expect: Expectations, host_facts: Facts, host_matrices: Matrices) -> None:
    judge_container(host_expect, host_facts, host_matrices)


# A Kubernetes GPU node whose engine runs the device plugin under runc advertises no GPU at all.
def test_kubernetes_gpu_node_runs_containers_under_the_nvidia_runtime(
    host_expect: Expectations, host_facts: Facts, host_matrices: Matrices
) -> None:
    judge_default_runtime(host_expect, host_facts, host_matrices)


def _installed_tf(host_expect: Expectations) -> str:
    tf = host_expect.tensorflow
    if tf is None:
        not_applicable("TensorFlow is not installed")
    return f"{tf.name} {tf.version}"


def _asked_for(host_facts: Facts, host_matrices: Matrices) -> Requested | None:
    """The TensorFlow a failed install asked for, when the facts record one."""
    failed = host_facts.packages.failed_install
    return requested(failed, host_matrices) if failed is not None else None


# Python first: a Python outside the release's range is also why an install finds no wheel at all.
def test_python_is_inside_the_tensorflow_range(
    host_expect: Expectations, host_facts: Facts, host_matrices: Matrices
) -> None:
    python = host_facts.platform.python_version
    release: TfRelease | None
    if host_expect.tensorflow is not None:
        installed = _installed_tf(host_expect)
        release = host_expect.tf_release
        if release is None:
            not_applicable(f"{installed} has no matrix row to take a Python range from")
        what, source = installed, "the running interpreter"
    else:
        asked = _asked_for(host_facts, host_matrices)
        if asked is None:
            not_applicable("TensorFlow is not installed")
        release = asked.release
        if release is None:
            not_applicable(f"{asked.text} names no release of the matrix to take a Python range from")
        what = f"TensorFlow {release.series} (asked for: {asked.text})"
        source = "the running interpreter; the install that failed"
    if Version(python) in release.python:
        return
    newer = next(
        (
            r
            for r in reversed(host_matrices.tf_releases)
            if not r.prerelease and r.version > release.version and r.python.contains(Version(python))
        ),
        None,
    )
    fix = venv_hint(release.python)
    if newer is not None:
        fix += f"; or TensorFlow {newer.series}, the first release for Python {python}: " + _install(
            host_matrices, newer, host_expect, host_facts
        )
    fail(
        f"Python {python} is outside the range {release.python} that {what} supports",
        expected=f"Python {release.python} (TensorFlow {release.version} tested build configurations)",
        found=f"Python {python}",
        source=source,
        why="pip finds no wheel of that release for this Python (\"No matching distribution found\"), "
        "and wheels forced in are untested or fail to import",
        fix=fix,
    )


def test_tensorflow_is_installed(host_expect: Expectations, host_facts: Facts, host_matrices: Matrices) -> None:
    profile = host_expect.profile
    if host_expect.tensorflow is not None:
        return
    failed = host_facts.packages.failed_install
    if failed is not None:
        _fail_install(failed.requested, host_expect, host_facts, host_matrices)
    if not profile.tensorflow.required:
        not_applicable(f"profile {profile.name!r} does not require TensorFlow and it is not installed")
    package = "tensorflow[and-cuda]" if profile.expects_gpu else "tensorflow-cpu"
    fix = f"pip install '{package}'"
    if profile.expects_gpu and host_facts.platform.system == "Windows":
        last = host_matrices.tf_release("2.10").release  # native Windows' last GPU release (tf_platforms.toml)
        native = f" with CUDA {last.cuda} and cuDNN {last.cudnn} on %PATH%" if last else ""
        fix = f"in WSL2: pip install 'tensorflow[and-cuda]'; on native Windows: pip install 'tensorflow<2.11'{native}"
    fail(
        "TensorFlow is not installed",
        expected=f"a TensorFlow distribution (profile {profile.name!r} requires one)",
        found="no tensorflow, tensorflow-cpu or tf-nightly distribution",
        source=METADATA,
        why="every layer above the driver exercises TensorFlow",
        fix=fix,
    )


def _fail_install(text: str, host_expect: Expectations, host_facts: Facts, host_matrices: Matrices) -> None:
    """An install was attempted and failed: say what it could not get and how this release installs."""
    failed = host_facts.packages.failed_install
    assert failed is not None
    asked = requested(failed, host_matrices)
    python = host_facts.platform.python_version
    missing = unsatisfied(failed)
    said = next((line for line in failed.log if "ERROR" in line), failed.log[0] if failed.log else "")
    found = f"{failed.installer} install {text!r} on Python {python}: " + (said or "failed (no message recorded)")
    source = f"the failed install ({failed.installer}); {PLATFORMS_TABLE}"
    platforms = host_matrices.rules.tf_platforms
    release = asked.release if asked is not None else None
    version = (asked.version if asked is not None else None) or (release.version if release else None)
    pins = platforms.uninstallable_pins(version, python) if version is not None and asked and asked.extras else ()
    pin = next((p for p in pins if missing is None or p.requirement.name == missing.name), None)
    if pin is not None:
        where = "has no distribution on PyPI any more" if not pin.available else f"has no wheel for Python {python}"
        if pin.python is not None:
            where += f" (it has for Python {pin.python})"
        fail(
            f"{text} cannot be installed: its pinned {pin.requirement} {where}",
            expected=f"every pin of {text} installable for Python {python}",
            found=found,
            source=source,
            why="the resolver refuses the whole install when one pinned dependency has no distribution: "
            "TensorFlow gets none of its CUDA libraries",
            fix=pin.fix,
        )
    fix = f"{failed.installer} install {text!r} again and read the resolver's first error"
    if release is not None:
        how = _install(host_matrices, release, host_expect, host_facts)
        fix = f"{how} (the install of TensorFlow {release.series})"
    fail(
        f"the install of {text} failed: " + (f"nothing satisfies {missing}" if missing else (said or "no TensorFlow")),
        expected=f"{text} installed",
        found=found,
        source=source,
        why="no TensorFlow is installed: every layer above the driver needs one",
        fix=fix,
    )


def _install(matrices: Matrices, release: TfRelease, expect: Expectations, facts: Facts) -> str:
    """How `release` installs on this host, valid for that release (tf_platforms.toml)."""
    if not expect.profile.expects_gpu:
        return f"pip install 'tensorflow=={release.series}.*'"  # runs on the CPU everywhere it has a wheel
    return matrices.rules.tf_platforms.gpu_install(
        release.version,
        and_cuda=matrices.and_cuda_pins(release.version) is not None,
        cuda=str(release.cuda),
        cudnn=str(release.cudnn),
        system=facts.platform.system,
    )


def test_tensorflow_release_is_in_the_matrix(
    host_expect: Expectations, host_matrices: Matrices, host_warn: Any
) -> None:
    installed = _installed_tf(host_expect)
    lookup = host_expect.tf_lookup
    assert lookup is not None
    if lookup.status == "known":
        return
    if lookup.status == "unknown-newer":
        host_warn(lookup.warning or f"{installed} is newer than the matrix")
        return
    if lookup.status in ("unknown-older", "other-build"):
        # Like a release newer than the data: the checks that need its row say so; its own problems
        # (a CPU-only build, two TensorFlows at once) are still judged where they live.
        what = "older than the matrix" if lookup.status == "unknown-older" else "not a TensorFlow project build"
        tf = host_expect.tensorflow
        nvidia = host_matrices.rules.nvidia_tensorflow
        if tf is not None and nvidia.is_nvidia(tf.name) and nvidia.candidates(tf.version).releases:
            what = "NVIDIA's GPU build of TensorFlow 1.15 (nvidia_tensorflow.toml), not a TensorFlow project build"
        host_warn(
            f"{installed} is {what}: its CUDA, cuDNN and driver requirements are not checked",
            found=lookup.warning or installed,
            source=f"{METADATA}; matrices/tensorflow.toml",
            why="without its build configuration no CUDA, cuDNN or driver requirement can be checked",
            fix="pip install 'tensorflow[and-cuda]>=2.16' to run a release the matrix covers "
            "(or add the release to matrices/tensorflow.toml)",
        )
        return
    fail(
        f"{installed} is not in the compatibility matrix",
        expected="a TensorFlow 2.x release listed in matrices/tensorflow.toml",
        found=installed,
        source=METADATA,
        why="without its build configuration no CUDA, cuDNN or driver requirement can be checked",
        fix="pip install 'tensorflow[and-cuda]>=2.16' (or add the release to matrices/tensorflow.toml)",
    )


def test_tensorflow_version_satisfies_the_profile(host_expect: Expectations) -> None:
    installed = _installed_tf(host_expect)
    wanted = host_expect.profile.tensorflow.version
    if not wanted:
        not_applicable(f"profile {host_expect.profile.name!r} puts no constraint on the TensorFlow version")
    assert host_expect.tensorflow is not None
    if Version(host_expect.tensorflow.version) not in SpecifierSet(wanted):
        fail(
            f"{installed} is outside the profile's range {wanted}",
            expected=f"TensorFlow {wanted} (profile {host_expect.profile.name!r}, {host_expect.profile.source})",
            found=installed,
            source=METADATA,
            why="the profile pins the TensorFlow releases this host is meant to run",
            fix=f"pip install 'tensorflow{wanted}'",
        )


def test_operating_system_runs_tensorflow_on_the_gpu(
    host_expect: Expectations, host_facts: Facts, host_matrices: Matrices
) -> None:
    profile = host_expect.profile
    if not profile.expects_gpu:
        not_applicable(f"profile {profile.name!r} expects no GPU; TensorFlow runs on the CPU of any OS")
    p = host_facts.platform
    if p.system == "Linux":
        return  # WSL2 included (the wsl2 row); aarch64 builds are unconfirmed either way and not claimed
    platforms = host_matrices.rules.tf_platforms
    tf = host_expect.tensorflow
    found = f"{p.system} {p.kernel_release} on {p.machine}" + (f", {tf.name} {tf.version}" if tf else "")
    if p.system == "Windows":
        if tf is None:
            return  # releases before 2.11 run on the GPU here: tensorflow_is_installed says what to install
        row = platforms.platform("windows_native", tf.version)
        if row is None or row.gpu is not False:
            return  # TF <= 2.10 on native Windows has its CUDA build: its real problem is in its own layer
        last = host_matrices.tf_release("2.10")
        py = p.python_version
        pin = "pin 'tensorflow<2.11' on native Windows"
        if last.release is not None:
            pin += f" (TF 2.10: CUDA {last.release.cuda}, cuDNN {last.release.cudnn} on %PATH%"
            if Version(py) not in last.release.python:
                pin += f"; {venv_hint(last.release.python)}"
            pin += ")"
        fail(
            f"{tf.name} {tf.version} on native Windows has no GPU support",
            expected=f"TensorFlow {platforms.last_gpu_release('windows_native')} on native Windows, "
            "or TensorFlow in WSL2, for an NVIDIA GPU",
            found=found,
            source=f"platform.system(); {PLATFORMS_TABLE}",
            why="TensorFlow 2.10 was the last release with GPU support on native Windows: from 2.11 its Windows "
            "build has no CUDA (tf.test.is_built_with_cuda() is False) and lists no GPU",
            fix=f"run TensorFlow in WSL2 (Windows 10 19044 or higher) with the Linux wheel "
            f"(pip install 'tensorflow[and-cuda]'); or {pin}; or tensorflow-cpu with the TensorFlow-DirectML-Plugin",
        )
    version = tf.version if tf else str(host_matrices.tf_releases[0].version)
    mac = platforms.platform("macos", version) if p.system == "Darwin" else None
    fix = "use a Linux host (or WSL2): TensorFlow's CUDA builds are for Linux"
    if mac is not None and mac.fix:
        fix = mac.fix
    fail(
        f"{p.system} cannot run TensorFlow on an NVIDIA GPU",
        expected="Linux (or WSL2) for TensorFlow with CUDA",
        found=found,
        source=f"platform.system(); {PLATFORMS_TABLE}",
        why="TensorFlow publishes CUDA builds for Linux (and for native Windows up to 2.10) only",
        fix=fix,
    )


def test_cpu_has_the_instructions_the_tensorflow_wheel_needs(
    host_expect: Expectations, host_facts: Facts, host_matrices: Matrices
) -> None:
    installed = _installed_tf(host_expect)
    tf = host_expect.tensorflow
    assert tf is not None
    p = host_facts.platform
    need = host_matrices.rules.tf_platforms.cpu_requirement(tf.version, p.machine)
    if need is None:
        not_applicable(f"no CPU instruction requirement is recorded for {installed} on {p.machine}")
    if p.cpu_flags is None:
        not_applicable("the CPU's instruction-set flags were not recorded (/proc/cpuinfo)")
    lacking = [f for f in need.flags if f not in p.cpu_flags]
    if not lacking:
        return
    cpu = p.cpu_model or "this CPU"
    fail(
        f"{cpu} lacks {', '.join(f.upper() for f in lacking)}, which the {installed} wheel is compiled to use",
        expected=f"a CPU with {', '.join(f.upper() for f in need.flags)} (official x86 wheels of TensorFlow "
        f"{need.tensorflow})",
        found=f"{cpu}: flags {', '.join(p.cpu_flags) or 'none of ' + ', '.join(need.flags)}",
        source=f"/proc/cpuinfo; {PLATFORMS_TABLE}",
        why="import tensorflow dies with 'Illegal instruction (core dumped)' (SIGILL) on the first AVX instruction",
        fix=need.fix,
    )


def test_libc_is_new_enough_for_the_tensorflow_wheel(host_expect: Expectations, host_facts: Facts) -> None:
    installed = _installed_tf(host_expect)
    p = host_facts.platform
    if p.system != "Linux":
        not_applicable(f"{p.system} has no glibc requirement")
    release = host_expect.tf_release
    if release is None or release.glibc is None:
        not_applicable(f"no manylinux glibc floor is recorded for {installed}")
    if p.libc != "glibc":
        fail(
            f"{p.libc or 'an unknown C library'} cannot run the {installed} wheel",
            expected=f"glibc >= {release.glibc} (the wheel's manylinux tag)",
            found=p.libc or "no glibc detected",
            source="platform.libc_ver()",
            why="TensorFlow's manylinux wheels link against glibc; musl-based images (Alpine) cannot load them",
            fix="use a glibc-based image, e.g. python:3.11-slim or nvidia/cuda:12.5.1-cudnn-runtime-ubuntu22.04",
        )
    if Version(p.libc_version or "0") < Version(release.glibc):
        fail(
            f"glibc {p.libc_version} is older than the {release.glibc} that the {installed} wheel needs",
            expected=f"glibc >= {release.glibc}",
            found=f"glibc {p.libc_version}",
            source="platform.libc_ver()",
            why="pip refuses the wheel, or a wheel forced in fails with 'GLIBC_x.y not found'",
            fix="upgrade the OS image (e.g. Ubuntu 20.04+ has glibc 2.31) or pin an older TensorFlow",
        )
