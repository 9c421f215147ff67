"""Each check of the platform, driver and libraries layers fails on a host that breaks it.

Driver and library checks run against simulated hosts (real probes, real pynvml,
real dlopen of shim libraries), each a healthy T4 with one thing broken. Platform
checks read only facts, so they are broken at the facts seam: a recorded facts
file edited the way such a host would look, replayed with --host-facts.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.simhost.cc import require_compiler
from tests.simhost.host import build_host
from tests.simhost.host import run_suite
from tests.simhost.spec import GpuSpec
from tests.simhost.spec import HostSpec
from tests.simhost.spec import load_spec

SPECS = Path(__file__).parent / "simhost" / "specs"
ALL_LOW = "platform or driver or libraries"


def healthy() -> HostSpec:
    return load_spec(SPECS / "t4_healthy.toml")


def gpu(spec: HostSpec, **changes: Any) -> HostSpec:
    return dataclasses.replace(spec, gpu=(dataclasses.replace(spec.gpu[0], **changes),))


def driver(spec: HostSpec, **changes: Any) -> HostSpec:
    return dataclasses.replace(spec, driver=dataclasses.replace(spec.driver, **changes))


def nvml(spec: HostSpec, **changes: Any) -> HostSpec:
    return dataclasses.replace(spec, nvml=dataclasses.replace(spec.nvml, **changes))


def library(spec: HostSpec, name: str, **changes: Any) -> HostSpec:
    libs = tuple(dataclasses.replace(lib, **changes) if lib.name == name else lib for lib in spec.library)
    return dataclasses.replace(spec, library=libs)


def without_library(spec: HostSpec, name: str) -> HostSpec:
    return dataclasses.replace(spec, library=tuple(lib for lib in spec.library if lib.name != name))


K80 = GpuSpec("Tesla K80", "0000:00:04.0", 0x102D, "3.7", 11441, ecc=True, pcie_gen=(3, 3), pcie_width=(16, 16))
A100 = GpuSpec(
    "NVIDIA A100-SXM4-40GB", "0000:00:04.0", 0x20B0, "8.0", 40960, ecc=True, pcie_gen=(4, 4), pcie_width=(16, 16)
)
PROFILE_T4_STRICT = """
[profile]
name = "t4-strict"
description = "T4 with every optional requirement set"
[gpus]
count = 1
model = "t4"
compute_capability = "7.5"
min_memory_mib = 15000
min_pcie_gen = 3
min_pcie_width = 8
persistence_mode = true
ecc = true
[driver]
min_version = "560.35.03"
"""

# id: (spec builder, profile (None: the spec's), check id, outcome, words in its message)
SIMULATED: dict[str, tuple[Callable[[], HostSpec], str | None, str, str, str]] = {
    "vfio": (
        lambda: gpu(healthy(), bound_driver="vfio-pci"),
        None,
        "driver::every_gpu_is_bound_to_the_nvidia_driver",
        "failed",
        "is bound to vfio-pci (reserved for a VM)",
    ),
    "no module": (
        lambda: driver(healthy(), proc_version=False, modules=()),
        None,
        "driver::the_nvidia_kernel_module_is_loaded",
        "failed",
        "the nvidia kernel module is not loaded",
    ),
    "nouveau": (
        lambda: load_spec(SPECS / "nouveau_loaded.toml"),
        None,
        "driver::nouveau_is_not_loaded",
        "failed",
        "blacklist nouveau",
    ),
    "no permission": (
        lambda: nvml(healthy(), init_error="NO_PERMISSION"),
        None,
        "driver::nvml_initialises",
        "failed",
        "NVML has no permission to open the GPU",
    ),
    "gpu lost": (
        lambda: nvml(healthy(), init_error="GPU_IS_LOST"),
        None,
        "driver::nvml_initialises",
        "failed",
        "fallen off the bus",
    ),
    "not loaded": (
        lambda: nvml(healthy(), init_error="DRIVER_NOT_LOADED"),
        None,
        "driver::nvml_initialises",
        "failed",
        "NVML reports that the NVIDIA driver is not loaded",
    ),
    "nvml crash": (
        lambda: nvml(healthy(), fault="segfault"),
        None,
        "driver::nvml_initialises",
        "error",
        "could not check NVML: the NVML probe signal",
    ),
    "nvml hang": (
        lambda: nvml(healthy(), fault="hang"),
        None,
        "driver::nvml_initialises",
        "error",
        "could not check NVML: the NVML probe timeout",
    ),
    "driver below profile": (
        healthy,
        PROFILE_T4_STRICT,
        "driver::driver_version_satisfies_the_profile",
        "failed",
        "driver 550.54.15 is outside the profile's range (>= 560.35.03)",
    ),
    "gpu not in nvml": (
        lambda: gpu(healthy(), in_nvml=False),
        None,
        "driver::gpu_count_matches_the_profile",
        "failed",
        "expected 1 GPU(s), NVML sees 0",
    ),
    "wrong model": (
        lambda: gpu(healthy(), name="NVIDIA A10G", pci_device_id=0x2237, compute_capability="8.6"),
        None,
        "driver::gpu_model_and_compute_capability_match_the_profile",
        "failed",
        "is a NVIDIA A10G, not a Tesla T4",
    ),
    "wrong cc": (
        lambda: gpu(healthy(), compute_capability="7.0"),
        None,
        "driver::gpu_model_and_compute_capability_match_the_profile",
        "failed",
        "has compute capability 7.0, expected 7.5",
    ),
    "small memory": (
        lambda: gpu(healthy(), memory_mib=8000),
        None,
        "driver::gpu_memory_meets_the_profile",
        "failed",
        "has 8000 MiB, below the profile's 15000 MiB",
    ),
    "ecc off": (
        lambda: gpu(healthy(), ecc=False),
        PROFILE_T4_STRICT,
        "driver::gpu_health_flags_are_clear",
        "failed",
        "has ECC disabled",
    ),
    "persistence off": (
        lambda: gpu(healthy(), persistence_mode=False),
        PROFILE_T4_STRICT,
        "driver::gpu_health_flags_are_clear",
        "failed",
        "has persistence mode off",
    ),
    "row remap failure": (
        lambda: dataclasses.replace(
            healthy(), gpu=(dataclasses.replace(A100, remapped_rows_failure=True),), profile="a100"
        ),
        None,
        "driver::gpu_health_flags_are_clear",
        "failed",
        "has a row-remapping failure",
    ),
    "narrow link": (
        lambda: gpu(healthy(), pcie_width=(4, 4)),
        None,
        "driver::pcie_links_run_at_full_width",
        "failed",
        "links at x4 at most, below the profile's x8",
    ),
    "old link": (
        lambda: gpu(healthy(), pcie_gen=(2, 2)),
        None,
        "driver::pcie_links_run_at_full_width",
        "failed",
        "links at PCIe gen 2 at most, below the profile's gen 3",
    ),
    "legacy gpu": (
        lambda: dataclasses.replace(healthy(), gpu=(K80,), profile="auto"),
        None,
        "driver::driver_branch_supports_each_gpu",
        "failed",
        "is supported only up to R470",
    ),
    "missing cufft": (
        lambda: without_library(healthy(), "cufft"),
        None,
        "libraries::library_is_found[cufft]",
        "failed",
        "libcufft.so.11 is missing",
    ),
    "cudart only in conda's lib": (
        lambda: library(healthy(), "cudart", location="conda"),
        None,
        "libraries::library_is_found[cudart]",
        "failed",
        "libcudart.so.12 is installed, but tensorflow 2.21.0's loader does not search",
    ),
    "cudnn only in /usr/local/cuda": (
        lambda: library(healthy(), "cudnn", location="cuda_home"),
        None,
        "libraries::library_is_found[cudnn]",
        "failed",
        "export LD_LIBRARY_PATH=",
    ),
    "old cudnn minor": (
        lambda: library(healthy(), "cudnn", version="9.1.0"),
        None,
        "libraries::library_version_matches_the_tensorflow_build[cudnn]",
        "failed",
        "libcudnn.so.9 is version 9.1.0, but tensorflow 2.21.0 was built with cudnn 9.3.0",
    ),
    "cudart of another major": (
        lambda: library(healthy(), "cudart", version="11.8"),
        None,
        "libraries::library_version_matches_the_tensorflow_build[cudart]",
        "failed",
        "libcudart.so.12 is version 11.8",
    ),
    "cudnn for cuda 11": (
        lambda: library(healthy(), "cudnn", cuda="11.8"),
        None,
        "libraries::cudnn_and_cudart_are_built_for_the_same_cuda_major",
        "failed",
        "is built for CUDA 11",
    ),
    "fatal xid in the kernel log": (
        lambda: driver(healthy(), kernel_log=("NVRM: Xid (PCI:0000:00:04): 48, pid=4242, name=python3, DBE (0x1)",)),
        None,
        "driver::the_kernel_log_shows_no_gpu_errors",
        "failed",
        "the kernel log shows 1 fatal GPU error(s): Xid 48 (ECC Error (DBE Error)",
    ),
    "gpu fell off the bus": (
        lambda: driver(
            gpu(healthy(), in_nvml=False), kernel_log=("NVRM: Xid (PCI:0000:00:04): 79, GPU has fallen off the bus.",)
        ),
        None,
        "driver::nvml_initialises",
        "failed",
        "GPU 0000:00:04.0 has fallen off the bus: NVML cannot reach it",
    ),
    "gpu lost when nvml opens it": (
        lambda: nvml(healthy(), errors=(("nvmlDeviceGetHandleByIndex_v2", "GPU_IS_LOST"),)),
        None,
        "driver::nvml_initialises",
        "failed",
        "GPU 0 has fallen off the bus: NVML cannot reach it",
    ),
    "secure boot refuses the module": (
        lambda: driver(healthy(), proc_version=False, modules=(), secure_boot=True),
        None,
        "driver::the_nvidia_kernel_module_is_loaded",
        "failed",
        "the nvidia kernel module is not loaded, and UEFI Secure Boot is on",
    ),
    "unsigned module rejected in the kernel log": (
        lambda: driver(
            healthy(), proc_version=False, modules=(), kernel_log=("Loading of unsigned module is rejected",)
        ),
        None,
        "driver::the_nvidia_kernel_module_is_loaded",
        "failed",
        "Sign the module with a key enrolled as a Machine Owner Key",
    ),
    "lxc container without nvidia-uvm": (
        lambda: dataclasses.replace(driver(healthy(), device_nodes=("nvidiactl", "nvidia0")), container="lxc"),
        None,
        "driver::device_nodes_exist_and_are_accessible",
        "failed",
        "lxc config device add <container> nvidia-uvm unix-char path=/dev/nvidia-uvm",
    ),
    "enroot container without nvidia-uvm": (
        lambda: dataclasses.replace(driver(healthy(), device_nodes=("nvidiactl", "nvidia0")), container="enroot"),
        None,
        "driver::device_nodes_exist_and_are_accessible",
        "failed",
        "/dev/nvidia-uvm is missing in the enroot container",
    ),
    "driver api too old": (
        lambda: driver(healthy(), cuda_driver_version=11040),
        None,
        "libraries::the_driver_api_is_new_enough_for_the_runtime",
        "failed",
        "the driver supports CUDA up to 11.4, but the CUDA runtime is 12.5",
    ),
}


def _checks(result_dir: Path) -> dict[str, dict[str, Any]]:
    result = json.loads((result_dir / "result.json").read_text())
    return {c["id"]: c for c in result["checks"]}


def _text(check: dict[str, Any]) -> str:
    return f"{check['reason']}\n{check['message']}"


@pytest.mark.parametrize("case", sorted(SIMULATED))
def test_a_simulated_host_that_breaks_the_check_fails_it(case: str, tmp_path: Path) -> None:
    require_compiler()
    build, profile, check_id, outcome, words = SIMULATED[case]
    host = build_host(build(), tmp_path / "host")
    args = ["--host-probe-timeout", host.probe_timeout]
    if profile is not None:
        (tmp_path / "profile.toml").write_text(profile)
        args += ["--host-profile", str(tmp_path / "profile.toml")]
    proc = run_suite(host, tmp_path, *args, layers=ALL_LOW)
    checks = _checks(tmp_path / "reports")
    assert check_id in checks, f"{check_id} did not run; ran: {sorted(checks)}\n{proc.stdout[-3000:]}"
    check = checks[check_id]
    assert check["outcome"] == outcome, f"{check}\n{proc.stdout[-3000:]}"
    assert words in _text(check), _text(check)
    assert proc.returncode == 1


def test_a_degraded_link_is_a_warning_not_a_failure(tmp_path: Path) -> None:
    require_compiler()
    host = build_host(gpu(healthy(), pcie_width=(8, 16)), tmp_path / "host")
    run_suite(host, tmp_path, layers=ALL_LOW)
    check = _checks(tmp_path / "reports")["driver::pcie_links_run_at_full_width"]
    assert check["outcome"] == "passed"
    assert any("link is degraded: x8 of x16" in w["summary"] for w in check["warnings"])


def test_strict_mode_fails_the_host_on_a_warning(tmp_path: Path) -> None:
    require_compiler()
    host = build_host(gpu(healthy(), pcie_width=(8, 16)), tmp_path / "host")
    proc = run_suite(host, tmp_path, "--host-strict", layers=ALL_LOW)
    assert proc.returncode == 1
    assert "host verdict: FAIL at driver: warning treated as failure (--host-strict)" in proc.stdout


def test_checks_below_a_failed_prerequisite_are_blocked_not_failed(tmp_path: Path) -> None:
    require_compiler()
    host = build_host(load_spec(SPECS / "gpu_no_module.toml"), tmp_path / "host")
    run_suite(host, tmp_path, layers=ALL_LOW)
    checks = _checks(tmp_path / "reports")
    nvml_check = checks["driver::nvml_initialises"]
    assert nvml_check["outcome"] == "blocked"
    assert nvml_check["blocked_by"] == "driver::the_nvidia_kernel_module_is_loaded"
    assert nvml_check["reason"].startswith("blocked by driver::the_nvidia_kernel_module_is_loaded")


# ---- platform checks: broken at the facts seam ------------------------------------------


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The facts of the healthy simulated T4, as a user's run would record them."""
    require_compiler()
    base = tmp_path_factory.mktemp("recorded")
    host = build_host(healthy(), base / "host")
    run_suite(host, base, layers=ALL_LOW)
    return json.loads((base / "reports/facts.json").read_text())


