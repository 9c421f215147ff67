"""Layer `driver`: is an NVIDIA GPU present, bound to the nvidia module, reachable, and new enough?

Checks run lowest first; a check whose prerequisite failed is skipped as
"blocked by" it, so the verdict names the root cause once.
"""

from __future__ import annotations

import contextlib
from typing import NoReturn

import pytest

from gpuconform.diagnose.driver import Cause
from gpuconform.diagnose.driver import container_cuda
from gpuconform.diagnose.driver import container_cuda_too_new
from gpuconform.diagnose.driver import container_node_fix
from gpuconform.diagnose.driver import driver_cuda
from gpuconform.diagnose.driver import floor
from gpuconform.diagnose.driver import lost_gpus
from gpuconform.diagnose.driver import module_is_loaded
from gpuconform.diagnose.driver import module_refusal
from gpuconform.diagnose.driver import node_problem
from gpuconform.diagnose.driver import nouveau_holds_the_gpu
from gpuconform.diagnose.driver import runtime_cuda
from gpuconform.diagnose.driver import version_mismatch
from gpuconform.diagnose.driver import xid_findings
from gpuconform.expect.expectations import Expectations
from gpuconform.expect.matrix import Matrices
from gpuconform.expect.profiles import Profile
from gpuconform.facts.model import DeviceNode
from gpuconform.facts.model import Facts
from gpuconform.facts.model import GpuFacts
from gpuconform.facts.model import NvmlFacts
from gpuconform.facts.model import PciDevice
from gpuconform.facts.unstated import driver_version_not_stated
from gpuconform.facts.versions import decode_cuda_int
from gpuconform.facts.versions import driver_branch
from gpuconform.facts.versions import format_cc
from gpuconform.facts.versions import parse_cc
from gpuconform.facts.versions import parse_driver_version
from gpuconform.verdict.check import blocked
from gpuconform.verdict.check import fail
from gpuconform.verdict.check import not_applicable

pytestmark = pytest.mark.driver

PCI = "/sys/bus/pci/devices (vendor 0x10de, class 0x0300/0x0302)"
PROC_VERSION = "/proc/driver/nvidia/version"
MODULES = "/proc/modules"
NVML = "NVML (libnvidia-ml.so.1)"

BLACKLIST_NOUVEAU = (
    "printf 'blacklist nouveau\\noptions nouveau modeset=0\\n' | sudo tee /etc/modprobe.d/blacklist-nouveau.conf"
    " && sudo update-initramfs -u && sudo reboot   (RHEL/CentOS: sudo dracut --force)"
)
INSTALL_DRIVER = (
    "install the NVIDIA driver (Ubuntu: sudo ubuntu-drivers install, or sudo apt install nvidia-driver-<branch>)"
)


def _model_label(host_expect: Expectations) -> str:
    return host_expect.gpu_model.names[0] if host_expect.gpu_model else "NVIDIA GPU"


def _in_container(host_facts: Facts) -> str | None:
    return host_facts.platform.container


# ---- the bus and the kernel module --------------------------------------------------


def _wsl2(host_facts: Facts) -> bool:
    """Under WSL 2 the Windows driver serves the GPU through /dev/dxg: no PCI device, no nvidia module in Linux."""
    return host_facts.platform.wsl_version == 2


#: Native Windows has no Linux kernel side: the WDDM driver serves the GPU, and NVML answers for it.
WINDOWS = "native Windows: the WDDM driver serves the GPU; there is no Linux kernel module, /dev node or kernel log"


def _not_on_windows(host_facts: Facts) -> None:
    """Checks of the Linux kernel side do not apply on native Windows (NVML and the libraries still do)."""
    if host_facts.platform.system == "Windows":
        not_applicable(WINDOWS)


def test_nvidia_gpu_is_on_the_pci_bus(
    host_facts: Facts, gpu_profile: Expectations, pci_gpus: tuple[PciDevice, ...]
) -> None:
    want = gpu_profile.profile.gpus.count
    if _wsl2(host_facts) and not pci_gpus:
        not_applicable("under WSL 2 the GPU is paravirtualised (/dev/dxg): Linux sees it on no PCI bus")
    if host_facts.driver.pci_error is not None and not pci_gpus:
        fail(
            "the PCI bus could not be read",
            expected=f"{want} NVIDIA GPU(s) on the PCI bus",
            found=host_facts.driver.pci_error.message,
            source=PCI,
            why="without sysfs no GPU can be seen; a container may hide /sys",
            fix="run on the host, or give the container the host's sysfs: docker run -v /sys:/sys:ro ...",
        )
    if len(pci_gpus) < want:
        listed = ", ".join(f"{d.address} (0x{d.device_id:04x})" for d in pci_gpus) or "none"
        fail(
            f"expected {want} {_model_label(gpu_profile)} on the PCI bus, found {len(pci_gpus)}",
            expected=f"{want} x {_model_label(gpu_profile)} (profile {gpu_profile.profile.name!r})",
            found=f"{len(pci_gpus)} NVIDIA display/3D controller(s): {listed}",
            source=PCI,
            why="a GPU that is not on the bus cannot be used by any driver or framework",
            fix="check the card is seated and powered, the VM/instance type has a GPU attached, "
            "and `lspci -nn | grep -i nvidia` lists it",
        )


