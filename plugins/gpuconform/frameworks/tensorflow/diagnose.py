"""Why TensorFlow sees fewer GPUs than NVML: one cause from an enumerated list, with its fix, never "0 != 1".

"nvidia-smi works but TF sees no GPU" has a known set of causes, and the evidence for each is in a
different place: the platform and the TensorFlow release (native Windows after 2.10), the installed
distribution and its build info, the CUDA_VISIBLE_DEVICES the child ran with, the driver against the
release's CUDA, TF's own log (cuInit errors, "Cannot dlopen some GPU libraries", "device kernel image
is invalid", "Ignoring visible gpu device"), the libraries layer's facts and the kernel coverage of
the wheel. `CAUSES` lists them in the order in which they stop TensorFlow, each with the evidence that
shows it and its fix; `diagnose` names the first one the evidence supports, and the last entry says
how to get TensorFlow's own account when none does. docs/no-gpu-causes.md is generated from `CAUSES`
(``python -m gpuconform.frameworks.tensorflow.diagnose > docs/no-gpu-causes.md``) and a test keeps the two in sync.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass

from gpuconform.facts.model import DriverFacts
from gpuconform.facts.model import GpuFacts
from gpuconform.facts.model import LibrariesFacts
from gpuconform.frameworks.devices import VISIBLE
from gpuconform.frameworks.devices import visibility
from gpuconform.frameworks.tensorflow.log import TfLog
from gpuconform.frameworks.tensorflow.observations import BuildInfo

VLOG_COMMAND = (
    "TF_CPP_MIN_LOG_LEVEL=0 TF_CPP_MAX_VLOG_LEVEL=1 python -c "
    "\"import tensorflow as tf; print(tf.config.list_physical_devices('GPU'))\" 2>&1 | less"
)
#: What CUDA says when a GPU's architecture has no code it can load in the binary (TF or its CUDA libraries).
KERNEL_IMAGE = re.compile(
    r"device kernel image is invalid|no kernel image is available for execution on the device|"
    r"CUDA_ERROR_INVALID_PTX|CUDA_ERROR_NO_BINARY_FOR_GPU|not built with CUDA kernel binaries compatible"
)
#: What CUDA says when the driver is older than the runtime TensorFlow was built with.
OLD_DRIVER = re.compile(
    r"CUDA_ERROR_INSUFFICIENT_DRIVER|CUDA driver version is insufficient for CUDA runtime version|"
    r"cudaErrorInsufficientDriver"
)


@dataclass(frozen=True)
class Diagnosis:
    """The cause of missing GPUs, in the four parts of a failure."""

    cause: str  # a key of CAUSES
    summary: str
    found: str
    why: str
    fix: str


@dataclass(frozen=True)
class Evidence:
    """Everything `diagnose` weighs. The fields after `container` are worked out by the check from the
    matrices (each None when it found nothing wrong)."""

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
    log_text: str = ""  # the child's log, verbatim (for lines TfLog has no landmark for)
    platform_problem: str | None = None  # "tensorflow 2.12.0 on native Windows: no GPU build after 2.10"
    platform_fix: str | None = None
    cpu_build: str | None = None  # why the installed TF is a CPU-only build, when the expectations say so
    cpu_build_fix: str | None = None
    driver_problem: str | None = None  # "driver 418.39 is older than the 450.80.02 that CUDA 11.0 needs"
    driver_fix: str | None = None
    kernel_problem: str | None = None  # "CUDA 10.1 of TF 2.3 predates compute capability 8.6 ..."
    kernel_fix: str | None = None


Rule = Callable[[Evidence, str, str, Callable[[str], str]], "Diagnosis | None"]


@dataclass(frozen=True)
class Cause:
    """One documented reason TensorFlow sees no GPU although NVML does, and how to tell and fix it."""

    key: str
    title: str
    evidence: str  # where it shows
    fix: str  # the fix, as the diagnosis words it for this host
    rule: Rule


def diagnose(e: Evidence, install_fix: Callable[[str], str]) -> Diagnosis:
    """Name the first cause the evidence supports; `install_fix(library)` gives a library's install command."""
    head = f"TensorFlow sees {e.seen} of the {e.expected} GPU(s) expected"
    tf = f"{e.distribution or 'tensorflow'} {e.version or ''}".strip()
    for cause in CAUSES:
        found = cause.rule(e, head, tf, install_fix)
        if found is not None:
            return found
    raise AssertionError("the last cause always applies")  # pragma: no cover


