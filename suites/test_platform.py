"""Layer `platform`: is this Python, OS and C library one the installed TensorFlow supports?"""

from __future__ import annotations

import pytest
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from gpuconform.check import fail
from gpuconform.check import not_applicable
from gpuconform.expectations import Expectations
from gpuconform.facts import Facts

pytestmark = pytest.mark.platform

METADATA = "Python package metadata (importlib.metadata)"


def _installed_tf(host_expect: Expectations) -> str:
    tf = host_expect.tensorflow
    if tf is None:
        not_applicable("TensorFlow is not installed")
    return f"{tf.name} {tf.version}"


def test_tensorflow_is_installed(host_expect: Expectations) -> None:
    profile = host_expect.profile
    if host_expect.tensorflow is not None:
        return
    if not profile.tensorflow.required:
        not_applicable(f"profile {profile.name!r} does not require TensorFlow and it is not installed")
    package = "tensorflow[and-cuda]" if profile.expects_gpu else "tensorflow-cpu"
    fail(
        "TensorFlow is not installed",
        expected=f"a TensorFlow distribution (profile {profile.name!r} requires one)",
        found="no tensorflow, tensorflow-cpu or tf-nightly distribution",
        source=METADATA,
        why="every layer above the driver exercises TensorFlow",
        fix=f"pip install '{package}'",
    )


def test_tensorflow_release_is_in_the_matrix(host_expect: Expectations, host_warn: object) -> None:
    installed = _installed_tf(host_expect)
    lookup = host_expect.tf_lookup
    assert lookup is not None
    if lookup.status == "known":
        return
    if lookup.status == "unknown-newer":
        host_warn(lookup.warning or f"{installed} is newer than the matrix")  # type: ignore[operator]
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


def test_python_is_inside_the_tensorflow_range(host_expect: Expectations, host_facts: Facts) -> None:
    installed = _installed_tf(host_expect)
    release = host_expect.tf_release
    if release is None:
        not_applicable(f"{installed} has no matrix row to take a Python range from")
    python = host_facts.platform.python_version
    if Version(python) not in release.python:
        fail(
            f"Python {python} is outside the range {release.python} that {installed} supports",
            expected=f"Python {release.python} (TensorFlow {release.version} tested build configurations)",
            found=f"Python {python}",
            source="the running interpreter",
            why="wheels built for other Pythons may import but are untested, or fail to import at all",
            fix=f"use a Python in {release.python}, e.g. `python3.11 -m venv .venv`",
        )


def test_operating_system_runs_tensorflow_on_the_gpu(host_expect: Expectations, host_facts: Facts) -> None:
    profile = host_expect.profile
    if not profile.expects_gpu:
        not_applicable(f"profile {profile.name!r} expects no GPU; TensorFlow runs on the CPU of any OS")
    p = host_facts.platform
    if p.system == "Linux":
        return
    if p.system == "Windows":
        fix = "run TensorFlow in WSL2 (native Windows GPU support ended with TensorFlow 2.10), or pin 'tensorflow<2.11'"
    else:
        fix = "use a Linux host: TensorFlow's CUDA builds exist for Linux only"
    fail(
        f"{p.system} cannot run TensorFlow on an NVIDIA GPU",
        expected="Linux (or WSL2) for TensorFlow with CUDA",
        found=f"{p.system} {p.kernel_release} on {p.machine}",
        source="platform.system()",
        why="TensorFlow publishes CUDA-enabled wheels for Linux only since 2.11",
        fix=fix,
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


def test_container_exposes_the_gpus(host_expect: Expectations, host_facts: Facts) -> None:
    profile = host_expect.profile
    p = host_facts.platform
    if p.container is None:
        not_applicable("not running in a container")
    if not profile.expects_gpu:
        not_applicable(f"profile {profile.name!r} expects no GPU")
    env = dict(p.environment)
    visible = env.get("NVIDIA_VISIBLE_DEVICES")
    if visible is not None and visible.strip().lower() in ("", "void", "none"):
        fail(
            f"the {p.container} container hides every GPU (NVIDIA_VISIBLE_DEVICES={visible!r})",
            expected="NVIDIA_VISIBLE_DEVICES=all or a list of GPU indices/UUIDs",
            found=f"NVIDIA_VISIBLE_DEVICES={visible!r}",
            source="the environment; container detected by " + "; ".join(p.container_evidence),
            why="the NVIDIA container toolkit injects no device nodes or driver libraries for 'void'/'none'",
            fix="docker run --gpus all ... (or set NVIDIA_VISIBLE_DEVICES=all with the nvidia runtime)",
        )