@pytest.mark.depends_on("driver::nvidia_gpu_is_on_the_pci_bus")
def test_the_nvidia_kernel_module_is_loaded(
    host_facts: Facts, gpu_profile: Expectations, host_matrices: Matrices
) -> None:
    """The nvidia kernel module is loaded.

    Not loaded: the cause the facts name (modprobe, the kernel log, Secure Boot), else nouveau's check, else none.
    """
    _not_on_windows(host_facts)
    if _wsl2(host_facts):
        not_applicable("under WSL 2 the Windows NVIDIA driver serves the GPU: Linux loads no nvidia module")
    if module_is_loaded(host_facts):
        return
    d = host_facts.driver
    cause = module_refusal(host_facts, host_matrices)
    if cause is None and nouveau_holds_the_gpu(host_facts):
        blocked("driver::nouveau_is_not_loaded", "nouveau holds the GPU, so the nvidia module cannot bind it")
    loaded = any(m.name == "nvidia" for m in d.modules)
    state = f"{PROC_VERSION} {'missing' if d.proc_version_text is None else 'present'}; "
    state += f"'nvidia' {'in' if loaded else 'not in'} {MODULES}"
    if cause is None:
        cause = Cause(
            summary="the nvidia kernel module is not loaded",
            found=state,
            source=f"{PROC_VERSION}, {MODULES}",
            why="without the kernel module no process can reach the GPU; nothing recorded says why it is not loaded "
            "(sudo modprobe nvidia and dmesg | grep -i nvidia do)",
            fix="sudo modprobe nvidia; if modprobe finds no module, " + INSTALL_DRIVER + " for the running kernel",
        )
    found, fix = cause.found, cause.fix
    refusal = host_facts.platform.container_runtime_error
    if refusal:
        found += f"; the container runtime said {refusal!r}"
    container = _in_container(host_facts)
    if container:
        fix = f"on the host that runs this {container} container (a container cannot load kernel modules): {fix}"
    fail(
        cause.summary,
        expected=f"the nvidia module loaded ({PROC_VERSION} present)",
        found=found,
        source=cause.source,
        why=cause.why,
        fix=fix,
    )


def test_nouveau_is_not_loaded(host_facts: Facts, gpu_profile: Expectations, host_matrices: Matrices) -> None:
    _not_on_windows(host_facts)
    if not any(m.name == "nouveau" for m in host_facts.driver.modules):
        return
    if not module_is_loaded(host_facts) and module_refusal(host_facts, host_matrices) is not None:
        # nouveau took the GPU because the nvidia module was refused: that refusal is the cause to fix.
        blocked("driver::the_nvidia_kernel_module_is_loaded", "the nvidia module was refused; nouveau took the GPU")
    container = _in_container(host_facts)
    fail(
        "the nouveau driver is loaded",
        expected="nouveau blacklisted and not loaded",
        found="'nouveau' in " + MODULES,
        source=MODULES,
        why="nouveau claims NVIDIA GPUs before the nvidia module can, and the two cannot share a GPU",
        fix=(f"on the host that runs this {container} container: " if container else "")
        + BLACKLIST_NOUVEAU
        + "; then reinstall the driver for the running kernel if it still does not load",
    )


