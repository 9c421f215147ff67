"""Every cause of "nvidia-smi works but TensorFlow sees no GPU" is shown by evidence that names it, with its fix.

`gpuconform.frameworks.tensorflow.diagnose.CAUSES` is the enumerated list; docs/no-gpu-causes.md is generated
from it. Each case below is the smallest evidence for one cause (and the evidence of none: TensorFlow's own
account).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from gpuconform.facts.model import DeviceNode
from gpuconform.facts.model import DriverFacts
from gpuconform.facts.model import GpuFacts
from gpuconform.facts.model import KernelModule
from gpuconform.frameworks.tensorflow.causes_page import catalogue
from gpuconform.frameworks.tensorflow.diagnose import CAUSES
from gpuconform.frameworks.tensorflow.diagnose import Evidence
from gpuconform.frameworks.tensorflow.diagnose import diagnose
from gpuconform.frameworks.tensorflow.log import parse_log
from gpuconform.frameworks.tensorflow.observations import BuildInfo

DOC = Path(__file__).resolve().parents[1] / "docs" / "no-gpu-causes.md"
T4 = GpuFacts(0, "Tesla T4", uuid="GPU-t4", pci_bus_id="0000:00:04.0", compute_capability=(7, 5))
NODES = tuple(DeviceNode(f"/dev/{n}", True, True, True, True) for n in ("nvidiactl", "nvidia-uvm", "nvidia0"))
DRIVER = DriverFacts(modules=(KernelModule("nvidia"), KernelModule("nvidia_uvm")), device_nodes=NODES)


def evidence(**changes: Any) -> Evidence:
    base = Evidence(
        expected=1,
        seen=0,
        nvml_gpus=(T4,),
        distribution="tensorflow",
        version="2.21.0",
        build=BuildInfo(keys=("is_cuda_build",), is_cuda_build=True),
        visible=None,
        log=parse_log(""),
        libraries=None,
        driver=DRIVER,
    )
    return dataclasses.replace(base, **changes)


def library_fix(name: str) -> str:
    return f"pip install 'nvidia-{name}-cu12'"


#: cause key -> (evidence, words the summary says, words the fix says)
CASES: dict[str, tuple[Evidence, str, str]] = {
    "platform": (
        evidence(
            platform_problem="tensorflow 2.12.0 on native Windows: no CUDA build after TensorFlow 2.10",
            platform_fix="run TensorFlow in WSL2",
        ),
        "on native Windows",
        "WSL2",
    ),
    "cpu-build": (
        evidence(
            distribution="tensorflow",
            version="1.14.0",
            build=None,
            cpu_build="tensorflow 1.14.0 is the CPU-only build (matrices/tf_platforms.toml)",
            cpu_build_fix="pip uninstall -y tensorflow && pip install 'tensorflow-gpu==1.14.0'",
        ),
        "tensorflow 1.14.0 is a CPU-only build",
        "tensorflow-gpu==1.14.0",
    ),
    "hidden": (evidence(visible="-1"), "CUDA_VISIBLE_DEVICES='-1' hides every GPU", "unset CUDA_VISIBLE_DEVICES"),
    "no-nvml-gpu": (evidence(nvml_gpus=()), "NVML lists no GPU either", "pytest -m driver"),
    "driver-too-old": (
        evidence(
            log_text="E cuda_driver.cc] failed call to cuInit: CUDA_ERROR_INSUFFICIENT_DRIVER",
            driver_problem="driver 418.39 is older than the 450.80.02 that CUDA 11.0 of tensorflow 2.4.1 needs",
            driver_fix="sudo apt install nvidia-driver-450 (a driver >= 450.51.05), then reboot",
        ),
        "the driver is too old",
        "nvidia-driver-450",
    ),
    "cuinit": (
        evidence(
            log=parse_log("E cuda_driver.cc:282] failed call to cuInit: UNKNOWN ERROR (303)"),
            driver=dataclasses.replace(DRIVER, modules=(KernelModule("nvidia"),)),
        ),
        "cuInit fails with UNKNOWN ERROR (303) because the nvidia_uvm module is not loaded",
        "modprobe nvidia-uvm",
    ),
    "libraries": (
        evidence(
            log=parse_log(
                "W dso_loader.cc:64] Could not load dynamic library 'libcudnn.so.9'; dlerror: libcudnn.so.9: "
                "cannot open shared object file: No such file or directory"
            )
        ),
        "TensorFlow could not load libcudnn.so.9",
        "nvidia-cudnn-cu12",
    ),
    "compute-capability": (
        evidence(
            log=parse_log(
                "I gpu_device.cc:2011] Ignoring visible gpu device (device: 0, name: Tesla K80, pci bus id: "
                "0000:00:04.0, compute capability: 3.7) with Cuda compute capability 3.7. The minimum required "
                "Cuda capability is 6.0."
            )
        ),
        "TensorFlow ignores Tesla K80 (compute capability 3.7): it needs at least 6.0",
        "newer architecture",
    ),
    "architecture": (
        evidence(
            log_text="InternalError: CUDA runtime implicit initialization on GPU:0 failed. Status: device kernel "
            "image is invalid",
            kernel_problem="GeForce RTX 3090 (compute capability 8.6) is newer than the CUDA 10.1 of tensorflow 2.3",
            kernel_fix="install TensorFlow 2.4 or newer",
        ),
        "has no kernels this GPU's architecture can load",
        "TensorFlow 2.4",
    ),
    "unknown": (evidence(), "and its log names no cause", "TF_CPP_MAX_VLOG_LEVEL=1"),
}


def test_every_cause_in_the_list_is_shown_by_a_case_below() -> None:
    assert [c.key for c in CAUSES] == list(CASES)


@pytest.mark.parametrize("key", list(CASES))
def test_the_cause_is_named_from_its_own_evidence_with_its_fix(key: str) -> None:
    found, summary, fix = CASES[key]
    d = diagnose(found, library_fix)
    assert d.cause == key
    assert summary in d.summary, d.summary
    assert fix in d.fix, d.fix
    assert d.found and d.why


def test_a_cpu_build_is_named_before_a_cuinit_failure_it_would_also_explain() -> None:
    both = evidence(
        distribution="tensorflow-cpu",
        build=BuildInfo(keys=("is_cuda_build",), is_cuda_build=False),
        log=parse_log("E cuda_driver.cc:282] failed call to cuInit: UNKNOWN ERROR (303)"),
    )
    assert diagnose(both, library_fix).cause == "cpu-build"


def test_tensorflows_own_ignored_device_line_is_named_before_the_matrix_architecture_rule() -> None:
    both = dataclasses.replace(CASES["compute-capability"][0], kernel_problem="no kernels", kernel_fix="x")
    assert diagnose(both, library_fix).cause == "compute-capability"


def test_the_causes_page_in_the_docs_matches_the_list() -> None:
    regenerate = "regenerate with: python -m gpuconform.frameworks.tensorflow.causes_page > docs/no-gpu-causes.md"
    assert DOC.read_text() == catalogue(), regenerate
