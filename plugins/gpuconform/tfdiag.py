"""Why TensorFlow sees fewer GPUs than NVML: one named cause and its fix, not "0 != 1".

"nvidia-smi works but TF sees no GPU" has a handful of causes, and the
evidence for each is in a different place: the installed distribution and its
build info, the CUDA_VISIBLE_DEVICES the child ran with, TF's own log (cuInit
errors, "Cannot dlopen some GPU libraries", "Ignoring visible gpu device"),
the libraries layer's facts and the driver's device nodes and modules.
`diagnose` weighs them in the order in which they stop TF: a build without
CUDA never looks for a GPU; a hidden GPU is never initialised; a failed cuInit
stops before libraries load; missing libraries skip registration; a GPU below
TF's minimum compute capability is ignored last.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass

from gpuconform.devices import VISIBLE
from gpuconform.devices import visibility
from gpuconform.facts import DriverFacts
from gpuconform.facts import GpuFacts
from gpuconform.facts import LibrariesFacts
from gpuconform.observations import BuildInfo
from gpuconform.tflog import TfLog

VLOG_COMMAND = (
    "TF_CPP_MIN_LOG_LEVEL=0 TF_CPP_MAX_VLOG_LEVEL=1 python -c "
    "\"import tensorflow as tf; print(tf.config.list_physical_devices('GPU'))\" 2>&1 | less"
)


@dataclass(frozen=True)
class Diagnosis:
    """The cause of missing GPUs, in the four parts of a failure."""

    cause: str  # "cpu-build", "hidden", "cuinit", "libraries", "compute-capability", "no-nvml-gpu", "unknown"
    summary: str
    found: str
    why: str
    fix: str


@dataclass(frozen=True)
class Evidence:
    """Everything `diagnose` weighs."""

    expected: int  # GPUs TF should see
    seen: int  # GPUs TF saw
    nvml_gpus: tuple[GpuFacts, ...]
    distribution: str | None  # "tensorflow", "tensorflow-cpu"
    version: str | None
    build: BuildInfo | None
    visible: str | None  # CUDA_VISIBLE_DEVICES in the child; None: unset
    log: TfLog
    libraries: LibrariesFacts | None
    driver: DriverFacts
    container: str | None = None


def diagnose(e: Evidence, install_fix: Callable[[str], str]) -> Diagnosis:
    """Name the first cause the evidence supports; `install_fix(library)` gives a library's install command."""
    head = f"TensorFlow sees {e.seen} of the {e.expected} GPU(s) expected"
    tf = f"{e.distribution or 'tensorflow'} {e.version or ''}".strip()
    for rule in (_cpu_build, _hidden, _no_nvml_gpu, _cuinit, _libraries, _compute_capability):
        found = rule(e, head, tf, install_fix)
        if found is not None:
            return found
    return Diagnosis(
        "unknown",
        f"{head} ({len(e.nvml_gpus)} in NVML), and its log names no cause",
        f"NVML lists {_names(e.nvml_gpus)}; TF's log has no cuInit error, no library failure and no ignored device",
        "TensorFlow registers a GPU only after cuInit, the CUDA libraries and the device checks succeed",
        f"read TensorFlow's own account: {VLOG_COMMAND}",
    )


def _cpu_build(e: Evidence, head: str, tf: str, fix: Callable[[str], str]) -> Diagnosis | None:
    cpu_dist = (e.distribution or "").replace("_", "-").endswith("-cpu")
    if not cpu_dist and not (e.build is not None and e.build.is_cuda_build is False):
        return None
    found = f"{tf}: get_build_info() is_cuda_build={e.build.is_cuda_build if e.build else '?'}"
    return Diagnosis(
        "cpu-build",
        f"{head}: {tf} is a CPU-only build",
        found,
        "a TensorFlow built without CUDA never looks for a GPU",
        f"pip uninstall -y {e.distribution or 'tensorflow-cpu'} && pip install 'tensorflow[and-cuda]=={e.version}'"
        if e.version
        else "pip install 'tensorflow[and-cuda]'",
    )


def _hidden(e: Evidence, head: str, tf: str, fix: Callable[[str], str]) -> Diagnosis | None:
    shown = visibility(e.visible, e.nvml_gpus)
    if e.visible is None or not shown.resolved or len(shown.gpus) >= len(e.nvml_gpus):
        return None
    what = "hides every GPU" if not shown.gpus else f"shows only {len(shown.gpus)} of {len(e.nvml_gpus)} GPUs"
    return Diagnosis(
        "hidden",
        f"{head}: {VISIBLE}={e.visible!r} {what}",
        shown.describe(),
        f"CUDA enumerates only the devices {VISIBLE} lists; '' and '-1' list none, and an invalid entry ends the list",
        f"unset {VISIBLE} (or list every GPU: export {VISIBLE}={','.join(str(g.index) for g in e.nvml_gpus)})",
    )