@pytest.mark.depends_on("driver::the_nvidia_kernel_module_is_loaded", "driver::nouveau_is_not_loaded")
def test_every_gpu_is_bound_to_the_nvidia_driver(host_facts: Facts, pci_gpus: tuple[PciDevice, ...]) -> None:
    _not_on_windows(host_facts)
    if _wsl2(host_facts):
        not_applicable("under WSL 2 no Linux driver binds the GPU: the Windows driver serves it through /dev/dxg")
    wrong = [d for d in pci_gpus if d.bound_driver != "nvidia"]
    if not wrong:
        return
    d = wrong[0]
    found = ", ".join(f"{x.address} bound to {x.bound_driver or 'no driver'}" for x in wrong)
    if d.bound_driver == "nouveau":
        summary, why, fix = (
            f"GPU {d.address} is driven by nouveau, not the NVIDIA driver",
            "nouveau (the open-source driver) offers no CUDA; it also blocks the nvidia module from binding",
            BLACKLIST_NOUVEAU + "; then " + INSTALL_DRIVER,
        )
    elif d.bound_driver and d.bound_driver.startswith("vfio"):
        summary, why, fix = (
            f"GPU {d.address} is bound to {d.bound_driver} (reserved for a VM), not the NVIDIA driver",
            "a GPU passed through with vfio-pci is invisible to the host's CUDA",
            f"release it: sudo driverctl unset-override {d.address} (or remove it from vfio-pci.ids) and reboot",
        )
    else:
        summary, why, fix = (
            f"GPU {d.address} is on the PCI bus but bound to no driver",
            "the nvidia kernel module did not claim the device: not installed, not loaded, or failed to probe (see "
            "dmesg | grep NVRM)",
            INSTALL_DRIVER + ", then sudo modprobe nvidia",
        )
    fail(
        summary,
        expected="every NVIDIA GPU bound to the 'nvidia' driver",
        found=found,
        source=f"{PCI}/*/driver",
        why=why,
        fix=fix,
    )


@pytest.mark.depends_on("driver::the_nvidia_kernel_module_is_loaded")
def test_device_nodes_exist_and_are_accessible(
    host_facts: Facts, gpu_profile: Expectations, host_matrices: Matrices
) -> None:
    _not_on_windows(host_facts)
    nodes = {n.path: n for n in host_facts.driver.device_nodes}
    if _wsl2(host_facts):
        _wsl2_device(nodes.get("/dev/dxg"))
        return
    per_gpu = sorted(p for p in nodes if p.removeprefix("/dev/nvidia").isdigit())
    wanted = ["/dev/nvidiactl", "/dev/nvidia-uvm", *per_gpu]
    missing = [p for p in wanted if p not in nodes or not nodes[p].exists]
    if not any(nodes[p].exists for p in per_gpu):
        missing.append("/dev/nvidia0..N")
    present = [nodes[p] for p in wanted if p in nodes and nodes[p].exists]
    unusable = [n for n in present if not (n.readable and n.writable) or n.open_error]
    if not missing and not unusable:
        return
    found = ", ".join(
        [f"{p} missing" for p in missing]
        + [f"{n.path}: {n.open_error}" if n.open_error else f"{n.path} not read/writable" for n in unusable]
    )
    container = _in_container(host_facts)
    problem = node_problem(present, missing)
    summary = "NVIDIA device nodes are missing or inaccessible"
    why = "CUDA opens these nodes; without /dev/nvidia-uvm cuInit fails even when nvidia-smi works"
    if container:
        why, fix = container_node_fix(host_facts, host_matrices, problem)
        if problem == "denied":
            summary = f"the {container} container's device cgroup denies the NVIDIA device nodes"
        elif problem == "uvm_missing":
            summary = f"/dev/nvidia-uvm is missing in the {container} container"
    elif problem == "denied":
        why = "the nodes exist but opening them is refused: a device cgroup (a systemd unit's DevicePolicy) denies them"
        fix = "allow the NVIDIA nodes in the cgroup of the unit or session that runs the jobs, or run outside it"
    elif any(not (n.readable and n.writable) for n in unusable):
        fix = "give this user access: sudo usermod -aG video $USER (then log in again), or check the device cgroup"
    else:
        fix = "sudo nvidia-modprobe -u -c=0 (creates /dev/nvidia-uvm and /dev/nvidia0), or sudo modprobe nvidia-uvm"
    fail(
        summary,
        expected="/dev/nvidiactl, /dev/nvidia-uvm and one /dev/nvidiaN per GPU, readable and writable",
        found=found,
        source="/dev" + (f" inside the {container} container ({_evidence(host_facts)})" if container else ""),
        why=why,
        fix=fix,
    )


def _wsl2_device(dxg: DeviceNode | None) -> None:
    if dxg is not None and dxg.exists and dxg.readable and dxg.writable:
        return
    fail(
        "/dev/dxg (WSL 2's GPU device) is missing or inaccessible",
        expected="/dev/dxg, readable and writable",
        found="/dev/dxg " + ("missing" if dxg is None or not dxg.exists else "not read/writable"),
        source="/dev",
        why="under WSL 2 every GPU call goes through /dev/dxg to the Windows driver",
        fix="install or update the Windows NVIDIA driver (with WSL support) and the WSL kernel (wsl --update), then "
        "wsl --shutdown and start the distribution again",
    )


def _evidence(host_facts: Facts) -> str:
    return "; ".join(host_facts.platform.container_evidence) or "container detected"


# ---- NVML -----------------------------------------------------------------------------