def _set(facts: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    node = facts
    for key in parents:
        node = node[key]
    node[last] = value


PLATFORM: dict[str, tuple[dict[str, Any], str, str, str, str]] = {
    "no tensorflow": (
        {"packages.tensorflow": None},
        "t4",
        "platform::tensorflow_is_installed",
        "failed",
        "pip install 'tensorflow[and-cuda]'",
    ),
    "no tensorflow on native windows": (
        {"packages.tensorflow": None, "platform.system": "Windows"},
        "t4",
        "platform::tensorflow_is_installed",
        "failed",
        "in WSL2: pip install 'tensorflow[and-cuda]'; on native Windows: pip install 'tensorflow<2.11' with CUDA 11.2",
    ),
    "no avx": (
        {"platform.cpu_flags": ["sse4_1", "sse4_2"], "platform.cpu_model": "Intel(R) Pentium(R) Silver N5000"},
        "t4",
        "platform::cpu_has_the_instructions_the_tensorflow_wheel_needs",
        "failed",
        "Intel(R) Pentium(R) Silver N5000 lacks AVX, which the tensorflow 2.21.0 wheel is compiled to use",
    ),
    "tensorrt pin without a wheel for this python": (
        {
            "packages.tensorflow": None,
            "platform.python_version": "3.11.7",
            "packages.failed_install": {
                "requested": "tensorflow[and-cuda]==2.14.0",
                "installer": "pip",
                "log": ["ERROR: No matching distribution found for tensorrt==8.5.3.1; extra == \"and-cuda\""],
            },
        },
        "t4",
        "platform::tensorflow_is_installed",
        "failed",
        "tensorflow[and-cuda]==2.14.0 cannot be installed: its pinned tensorrt==8.5.3.1 has no wheel for Python 3.11.7",
    ),
    "python outside the range of the release a failed install asked for": (
        {
            "packages.tensorflow": None,
            "platform.python_version": "3.13.0",
            "packages.failed_install": {"requested": "tensorflow==2.17.*", "installer": "pip", "log": []},
        },
        "cpu",
        "platform::python_is_inside_the_tensorflow_range",
        "failed",
        "Python 3.13.0 is outside the range >=3.9,<3.13 that TensorFlow 2.17 (asked for: tensorflow==2.17.*)",
    ),
    "windows with a release that still ran on the gpu there": (
        {
            "platform.system": "Windows",
            "platform.libc": None,
            "platform.libc_version": None,
            "packages.tensorflow": {"name": "tensorflow", "version": "2.10.0", "location": None},
        },
        "t4",
        "platform::operating_system_runs_tensorflow_on_the_gpu",
        "passed",
        "",
    ),
    "old python": (
        {"platform.python_version": "3.8.10"},
        "t4",
        "platform::python_is_inside_the_tensorflow_range",
        "failed",
        "Python 3.8.10 is outside the range >=3.10,<3.14",
    ),
    "windows": (
        {"platform.system": "Windows"},
        "t4",
        "platform::operating_system_runs_tensorflow_on_the_gpu",
        "failed",
        "tensorflow 2.21.0 on native Windows has no GPU support",
    ),
    "musl": (
        {"platform.libc": "musl", "platform.libc_version": "1.2.4"},
        "t4",
        "platform::libc_is_new_enough_for_the_tensorflow_wheel",
        "failed",
        "musl cannot run the tensorflow 2.21.0 wheel",
    ),
    "old glibc": (
        {"platform.libc_version": "2.17"},
        "t4",
        "platform::libc_is_new_enough_for_the_tensorflow_wheel",
        "failed",
        "glibc 2.17 is older than the 2.27",
    ),
    "gpus hidden in container": (
        {"platform.container": "docker", "platform.environment": [["NVIDIA_VISIBLE_DEVICES", "void"]]},
        "t4",
        "platform::container_exposes_the_gpus",
        "failed",
        "docker run --gpus all",
    ),
}


@pytest.mark.parametrize("case", sorted(PLATFORM))
def test_a_platform_check_fails_on_facts_that_break_it(
    case: str, recorded: dict[str, Any], pytester: pytest.Pytester
) -> None:
    edits, profile, check_id, outcome, words = PLATFORM[case]
    facts = json.loads(json.dumps(recorded))
    for dotted, value in edits.items():
        _set(facts, dotted, value)
    (pytester.path / "facts.json").write_text(json.dumps(facts))
    from gpuconform.plugin.keys import suites_dir

    result = pytester.runpytest_subprocess(
        str(suites_dir()),
        "-m",
        "platform",
        "-p",
        "no:cacheprovider",
        "--host-profile",
        profile,
        "--host-facts",
        "facts.json",
        timeout=300,
    )
    checks = _checks(pytester.path / "reports")
    check = checks[check_id]
    assert check["outcome"] == outcome, check
    assert words in _text(check), _text(check)
    if outcome == "failed":
        assert result.ret == 1


@pytest.mark.parametrize(
    ("name", "version", "what"),
    [
        ("tensorflow-gpu", "1.4.0", "older than the matrix"),  # the rows start at 1.5 (CUDA 9)
        # NVIDIA's 1.15, not the PyPI one: named as such (nvidia_tensorflow.toml), still without a tensorflow.toml row
        ("nvidia-tensorflow", "1.15.5", "NVIDIA's GPU build of TensorFlow 1.15 (nvidia_tensorflow.toml), not a "
         "TensorFlow project build"),
    ],
)
def test_a_tensorflow_the_matrix_has_no_row_for_is_a_warning_and_its_own_problems_are_judged_elsewhere(
    recorded: dict[str, Any], pytester: pytest.Pytester, name: str, version: str, what: str
) -> None:
    facts = json.loads(json.dumps(recorded))
    _set(facts, "packages.tensorflow", {"name": name, "version": version, "location": None})
    (pytester.path / "facts.json").write_text(json.dumps(facts))
    from gpuconform.plugin.keys import suites_dir

    pytester.runpytest_subprocess(
        str(suites_dir()), "-m", "platform", "--host-profile", "t4", "--host-facts", "facts.json", timeout=300
    )
    check = _checks(pytester.path / "reports")["platform::tensorflow_release_is_in_the_matrix"]
    assert check["outcome"] == "passed"
    (warning,) = check["warnings"]
    assert warning["summary"] == (
        f"{name} {version} is {what}: its CUDA, cuDNN and driver requirements are not checked"
    )


def test_a_tensorflow_newer_than_the_matrix_is_a_warning(recorded: dict[str, Any], pytester: pytest.Pytester) -> None:
    facts = json.loads(json.dumps(recorded))
    _set(facts, "packages.tensorflow", {"name": "tensorflow", "version": "2.22.0", "location": None})
    (pytester.path / "facts.json").write_text(json.dumps(facts))
    from gpuconform.plugin.keys import suites_dir

    pytester.runpytest_subprocess(
        str(suites_dir()), "-m", "platform", "--host-profile", "t4", "--host-facts", "facts.json", timeout=300
    )
    check = _checks(pytester.path / "reports")["platform::tensorflow_release_is_in_the_matrix"]
    assert check["outcome"] == "passed"
    assert any("TensorFlow 2.22.0 is newer than the matrix" in w["summary"] for w in check["warnings"])


def test_a_tensorflow_outside_the_profile_range_fails(recorded: dict[str, Any], pytester: pytest.Pytester) -> None:
    (pytester.path / "facts.json").write_text(json.dumps(recorded))
    (pytester.path / "p.toml").write_text('[profile]\nname="p"\ndescription="d"\n[tensorflow]\nversion=">=2.22"\n')
    from gpuconform.plugin.keys import suites_dir

    pytester.runpytest_subprocess(
        str(suites_dir()), "-m", "platform", "--host-profile", "p.toml", "--host-facts", "facts.json", timeout=300
    )
    check = _checks(pytester.path / "reports")["platform::tensorflow_version_satisfies_the_profile"]
    assert check["outcome"] == "failed"
    assert "tensorflow 2.21.0 is outside the profile's range >=2.22" in check["reason"]