def _platform(e: Evidence, head: str, tf: str, fix: Callable[[str], str]) -> Diagnosis | None:
    if e.platform_problem is None:
        return None
    return Diagnosis(
        "platform",
        f"{head}: {e.platform_problem}",
        e.platform_problem,
        "the TensorFlow build for this operating system and release has no CUDA: it never looks for a GPU",
        e.platform_fix or "run TensorFlow on Linux or in WSL2",
    )


def _cpu_build(e: Evidence, head: str, tf: str, fix: Callable[[str], str]) -> Diagnosis | None:
    cpu_dist = (e.distribution or "").replace("_", "-").endswith("-cpu")
    said_cpu = e.build is not None and e.build.is_cuda_build is False
    if not cpu_dist and not said_cpu and e.cpu_build is None:
        return None
    found = f"{tf}: get_build_info() is_cuda_build={e.build.is_cuda_build if e.build else '?'}"
    if e.cpu_build:
        found += f"; {e.cpu_build}"
    default = (
        f"pip uninstall -y {e.distribution or 'tensorflow-cpu'} && pip install 'tensorflow[and-cuda]=={e.version}'"
        if e.version
        else "pip install 'tensorflow[and-cuda]'"
    )
    return Diagnosis(
        "cpu-build",
        f"{head}: {tf} is a CPU-only build",
        found,
        "a TensorFlow built without CUDA never looks for a GPU",
        e.cpu_build_fix or default,
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


def _driver(e: Evidence, head: str, tf: str, fix: Callable[[str], str]) -> Diagnosis | None:
    line = _first_line(OLD_DRIVER, e.log_text)
    if e.driver_problem is None and line is None:
        return None
    found = "; ".join(x for x in (e.driver_problem, line and f"TensorFlow's log: {line}") if x)
    return Diagnosis(
        "driver-too-old",
        f"{head}: the driver is too old for {tf}'s CUDA",
        found,
        "the CUDA runtime TensorFlow was built with refuses a driver older than its minimum, so cuInit fails "
        "and no GPU is registered, although nvidia-smi works",
        e.driver_fix or "upgrade the NVIDIA driver to one the release's CUDA supports (driver layer)",
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


def _architecture(e: Evidence, head: str, tf: str, fix: Callable[[str], str]) -> Diagnosis | None:
    line = _first_line(KERNEL_IMAGE, e.log_text)
    if e.kernel_problem is None and line is None:
        return None
    found = "; ".join(x for x in (e.kernel_problem, line and f"TensorFlow's log: {line}") if x)
    return Diagnosis(
        "architecture",
        f"{head}: {tf} has no kernels this GPU's architecture can load",
        found,
        "CUDA initialisation on the GPU fails ('device kernel image is invalid') when neither the wheel nor its "
        "CUDA libraries carry code for the GPU's compute capability",
        e.kernel_fix or "use a TensorFlow release built for this GPU (see framework::gpu_kernels_cover_every_compute_"
        "capability)",
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


def _unknown(e: Evidence, head: str, tf: str, fix: Callable[[str], str]) -> Diagnosis:
    return Diagnosis(
        "unknown",
        f"{head} ({len(e.nvml_gpus)} in NVML), and its log names no cause",
        f"NVML lists {_names(e.nvml_gpus)}; TF's log has no cuInit error, no library failure and no ignored device",
        "TensorFlow registers a GPU only after cuInit, the CUDA libraries and the device checks succeed",
        f"read TensorFlow's own account: {VLOG_COMMAND}",
    )


#: The causes, in the order in which they stop TensorFlow (the first that applies is named).
CAUSES: tuple[Cause, ...] = (
    Cause(
        "platform",
        "This operating system has no CUDA build of the installed release",
        "platform.system() and the TensorFlow version against matrices/tf_platforms.toml: native Windows from 2.11, "
        "macOS always",
        "WSL2 with the Linux wheel, or (native Windows) tensorflow<2.11",
        _platform,
    ),
    Cause(
        "cpu-build",
        "The installed TensorFlow is a CPU-only build",
        "a `-cpu` distribution; plain `tensorflow` before 2.1 (except 1.15.0) by matrices/tf_platforms.toml; "
        "the package's own build_info.py or get_build_info() saying is_cuda_build False",
        "uninstall it and install the GPU build of the same release (tensorflow-gpu before 2.1, "
        "tensorflow[and-cuda] from 2.14)",
        _cpu_build,
    ),
    Cause(
        "hidden",
        f"{VISIBLE} hides the GPUs",
        f"{VISIBLE} in the TensorFlow child's environment ('', '-1', an index or UUID NVML does not have)",
        f"unset {VISIBLE} or list the GPUs",
        _hidden,
    ),
    Cause(
        "no-nvml-gpu",
        "NVML lists no GPU either",
        "NVML's device count",
        "the driver layer's fix",
        _no_nvml_gpu,
    ),
    Cause(
        "driver-too-old",
        "The driver is too old for the release's CUDA",
        "the NVML driver version against the release's CUDA (matrices/cuda_drivers.toml); "
        "'CUDA driver version is insufficient for CUDA runtime version' in TensorFlow's log",
        "a newer driver branch, or a release whose CUDA this driver supports",
        _driver,
    ),
    Cause(
        "cuinit",
        "cuInit fails",
        "TensorFlow's log: 'failed call to cuInit'; the nvidia_uvm module and /dev/nvidia-uvm",
        "load nvidia_uvm and create its node (nvidia-modprobe -u -c=0); in a container, --gpus all; "
        "after a driver upgrade, reboot",
        _cuinit,
    ),
    Cause(
        "libraries",
        "The CUDA libraries are not reached",
        "TensorFlow's log: 'Could not load dynamic library', 'Cannot dlopen some GPU libraries'; "
        "the libraries layer's facts",
        "install the library version the release needs where it looks (the nvidia-*-cu1x wheel or LD_LIBRARY_PATH)",
        _libraries,
    ),
    Cause(
        "compute-capability",
        "TensorFlow ignores a GPU below its minimum compute capability",
        "TensorFlow's log: 'Ignoring visible gpu device ... The minimum required Cuda capability is X'",
        "a newer GPU, or a release built for this one",
        _compute_capability,
    ),
    Cause(
        "architecture",
        "The GPU's architecture is not in the build",
        "the wheel's kernels (matrices/kernels.toml) and its CUDA against the GPU's compute capability "
        "(matrices/architectures.toml); 'device kernel image is invalid' / CUDA_ERROR_INVALID_PTX in TensorFlow's log",
        "a release built with a CUDA and kernels for this compute capability, or a source build for it",
        _architecture,
    ),
    Cause(
        "unknown",
        "None of the above: TensorFlow's own log says no more",
        "nothing in the facts or the log",
        f"read TensorFlow's own account: {VLOG_COMMAND}",
        _unknown,
    ),
)


def _first_line(pattern: re.Pattern[str], text: str) -> str | None:
    return next((line.strip()[:300] for line in text.splitlines() if pattern.search(line)), None)


def _library_name(soname: str) -> str:
    """'libcublasLt.so.12' -> 'cublasLt', the name the libraries layer uses."""
    return soname.removeprefix("lib").split(".so")[0]


def _names(gpus: Sequence[GpuFacts]) -> str:
    return ", ".join(f"GPU {g.index} {g.name}" for g in gpus) or "no GPU"