NVML_DIAGNOSES = {
    "NVMLError_DriverNotLoaded": (
        "NVML reports that the NVIDIA driver is not loaded",
        "sudo modprobe nvidia, or " + INSTALL_DRIVER,
    ),
    "NVMLError_LibraryNotFound": (
        "libnvidia-ml.so.1 (the driver's user-space library) was not found",
        "sudo apt install libnvidia-compute-<branch> (the driver's user-space libraries, the kernel module's branch), "
        "or in a container: docker run --gpus all so the toolkit injects them",
    ),
    "NVMLError_NoPermission": (
        "NVML has no permission to open the GPU",
        "sudo usermod -aG video $USER (then log in again), or allow /dev/nvidia* in the container's device cgroup",
    ),
    "NVMLError_GpuIsLost": (
        "a GPU has fallen off the bus (NVML: GPU is lost)",
        "reset or reboot the host; check power and cooling, and dmesg for Xid 79",
    ),
}


@pytest.mark.depends_on("driver::the_nvidia_kernel_module_is_loaded")
def test_nvml_initialises(host_facts: Facts, nvml: NvmlFacts, host_matrices: Matrices) -> None:
    """nvmlInit, then each GPU: NVML initialises a GPU when its handle is first asked for (nvmlInit_v2)."""
    error = nvml.init_error
    if error is None:
        lost = lost_gpus(host_facts, host_matrices)
        if lost is not None:
            _fail_with(lost, expected="NVML reaches every GPU bound to the nvidia driver")
        return
    if error.kind == "NVMLError_LibRmVersionMismatch":
        _fail_with(version_mismatch(host_facts, host_matrices), expected="nvmlInit succeeds")
    summary, fix = NVML_DIAGNOSES.get(error.kind, (f"NVML failed to initialise ({error.kind})", INSTALL_DRIVER))
    module = host_facts.driver.kernel_module_version
    if module:
        fix = fix.replace("<branch>", str(driver_branch(module)))
    fail(
        summary,
        expected="nvmlInit succeeds",
        found=f"{error.kind}: {error.message}",
        source=NVML,
        why="NVML is how nvidia-smi, the container toolkit and this suite see the GPUs; CUDA fails the same way",
        fix=fix,
    )


def _fail_with(cause: Cause, *, expected: str) -> NoReturn:
    __tracebackhide__ = True
    fail(cause.summary, expected=expected, found=cause.found, source=cause.source, why=cause.why, fix=cause.fix)


@pytest.mark.depends_on("driver::the_nvidia_kernel_module_is_loaded")
def test_the_kernel_log_shows_no_gpu_errors(
    host_facts: Facts, gpu_profile: Expectations, host_matrices: Matrices, host_warn: object
) -> None:
    """Xid events since boot, judged by matrices/xid.toml: a fatal one fails, a warning-class one warns."""
    _not_on_windows(host_facts)
    log = host_facts.driver.kernel_log
    if log.source is None:
        not_applicable("the kernel log was not recorded (a version-1 facts file, or a description without it)")
    if log.error is not None:
        host_warn(  # type: ignore[operator]
            f"the kernel log is not readable ({log.error.message}): Xid errors on this host cannot be seen",
            found=log.error.message,
            source=log.source,
            why="a GPU that fell off the bus or reported uncorrectable ECC errors says so only in the kernel log",
            fix="run the suite where the kernel log is readable (as root, with CAP_SYSLOG in a container, or "
            "sudo sysctl kernel.dmesg_restrict=0), or read sudo dmesg | grep -i xid on the host",
        )
        return
    warnings, cause = xid_findings(host_facts, host_matrices)
    for warning in warnings:
        host_warn(warning.summary, found=warning.found, source=warning.source, fix=warning.fix)  # type: ignore[operator]
    if cause is not None:
        _fail_with(cause, expected="no fatal Xid since boot")


def _driver_version(host_facts: Facts) -> str | None:
    return host_facts.driver.nvml.driver_version or host_facts.driver.kernel_module_version


def _needs_the_driver_version(host_facts: Facts, judged: str, unknown: str) -> str:
    """The driver version, or not applicable: the facts do not state it (so `judged` is not judged), or `unknown`."""
    text = _driver_version(host_facts)
    if text is not None:
        return text
    unstated = driver_version_not_stated(host_facts)
    not_applicable(f"{unstated}, so {judged} is not judged" if unstated else unknown)