def _no_nvml_gpu(e: Evidence, head: str, tf: str, fix: Callable[[str], str]) -> Diagnosis | None:
    if e.nvml_gpus:
        return None
    return Diagnosis(
        "no-nvml-gpu",
        f"{head}: NVML lists no GPU either",
        "NVML enumerated no GPU",
        "below TensorFlow, the driver already sees no GPU: see the driver layer's failures",
        "fix the driver layer first (pytest -m driver)",
    )


def _cuinit(e: Evidence, head: str, tf: str, fix: Callable[[str], str]) -> Diagnosis | None:
    if e.log.cuinit_error is None:
        return None
    code = e.log.cuinit_code or e.log.cuinit_error
    nodes = {n.path: n for n in e.driver.device_nodes}
    uvm_node = nodes.get("/dev/nvidia-uvm")
    uvm_loaded = any(m.name == "nvidia_uvm" for m in e.driver.modules)
    found = f"cuInit failed: {e.log.cuinit_error}"
    if e.log.no_kernel_driver:
        found += f"; {e.log.no_kernel_driver}"
    why = "TensorFlow's first CUDA call failed, so it registers no GPU, although NVML (nvidia-smi) works"
    if not uvm_loaded or (uvm_node is not None and not uvm_node.exists):
        missing = "the nvidia_uvm module is not loaded" if not uvm_loaded else "/dev/nvidia-uvm is missing"
        remedy = "sudo modprobe nvidia-uvm && sudo nvidia-modprobe -u -c=0"
        if e.container:
            remedy = f"load nvidia_uvm on the host, then restart the {e.container} container with --gpus all"
        return Diagnosis(
            "cuinit",
            f"{head}: cuInit fails with {code} because {missing}",
            found,
            why + "; CUDA needs nvidia_uvm",
            remedy,
        )
    remedy = "reboot after a driver upgrade (the loaded module must match libcuda), and check dmesg | grep -i nvrm"
    if "NO_DEVICE" in code:
        remedy = f"check {VISIBLE} and the container's --gpus option; `nvidia-smi -L` must list the GPU"
    elif e.container:
        remedy = f"restart the {e.container} container with --gpus all (nvidia-container-toolkit), then " + remedy
    return Diagnosis("cuinit", f"{head}: cuInit fails with {code}", found, why, remedy)


def _libraries(e: Evidence, head: str, tf: str, fix: Callable[[str], str]) -> Diagnosis | None:
    missing = [m.file for m in e.log.missing]
    lines = [f"{m.file}: {m.dlerror}" for m in e.log.missing]
    if not missing and e.log.cannot_dlopen and e.libraries is not None:
        missing = [lib.soname for lib in e.libraries.libraries if lib.required and not lib.candidates]
        lines = [f"{name}: not found by the libraries probe" for name in missing]
    if not missing and not e.log.cannot_dlopen:
        return None
    if not missing:
        return Diagnosis(
            "libraries",
            f"{head}: TensorFlow could not dlopen some GPU libraries",
            "'Cannot dlopen some GPU libraries' in TF's log, without the per-library lines",
            "TensorFlow skips GPU registration when any of cudart, cublas, cublasLt, cufft, cusolver, cusparse, "
            "cudnn fails to load",
            f"find the library TF names with: {VLOG_COMMAND}",
        )
    return Diagnosis(
        "libraries",
        f"{head}: TensorFlow could not load {', '.join(missing)}",
        "; ".join(lines),
        "TensorFlow skips GPU registration when a required CUDA library fails to dlopen "
        "('Cannot dlopen some GPU libraries')",
        fix(_library_name(missing[0])),
    )


def _compute_capability(e: Evidence, head: str, tf: str, fix: Callable[[str], str]) -> Diagnosis | None:
    if not e.log.ignored:
        return None
    first = e.log.ignored[0]
    needs = f"needs at least {first.min_compute_capability}" if first.min_compute_capability else first.reason
    return Diagnosis(
        "compute-capability",
        f"{head}: TensorFlow ignores {first.name} (compute capability {first.compute_capability}): it {needs}",
        "; ".join(f"device {g.ordinal} {g.name} at {g.pci_bus_id}: {g.reason}" for g in e.log.ignored),
        f"{tf} filters out GPUs below the oldest architecture its kernels were built for",
        "use a GPU of a newer architecture, or a TensorFlow release built for this one "
        "(see framework::gpu_kernels_cover_every_compute_capability)",
    )


def _library_name(soname: str) -> str:
    """'libcublasLt.so.12' -> 'cublasLt', the name the libraries layer uses."""
    return soname.removeprefix("lib").split(".so")[0]


def _names(gpus: Sequence[GpuFacts]) -> str:
    return ", ".join(f"GPU {g.index} {g.name}" for g in gpus) or "no GPU"
