"""The driver and container rules, each shown on a described host with the message a user reads.

Each case is a compact host description (gpuconform.probes.described), expanded to Facts and replayed
through the real suite (platform, driver and libraries layers) in a subprocess, as the corpus is.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gpuconform.expect.loading import load_matrices
from gpuconform.plugin.keys import suites_dir
from gpuconform.probes.described import expand
from gpuconform.probes.described import load_description
from gpuconform.probes.host import facts_json

T4 = {"model": "t4", "count": 1}
TF = {"distribution": "tensorflow", "version": "2.21.0"}
DRIVER = {"version": "550.54.15"}


def _host(**parts: Any) -> dict[str, Any]:
    """A T4 host with TF 2.21 and driver 550.54.15, with `parts` replacing whole tables."""
    base: dict[str, Any] = {"gpu": [T4], "driver": dict(DRIVER), "tensorflow": dict(TF)}
    return base | parts


def _driver(**keys: Any) -> dict[str, Any]:
    return dict(DRIVER) | keys


# case -> (description, profile, check id, outcome, words in its message)
CASES: dict[str, tuple[dict[str, Any], str, str, str, str]] = {
    "a fatal xid fails with nvidia's recommended action": (
        _host(driver=_driver(kernel_log=["NVRM: Xid (PCI:0000:01:00): 48, pid=7, name=python3, DBE (0x1)"])),
        "t4",
        "driver::the_kernel_log_shows_no_gpu_errors",
        "failed",
        "NVIDIA's recommended action: WORKFLOW_XID_48",
    ),
    "an xid 154 that asks for a gpu reset is fatal": (
        _host(
            driver=_driver(
                kernel_log=[
                    "NVRM: Xid (PCI:0000:01:00): 154, GPU recovery action changed from 0x0 (None) to 0x1 (GPU_RESET)"
                ]
            )
        ),
        "t4",
        "driver::the_kernel_log_shows_no_gpu_errors",
        "failed",
        "the recovery action changed to GPU_RESET",
    ),
    "an xid 45 is judged as the xid that caused it": (
        _host(
            driver=_driver(kernel_log=["NVRM: Xid (PCI:0000:01:00): 45, pid=9, Ch 00000010 caused by previous Xid 79"])
        ),
        "t4",
        "driver::the_kernel_log_shows_no_gpu_errors",
        "failed",
        "Xid 45 names its cause, Xid 79 (GPU has fallen off the bus)",
    ),
    "a warning-class xid warns and passes": (
        _host(driver=_driver(kernel_log=["NVRM: Xid (PCI:0000:01:00): 13, pid=7, Graphics Exception: ESR 0x5041b0"])),
        "t4",
        "driver::the_kernel_log_shows_no_gpu_errors",
        "passed",
        "the kernel log shows Xid 13 (Graphics Engine Error (GR Exception Error)) on 0000:01:00",
    ),
    "an unreadable kernel log is reported as not readable": (
        _host(driver=_driver(kernel_log_readable=False)),
        "t4",
        "driver::the_kernel_log_shows_no_gpu_errors",
        "passed",
        "the kernel log is not readable (the kernel log could not be read)",
    ),
    "a kernel log not recorded makes the check not applicable": (
        _host(),
        "t4",
        "driver::the_kernel_log_shows_no_gpu_errors",
        "not-applicable",
        "the kernel log was not recorded",
    ),
    "a gpu lost after xid 79 fails nvml with power and cooling in the fix": (
        _host(
            gpu=[T4 | {"in_nvml": False}],
            driver=_driver(kernel_log=["NVRM: Xid (PCI:0000:01:00): 79, GPU has fallen off the bus."]),
        ),
        "t4",
        "driver::nvml_initialises",
        "failed",
        "check the GPU's power (PSU capacity, power connectors), cooling (temperatures under load)",
    ),
    "a module built for another kernel names dkms": (
        _host(
            driver=_driver(
                loaded=False, kernel_log=["nvidia: version magic '6.2.0-33-generic SMP mod_unload' should be '6.5.0-1'"]
            )
        ),
        "t4",
        "driver::the_nvidia_kernel_module_is_loaded",
        "failed",
        "rebuild via DKMS",
    ),
    "modprobe refused by secure boot names secure boot": (
        _host(
            driver=_driver(
                loaded=False, modprobe_error="modprobe: ERROR: could not insert 'nvidia': Required key not available"
            )
        ),
        "t4",
        "driver::the_nvidia_kernel_module_is_loaded",
        "failed",
        "Enroll the signing key (mokutil --import",
    ),
    "secure boot on, nouveau took the gpu: the module is the root cause": (
        _host(gpu=[T4 | {"bound_driver": "nouveau"}], driver=_driver(loaded=False, nouveau=True, secure_boot=True)),
        "t4",
        "driver::nouveau_is_not_loaded",
        "blocked",
        "blocked by driver::the_nvidia_kernel_module_is_loaded: the nvidia module was refused; nouveau took the GPU",
    ),
    "nouveau alone holds the gpu: the module check is blocked by it": (
        _host(gpu=[T4 | {"bound_driver": "nouveau"}], driver=_driver(loaded=False, nouveau=True)),
        "t4",
        "driver::the_nvidia_kernel_module_is_loaded",
        "blocked",
        "blocked by driver::nouveau_is_not_loaded: nouveau holds the GPU",
    ),
    "no driver in a container names the host": (
        _host(host={"container": "enroot"}, driver={"loaded": False}),
        "t4",
        "driver::the_nvidia_kernel_module_is_loaded",
        "failed",
        "on the host that runs this enroot container (a container cannot load kernel modules)",
    ),
    "an upgrade under the loaded module: reboot, then hold the packages": (
        _host(driver=_driver(user_space_version="550.90.07")),
        "t4",
        "driver::nvml_initialises",
        "failed",
        "sudo apt-mark hold the nvidia-driver-550 and libnvidia-*-550 packages",
    ),
    "nodes a docker cgroup denies name the dev char symlinks": (
        _host(host={"container": "docker"}, driver=_driver(nvml_error="UNKNOWN", device_nodes_denied=["nvidiactl"])),
        "t4",
        "driver::device_nodes_exist_and_are_accessible",
        "failed",
        "sudo nvidia-ctk system create-dev-char-symlinks --create-all",
    ),
    "nodes a pod's cgroup denies name the gpu operator": (
        _host(host={"container": "kubernetes"}, driver=_driver(nvml_error="UNKNOWN", device_nodes_denied=["nvidia0"])),
        "t4",
        "driver::device_nodes_exist_and_are_accessible",
        "failed",
        "GPU Operator >= 22.9.2",
    ),
    "a podman container without nodes gets the cdi fix": (
        _host(host={"container": "podman"}, driver=_driver(device_nodes=[])),
        "t4",
        "driver::device_nodes_exist_and_are_accessible",
        "failed",
        "sudo nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml",
    ),
    "an apptainer container without nodes gets --nv": (
        _host(host={"container": "apptainer"}, driver=_driver(device_nodes=[])),
        "t4",
        "driver::device_nodes_exist_and_are_accessible",
        "failed",
        "Run with --nv",
    ),
    "a kubernetes pod without nodes gets the device plugin and runtime class": (
        _host(host={"container": "kubernetes"}, driver=_driver(device_nodes=[])),
        "t4",
        "driver::device_nodes_exist_and_are_accessible",
        "failed",
        "runtimeClassName",
    ),
    "docker without the toolkit is refused at the platform layer, even on a cpu profile": (
        {
            "host": {
                "container": "docker",
                "container_runtime_error": 'could not select device driver "" with capabilities: [[gpu]]',
            }
        },
        "cpu",
        "platform::container_exposes_the_gpus",
        "failed",
        "sudo nvidia-ctk runtime configure --runtime=docker",
    ),
    "an unknown refusal is its own root cause": (
        _host(
            host={"container": "docker", "container_runtime_error": "nvidia-container-cli: mount error: something new"}
        ),
        "t4",
        "platform::container_exposes_the_gpus",
        "failed",
        "the docker runtime refused the GPUs: nvidia-container-cli: mount error: something new",
    ),
    "a refusal for the host driver's cuda is the driver layer's": (
        _host(
            host={
                "container": "docker",
                "container_runtime_error": "nvidia-container-cli: requirement error: unsatisfied condition: cuda>=12.8",
            }
        ),
        "t4",
        "driver::driver_is_new_enough_for_the_container_cuda",
        "failed",
        "sudo apt install nvidia-driver-570",
    ),
    "an image whose cuda_version the driver cannot run fails": (
        _host(host={"container": "docker", "environment": {"CUDA_VERSION": "9.2.148"}}, driver={"version": "390.48"}),
        "t4",
        "driver::driver_is_new_enough_for_the_container_cuda",
        "failed",
        "driver 390.48 runs CUDA 9.1, older than the CUDA 9.2 the container image needs",
    ),
    "an image without cuda_version is judged by the cuda runtime it ships": (
        {
            "host": {"container": "docker"},
            "gpu": [{"model": "rtx3090", "count": 1}],
            "driver": {"version": "525.53"},
            "toolkit": [{"version": "12.1", "origin": "cuda_home"}],
        },
        "auto",
        "driver::driver_is_new_enough_for_the_container_cuda",
        "failed",
        "the image's CUDA runtime is 12.1",
    ),
    "native windows has no linux kernel side to check": (
        {
            "host": {"system": "Windows", "machine": "AMD64", "libc": "", "python": "3.8.10"},
            "gpu": [T4],
            "driver": {"version": "441.22", "device_nodes": []},
            "tensorflow": {"distribution": "tensorflow", "version": "2.2.0"},
        },
        "t4",
        "driver::device_nodes_exist_and_are_accessible",
        "not-applicable",
        "native Windows: the WDDM driver serves the GPU",
    ),
    "wsl 1 has no gpu": (
        _host(host={"wsl_version": 1}),
        "t4",
        "platform::container_exposes_the_gpus",
        "failed",
        "wsl --set-version <distro> 2",
    ),
    "wsl 2 without /dev/dxg fails its device check": (
        _host(host={"wsl_version": 2}, driver=_driver(device_nodes=[])),
        "t4",
        "driver::device_nodes_exist_and_are_accessible",
        "failed",
        "/dev/dxg (WSL 2's GPU device) is missing or inaccessible",
    ),
    "a tensorflow the matrix lacks is judged by the cuda runtime it loads": (
        {
            # 1.4 is older than the matrix's oldest row (1.5.0, the docs' tested configurations)
            "host": {"python": "3.6.9"},
            "gpu": [T4],
            "driver": {"version": "440.33"},
            "tensorflow": {"distribution": "tensorflow-gpu", "version": "1.4.1"},
            "toolkit": [{"version": "11.0", "origin": "ldcache"}],
        },
        "t4",
        "driver::driver_is_new_enough_for_the_tensorflow_cuda",
        "failed",
        "driver 440.33 is too old for tensorflow-gpu 1.4.1 with the CUDA 11.0 runtime on its library path",
    ),
}


def _run(description: dict[str, Any], profile: str, work: Path) -> dict[str, Any]:
    source = work / "host.toml"
    facts = expand(load_description(source, description), load_matrices(), collected_at="2026-12-01T00:00:00+00:00")
    (work / "facts.json").write_text(facts_json(facts))
    env = {k: v for k, v in os.environ.items() if not k.startswith("GPUCONFORM_")}
    argv = [sys.executable, "-m", "pytest", str(suites_dir()), "-p", "no:cacheprovider", "-q"]
    argv += ["-m", "platform or driver or libraries", "--host-facts", "facts.json", "--host-profile", profile]
    argv += ["--host-reports", "reports", "--host-report-formats", "result"]
    proc = subprocess.run(argv, cwd=work, env=env, capture_output=True, text=True, timeout=300, check=False)
    result = work / "reports" / "result.json"
    assert result.is_file(), (proc.stdout + proc.stderr)[-3000:]
    return dict(json.loads(result.read_text()))


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_described_host_gets_the_rule_its_facts_call_for(case: str, tmp_path: Path) -> None:
    description, profile, check_id, outcome, words = CASES[case]
    result = _run(description, profile, tmp_path)
    checks = {c["id"]: c for c in result["checks"]}
    check = checks[check_id]
    text = "\n".join(
        [check["reason"], check["message"], *(f"{w['summary']}\n{w.get('found', '')}" for w in check["warnings"])]
    )
    assert check["outcome"] == outcome, f"{check}\n{result['verdict']}"
    assert words in text, text