@pytest.mark.depends_on("driver::the_nvidia_kernel_module_is_loaded")
def test_driver_is_new_enough_for_the_tensorflow_cuda(
    host_facts: Facts, gpu_profile: Expectations, host_matrices: Matrices, host_warn: object
) -> None:
    """The driver runs the CUDA TensorFlow was built with (a release the matrix lacks: the CUDA runtime it loads)."""
    requirement = gpu_profile.driver_requirement
    release = gpu_profile.tf_release
    tf = f"{gpu_profile.tensorflow.name} {gpu_profile.tensorflow.version}" if gpu_profile.tensorflow else "TensorFlow"
    cuda = release.cuda if release is not None and requirement is not None else None
    what = f"{tf} (CUDA {cuda})"
    runtime = runtime_cuda(host_facts) if cuda is None and gpu_profile.tensorflow is not None else None
    if runtime is not None and gpu_profile.tf_is_gpu_build:
        with contextlib.suppress(KeyError):  # a CUDA the driver table lacks gives no requirement
            requirement, cuda = host_matrices.driver_requirement(runtime), runtime
            what = f"{tf} with the CUDA {runtime} runtime on its library path (the matrix has no row for it)"
    if requirement is None or cuda is None or not gpu_profile.tf_is_gpu_build:
        not_applicable("no CUDA-enabled TensorFlow in the matrix is installed, so no CUDA requirement applies")
    text = _needs_the_driver_version(
        host_facts,
        f"whether it is new enough for {what}, which needs >= {floor(requirement.full, requirement.minor_compat)},",
        "the driver version is unknown (see the NVML and kernel-module checks)",
    )
    driver = parse_driver_version(text)
    lowest = floor(requirement.full, requirement.minor_compat)
    source = f"{NVML} driver version; matrices/cuda_drivers.toml ({requirement.toolkit_label})"
    fix = _driver_fix(requirement.full, host_facts, host_matrices, gpu_profile.profile)
    if driver < lowest:
        fail(
            f"driver {driver} is too old for {what}: needs >= {lowest}",
            expected=f"driver >= {requirement.full} for {requirement.toolkit_label}"
            + (
                f", or >= {requirement.minor_compat} with CUDA {cuda.major}.x minor-version compatibility"
                if requirement.minor_compat
                else ""
            ),
            found=f"driver {driver} (it runs CUDA up to {driver_cuda(host_facts, host_matrices, driver) or 'unknown'})",
            source=source,
            why="CUDA refuses to initialise with a driver older than the runtime allows (minor version included "
            "before CUDA 11, which brought minor-version compatibility); TF then sees no GPU",
            fix=fix,
        )
    if driver < requirement.full:
        host_warn(  # type: ignore[operator]
            f"driver {driver} runs CUDA {cuda} only through minor-version compatibility "
            f"(>= {requirement.minor_compat}); {requirement.toolkit_label} ships with >= {requirement.full}. "
            "PTX JIT of kernels built by the newer toolkit may fail on GPUs without native SASS",
            fix=fix,
        )


@pytest.mark.depends_on("driver::the_nvidia_kernel_module_is_loaded")
def test_driver_is_new_enough_for_the_container_cuda(
    host_facts: Facts, gpu_profile: Expectations, host_matrices: Matrices
) -> None:
    """The driver runs the CUDA the container image asks for: the runtime's refusal ("cuda>=9.2") or CUDA_VERSION."""
    required = container_cuda(host_facts, host_matrices)
    if required is None:
        not_applicable("no container image states the CUDA it needs (no CUDA_VERSION, no refusal naming one)")
    text = _needs_the_driver_version(
        host_facts,
        f"whether it runs the CUDA {required[0]} the container image needs",
        "the driver version is unknown (see the NVML and kernel-module checks)",
    )
    cause = container_cuda_too_new(host_facts, host_matrices, required, parse_driver_version(text))
    if cause is not None:
        _fail_with(cause, expected=f"a driver that runs the image's CUDA {required[0]}")


def _driver_fix(full: object, host_facts: Facts, matrices: Matrices, profile: Profile) -> str:
    """The driver branch to install for this GPU and this TF, or the TF to pin when no driver runs both."""
    from gpuconform.expect.compat import predict

    branch = str(full).split(".")[0]
    install = f"sudo apt install nvidia-driver-{branch} (a driver >= {full}), then reboot"
    newest = predict(host_facts, profile, matrices).newest_runnable
    pin = f"keep this driver and pin TensorFlow {newest.series}: {newest.fix}" if newest and newest.fix else ""
    for gpu in host_facts.driver.nvml.gpus:
        model = matrices.gpu_by_name(gpu.name)
        if model is not None and model.last_driver_branch and model.last_driver_branch < int(branch):
            # No driver runs both this GPU and this TF: the pin is the only fix on this hardware.
            stop = (
                f"R{model.last_driver_branch} is the last driver branch for {model.architecture} GPUs "
                f"such as {gpu.name}"
            )
            return f"{stop}, too old for R{branch}: " + (pin or "replace the GPU")
    return install + (f"; or {pin}" if pin else "")


@pytest.mark.depends_on("driver::the_nvidia_kernel_module_is_loaded")
def test_driver_version_satisfies_the_profile(host_facts: Facts, gpu_profile: Expectations) -> None:
    wanted = gpu_profile.profile.driver
    if wanted.min_version is None and wanted.max_version is None:
        not_applicable(f"profile {gpu_profile.profile.name!r} puts no constraint on the driver version")
    low = parse_driver_version(wanted.min_version) if wanted.min_version else None
    high = parse_driver_version(wanted.max_version) if wanted.max_version else None
    bounds = " and ".join(x for x in (f">= {low}" if low else "", f"< {high}" if high else "") if x)
    text = _needs_the_driver_version(
        host_facts,
        f"the profile's range (driver {bounds})",
        "the driver version is unknown (see the NVML and kernel-module checks)",
    )
    driver = parse_driver_version(text)
    if (low is None or driver >= low) and (high is None or driver < high):
        return
    fail(
        f"driver {driver} is outside the profile's range ({bounds})",
        expected=f"driver {bounds} (profile {gpu_profile.profile.name!r}, {gpu_profile.profile.source})",
        found=f"driver {driver}",
        source=NVML,
        why="the profile pins the driver branch this fleet is validated on",
        fix=f"install a driver {bounds}: sudo apt install nvidia-driver-{driver_branch(low or high or driver)}",
    )


# ---- inventory --------------------------------------------------------------------------


@pytest.mark.depends_on("driver::nvml_initialises")
def test_gpu_count_matches_the_profile(
    gpu_profile: Expectations, nvml_gpus: tuple[GpuFacts, ...], pci_gpus: tuple[PciDevice, ...], host_warn: object
) -> None:
    want = gpu_profile.profile.gpus.count
    have = len(nvml_gpus)
    if have < want:
        missing = [
            d.address
            for d in pci_gpus
            if d.address.lower() not in {(g.pci_bus_id or "").lower()[-12:] for g in nvml_gpus}
        ]
        fail(
            f"expected {want} GPU(s), NVML sees {have}",
            expected=f"{want} x {_model_label(gpu_profile)} (profile {gpu_profile.profile.name!r})",
            found=f"{have}: "
            + (", ".join(g.name for g in nvml_gpus) or "none")
            + (f"; on the PCI bus but not in NVML: {', '.join(missing)}" if missing else ""),
            source=NVML,
            why="jobs sized for the profile will fail or oversubscribe the GPUs that are left",
            fix="check `nvidia-smi -L` and dmesg for Xid errors; reseat or replace the missing GPU, or fix the profile",
        )
    if have > want:
        host_warn(f"{have} GPUs present, the profile expects {want}")  # type: ignore[operator]


@pytest.mark.depends_on("driver::nvml_initialises")
def test_gpu_model_and_compute_capability_match_the_profile(
    gpu_profile: Expectations, nvml_gpus: tuple[GpuFacts, ...], host_matrices: Matrices
) -> None:
    profile = gpu_profile.profile
    want_cc = parse_cc(profile.gpus.compute_capability) if profile.gpus.compute_capability else None
    for gpu in nvml_gpus:
        model = host_matrices.gpu_by_name(gpu.name)
        if profile.gpus.model and (model is None or not model.answers_to(profile.gpus.model)):
            fail(
                f"GPU {gpu.index} is a {gpu.name}, not a {_model_label(gpu_profile)}",
                expected=f"{_model_label(gpu_profile)} (profile {profile.name!r}, model {profile.gpus.model!r})",
                found=f"{gpu.name} (matrix model {model.key if model else 'unknown'})",
                source=NVML,
                why="expectations (memory, kernels, driver branch) are per model",
                fix="use the profile for this GPU (--host-profile auto picks it) or attach the expected GPU",
            )
        if want_cc and gpu.compute_capability and tuple(gpu.compute_capability) != want_cc:
            fail(
                f"GPU {gpu.index} ({gpu.name}) has compute capability {format_cc(gpu.compute_capability)}, expected "
                f"{format_cc(want_cc)}",
                expected=f"compute capability {format_cc(want_cc)}",
                found=f"{format_cc(gpu.compute_capability)}",
                source=NVML + " nvmlDeviceGetCudaComputeCapability",
                why="TensorFlow's kernels are compiled per compute capability",
                fix="use the profile for this GPU, or attach the expected GPU",
            )


@pytest.mark.depends_on("driver::nvml_initialises")
def test_gpu_memory_meets_the_profile(gpu_profile: Expectations, nvml_gpus: tuple[GpuFacts, ...]) -> None:
    floor = gpu_profile.profile.gpus.min_memory_mib
    if floor is None:
        not_applicable(f"profile {gpu_profile.profile.name!r} sets no minimum GPU memory")
    small = [g for g in nvml_gpus if g.memory_total_mib is not None and g.memory_total_mib < floor]
    if small:
        g = small[0]
        fail(
            f"GPU {g.index} ({g.name}) has {g.memory_total_mib} MiB, below the profile's {floor} MiB",
            expected=f">= {floor} MiB per GPU",
            found=", ".join(f"GPU {x.index}: {x.memory_total_mib} MiB" for x in small),
            source=NVML + " nvmlDeviceGetMemoryInfo",
            why="models sized for the profile will run out of memory",
            fix="nvidia-smi --query-gpu=index,name,memory.total --format=csv shows the variant (or a vGPU/MIG slice); "
            "attach the expected card, or lower gpus.min_memory_mib in the profile",
        )


@pytest.mark.depends_on("driver::nvml_initialises")
def test_gpu_health_flags_are_clear(
    gpu_profile: Expectations, nvml_gpus: tuple[GpuFacts, ...], host_warn: object
) -> None:
    profile = gpu_profile.profile.gpus
    for g in nvml_gpus:
        if g.remapped_rows_failure:
            fail(
                f"GPU {g.index} ({g.name}) has a row-remapping failure",
                expected="no row-remapping failure",
                found="nvmlDeviceGetRemappedRows: failure occurred",
                source=NVML,
                why="the GPU's memory has uncorrectable errors it could not remap; results can be corrupt",
                fix="drain the host and have the GPU replaced (RMA)",
            )
        if profile.ecc and g.ecc_enabled is False:
            fail(
                f"GPU {g.index} ({g.name}) has ECC disabled",
                expected="ECC enabled (profile requires it)",
                found="ECC off",
                source=NVML + " nvmlDeviceGetEccMode",
                why="without ECC, memory bit flips go undetected",
                fix=f"sudo nvidia-smi -i {g.index} -e 1 && sudo reboot",
            )
        if profile.persistence_mode and g.persistence_mode is False:
            fail(
                f"GPU {g.index} ({g.name}) has persistence mode off",
                expected="persistence mode on (profile requires it)",
                found="persistence mode off",
                source=NVML + " nvmlDeviceGetPersistenceMode",
                why="without it the driver tears down and re-initialises the GPU for every process",
                fix="sudo systemctl enable --now nvidia-persistenced (or sudo nvidia-smi -pm 1)",
            )
        if g.retired_pages_pending or g.remapped_rows_pending or g.ecc_pending:
            host_warn(  # type: ignore[operator]
                f"GPU {g.index} ({g.name}) has a pending page retirement / row remap / ECC mode change",
                fix=f"reset the GPU (sudo nvidia-smi -r -i {g.index}) or reboot to apply it",
            )
        if g.mig_enabled:
            host_warn(  # type: ignore[operator]
                f"GPU {g.index} ({g.name}) is in MIG mode: TensorFlow sees only the MIG instance named in "
                "CUDA_VISIBLE_DEVICES",
                fix=f"sudo nvidia-smi -i {g.index} -mig 0 (or set CUDA_VISIBLE_DEVICES=MIG-<uuid>)",
            )


@pytest.mark.depends_on("driver::nvml_initialises")
def test_pcie_links_run_at_full_width(
    gpu_profile: Expectations, nvml_gpus: tuple[GpuFacts, ...], host_warn: object
) -> None:
    profile = gpu_profile.profile.gpus
    for g in nvml_gpus:
        if profile.min_pcie_gen and g.pcie_gen_max is not None and g.pcie_gen_max < profile.min_pcie_gen:
            fail(
                f"GPU {g.index} ({g.name}) links at PCIe gen {g.pcie_gen_max} at most, below the profile's gen "
                f"{profile.min_pcie_gen}",
                expected=f"PCIe gen >= {profile.min_pcie_gen}",
                found=f"max link generation {g.pcie_gen_max}",
                source=NVML + " nvmlDeviceGetMaxPcieLinkGeneration",
                why="host-device copies run at a fraction of the expected bandwidth",
                fix="move the card to a CPU-attached slot of the right generation; check BIOS PCIe settings",
            )
        if profile.min_pcie_width and g.pcie_width_max is not None and g.pcie_width_max < profile.min_pcie_width:
            fail(
                f"GPU {g.index} ({g.name}) links at x{g.pcie_width_max} at most, below the profile's "
                f"x{profile.min_pcie_width}",
                expected=f"PCIe width >= x{profile.min_pcie_width}",
                found=f"max link width x{g.pcie_width_max}",
                source=NVML + " nvmlDeviceGetMaxPcieLinkWidth",
                why="host-device copies run at a fraction of the expected bandwidth",
                fix="move the card to a full-width slot; check riser cables",
            )
        if (
            g.pcie_width_current is not None
            and g.pcie_width_max is not None
            and g.pcie_width_current < g.pcie_width_max
        ):
            host_warn(  # type: ignore[operator]
                f"GPU {g.index} ({g.name}) link is degraded: x{g.pcie_width_current} of x{g.pcie_width_max}",
                fix="reseat the card or its riser; check `lspci -vv` LnkSta for the slot",
            )
        if g.pcie_gen_current is not None and g.pcie_gen_max is not None and g.pcie_gen_current < g.pcie_gen_max:
            host_warn(  # type: ignore[operator]
                f"GPU {g.index} ({g.name}) link runs at gen {g.pcie_gen_current} of {g.pcie_gen_max} "
                "(normal at idle: GPUs lower the link generation to save power; a problem if it stays low under load)",
            )


@pytest.mark.depends_on("driver::nvml_initialises")
def test_driver_branch_supports_each_gpu(
    host_facts: Facts, nvml_gpus: tuple[GpuFacts, ...], host_matrices: Matrices
) -> None:
    text = _needs_the_driver_version(
        host_facts,
        "whether its branch supports each GPU (" + ", ".join(g.name for g in nvml_gpus) + ")",
        "the driver version is unknown (see the NVML check)",
    )
    driver = parse_driver_version(text)
    for g in nvml_gpus:
        model = host_matrices.gpu_by_name(g.name)
        if model is None:
            continue
        support = host_matrices.driver_supports_gpu(driver, model)
        if not support:
            fail(
                f"driver {driver} does not support GPU {g.index} ({g.name}, {model.architecture})",
                expected=support.reason,
                found=f"driver {driver}",
                source=f"{NVML}; matrices/gpus.toml",
                why="NVIDIA drops old architectures from new driver branches; the GPU is ignored or fails to "
                "initialise",
                fix=f"install the last driver branch for {model.architecture}: sudo apt install "
                f"nvidia-driver-{model.last_driver_branch}"
                if model.last_driver_branch
                else "install a newer driver branch",
            )


def test_the_matrices_know_this_driver_and_gpus(
    host_facts: Facts, gpu_profile: Expectations, host_matrices: Matrices, host_warn: object
) -> None:
    """A driver branch, a CUDA version or a GPU newer than the data is named with the data's date: a warning."""
    unknown: dict[str, tuple[str, str]] = {}  # summary -> (found, source)
    text = _driver_version(host_facts)
    if text is not None:
        try:
            note = host_matrices.unknown_driver_branch(parse_driver_version(text))
        except ValueError:
            note = None  # an unreadable version is the NVML and kernel-module checks' to report
        if note:
            unknown[note] = (f"driver {text}", f"{NVML} driver version")
    cuda = host_facts.driver.nvml.cuda_driver_version
    if cuda:
        try:
            version = decode_cuda_int(cuda)
        except ValueError:
            version = None
        note = host_matrices.unknown_cuda(version) if version is not None else None
        if note:
            unknown[note] = (f"the driver runs CUDA {version}", f"{NVML} nvmlSystemGetCudaDriverVersion ({cuda})")
    # NVML's GPUs when it lists any (name and PCI id), else the PCI bus's NVIDIA devices (PCI id only).
    gpus: list[tuple[str | None, int | None, str]]
    gpus = [(g.name, g.pci_device_id, f"{NVML} GPU {g.index}") for g in host_facts.driver.nvml.gpus]
    if not gpus:
        pci = [d for d in host_facts.driver.pci_devices if d.vendor_id == 0x10DE]
        gpus = [(None, d.device_id, f"{PCI} {d.address}") for d in pci]
    for name, device_id, source in gpus:
        note = host_matrices.unknown_gpu(name, device_id)
        if note and note not in unknown:
            pci_id = f"PCI device 0x{device_id:04x}" if device_id is not None else "no PCI id"
            unknown[note] = (f"{name or 'an NVIDIA GPU'} ({pci_id})", source)
    for summary, (found, source) in unknown.items():
        host_warn(  # type: ignore[operator]
            summary,
            found=found,
            source=f"{source}; matrices/*.toml [meta] as_of",
            why="the checks above judged it by the newest rows the data has; limits newer than the data "
            "(driver branches dropping GPUs, kernels for new architectures) are not known to them",
            fix="update gpuconform (or pass --host-matrices with newer tables); until then, confirm with a real "
            "run: tox -e tfXYZ-gpu",
        )
