"""Why the driver layer is broken, read from the sourced rule tables (matrices/*.toml via gpuconform.expect.tables).

The driver suite asks these questions; each answer is a `Cause` in the four parts a failure needs,
or None when the facts name no cause. Nothing here is about one host: every rule reads a table row
(kernel_module_errors.toml, xid.toml, container_runtimes.toml, cuda_drivers.toml) or a fact.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from packaging.version import Version

from gpuconform.expect.matrix import Matrices
from gpuconform.expect.tables.xid import XidJudgement
from gpuconform.facts.model import DeviceNode
from gpuconform.facts.model import Facts
from gpuconform.facts.model import PciDevice
from gpuconform.facts.versions import driver_branch

KERNEL_LOG = "the kernel log"
MODULE_ERRORS = "matrices/kernel_module_errors.toml"
#: Causes that say the module is missing or mismatched, not why it did not load.
NOT_A_REFUSAL = ("userspace_kernel_version_mismatch", "driver_not_loaded", "nouveau_owns_device")
HANDLE_CALL = "nvmlDeviceGetHandleByIndex"


@dataclass(frozen=True)
class Cause:
    """A diagnosis in the parts a failure message needs."""

    summary: str
    found: str
    source: str
    why: str
    fix: str


# ---- the kernel module ------------------------------------------------------------------------


def module_is_loaded(facts: Facts) -> bool:
    """The nvidia module is loaded: its version file is there (and /proc/modules agrees where it was read)."""
    d = facts.driver
    listed = any(m.name == "nvidia" for m in d.modules)
    return d.proc_version_text is not None and (listed or d.modules_error is not None)


def nouveau_holds_the_gpu(facts: Facts) -> bool:
    """nouveau is loaded, or drives an NVIDIA GPU."""
    d = facts.driver
    return any(m.name == "nouveau" for m in d.modules) or any(p.bound_driver == "nouveau" for p in d.pci_devices)


def module_refusal(facts: Facts, matrices: Matrices) -> Cause | None:
    """Why the nvidia module did not load, where the facts say: loading it, the kernel log, Secure Boot.

    None when nothing does (nouveau holding the GPU, or no driver at all, is then for the caller).
    """
    d = facts.driver
    said = d.module_load_error
    lines = ((said,) if said else ()) + d.kernel_log.lines
    for match in matrices.rules.kernel_module_errors.explain(lines):
        row = match.message
        if row.cause in NOT_A_REFUSAL:
            continue
        where = "loading the module" if match.line == said else KERNEL_LOG
        return Cause(
            summary=f"the nvidia kernel module is not loaded: {row.where} says {match.line!r}",
            found=f"no nvidia module loaded; {where} said {match.line!r}",
            source=f"{_log_source(facts) if where == KERNEL_LOG else 'modprobe'}; {MODULE_ERRORS} ({row.cause})",
            why=row.meaning,
            fix=row.fix,
        )
    if d.secure_boot:
        lockdown = matrices.rules.kernel_module_errors.by_cause("secure_boot_lockdown")
        return Cause(
            summary="the nvidia kernel module is not loaded, and UEFI Secure Boot is on",
            found="no nvidia module loaded; Secure Boot on (efivars SecureBoot = 1)"
            + ("; nouveau drives the GPU instead" if nouveau_holds_the_gpu(facts) else ""),
            source=f"/sys/firmware/efi/efivars; {MODULE_ERRORS}",
            why="with Secure Boot on, the kernel refuses a module without a signature it trusts, and an nvidia "
            "module built by DKMS or the runfile is unsigned unless signed with an enrolled key (sudo modprobe "
            "nvidia then says 'Key was rejected by service' or 'Required key not available')",
            fix=lockdown.fix if lockdown is not None else "sign the module with an enrolled key or disable Secure Boot",
        )
    return None


def _log_source(facts: Facts) -> str:
    source = facts.driver.kernel_log.source
    return f"{KERNEL_LOG} ({source})" if source and source != "described" else KERNEL_LOG


# ---- NVML --------------------------------------------------------------------------------------


def version_mismatch(facts: Facts, matrices: Matrices) -> Cause:
    """NVML's LIB_RM_VERSION_MISMATCH, with the kernel log's API-mismatch line where it has one."""
    module = facts.driver.kernel_module_version
    errors = matrices.rules.kernel_module_errors
    row = errors.by_cause("userspace_kernel_version_mismatch")
    logged = next((m.line for m in errors.explain(facts.driver.kernel_log.lines) if m.message == row), None)
    error = facts.driver.nvml.init_error
    found = f"{error.kind}: {error.message}" if error else "NVML version mismatch"
    found += f" (kernel module {module or 'unknown'} from /proc/driver/nvidia/version)"
    if logged:
        found += f"; the kernel log: {logged!r}"
    return Cause(
        summary="driver/library version mismatch: the loaded kernel module and libnvidia-ml differ",
        found=found,
        source=f"NVML (libnvidia-ml.so.1); {MODULE_ERRORS}",
        why=row.meaning if row else "the user-space driver was upgraded under the loaded kernel module",
        fix=(row.fix if row else "reboot").replace("<branch>", str(driver_branch(module)) if module else "<branch>"),
    )


def lost_gpus(facts: Facts, matrices: Matrices) -> Cause | None:
    """A GPU NVML could not initialise (nvmlInit_v2 attaches GPUs in nvmlDeviceGetHandleBy*).

    Either NVML says so for a GPU it counted, or a GPU bound to nvidia on the PCI bus is missing from
    NVML while the kernel log holds a fatal Xid for its address.
    """
    nvml = facts.driver.nvml
    failed = [g for g in nvml.gpus if any(e.probe.rsplit(".", 1)[-1].startswith(HANDLE_CALL) for e in g.errors)]
    judged = fatal_xids(facts, matrices)
    for gpu in failed:
        error = next(e for e in gpu.errors if e.probe.rsplit(".", 1)[-1].startswith(HANDLE_CALL))
        xid = next((j for j in judged if gpu.pci_bus_id and j.event.pci and j.event.pci in gpu.pci_bus_id), None)
        return _lost(f"GPU {gpu.index}", f"{error.kind}: {error.message}", xid, error.kind)
    listed = {(g.pci_bus_id or "").lower()[-12:] for g in nvml.gpus}
    for device in _nvidia_bound(facts.driver.pci_devices):
        if device.address.lower() in listed:
            continue
        xid = next((j for j in judged if j.event.pci and device.address.lower().startswith(j.event.pci.lower())), None)
        if xid is not None:
            return _lost(f"GPU {device.address}", "on the PCI bus, bound to nvidia, not listed by NVML", xid, None)
    return None


def _lost(name: str, found: str, xid: XidJudgement | None, kind: str | None) -> Cause:
    lost = kind == "NVMLError_GpuIsLost" or (xid is not None and xid.event.code == 79)
    what = "has fallen off the bus" if lost else "could not be initialised"
    if xid is not None:
        found += f"; the kernel log: {xid.label}: {xid.event.text}"
    fix = xid.fix if xid is not None else ""
    if lost and xid is None:
        fix = "reboot the machine; then check the GPU's power (PSU, connectors), cooling and PCIe seating, and dmesg "
        fix += "for Xid 79"
    return Cause(
        summary=f"{name} {what}: NVML cannot reach it",
        found=found,
        source="NVML (nvmlDeviceGetHandleByIndex); the kernel log; matrices/xid.toml",
        why="NVML initialises each GPU when it is first opened; a GPU that fails then is unusable by every "
        "process until it is reset or the machine reboots",
        fix=fix or "reset the GPU (sudo nvidia-smi -r) or reboot, and read the NVRM lines of the kernel log",
    )


def _nvidia_bound(devices: tuple[PciDevice, ...]) -> list[PciDevice]:
    return [d for d in devices if d.vendor_id == 0x10DE and d.bound_driver == "nvidia"]


# ---- the kernel log's Xid events --------------------------------------------------------------


def xid_judgements(facts: Facts, matrices: Matrices) -> list[XidJudgement]:
    """Every Xid of the kernel log, judged by xid.toml."""
    return [matrices.rules.xid.judge(event) for event in facts.driver.kernel_log.xids]


def xid_findings(facts: Facts, matrices: Matrices) -> tuple[list[Cause], Cause | None]:
    """(a warning per warning-class or unknown Xid, the failure the fatal ones make or None)."""
    log = facts.driver.kernel_log
    source = f"{KERNEL_LOG} ({log.source}); matrices/xid.toml"
    judged = xid_judgements(facts, matrices)
    warnings = [
        Cause(f"the kernel log shows {j.label}: {j.why}", f"Xid {j.event.code}: {j.event.text}", source, "", j.fix)
        for j in judged
        if j.severity != "fatal"
    ]
    fatal = [j for j in judged if j.severity == "fatal"]
    if not fatal:
        return warnings, None
    first = fatal[0]
    more = f"; and {len(fatal) - 5} more" if len(fatal) > 5 else ""
    return warnings, Cause(
        summary=f"the kernel log shows {len(fatal)} fatal GPU error(s): {first.label}",
        found="; ".join(f"{j.label}: {j.event.text} ({j.why})" for j in fatal[:5]) + more,
        source=source,
        why=f"NVIDIA classes Xid {first.row.xid if first.row else first.event.code} as needing a reset, a reboot or "
        "service; until then the GPU gives errors or wrong results",
        fix=first.fix,
    )


def fatal_xids(facts: Facts, matrices: Matrices) -> list[XidJudgement]:
    """The fatal ones."""
    return [j for j in xid_judgements(facts, matrices) if j.severity == "fatal"]


# ---- device nodes in containers ---------------------------------------------------------------


def node_problem(nodes: list[DeviceNode], missing: list[str]) -> str | None:
    """'denied' (they exist, opening is refused), 'uvm_missing' (only nvidia-uvm is absent), or None."""
    if missing == ["/dev/nvidia-uvm"]:
        return "uvm_missing"
    if not missing and any(n.open_error for n in nodes):
        return "denied"
    return None


def container_node_fix(facts: Facts, matrices: Matrices, problem: str | None) -> tuple[str, str]:
    """(why, fix) for a device-node problem inside this container, from its runtime's rows."""
    runtimes = matrices.rules.container_runtimes
    container = facts.platform.container
    row = runtimes.node_fix(problem, container) if problem else None
    if row is not None:
        return row.cause, row.fix
    runtime = runtimes.runtime(container)
    if runtime is not None:
        return (
            f"a {container} container sees the GPUs only when they are requested the runtime's way "
            f"({runtime.gpu_request})",
            runtime.fix,
        )
    return (
        "a container sees the GPUs only when its runtime passes the NVIDIA device nodes and driver libraries in",
        f"start the {container} container with the NVIDIA container toolkit (its GPU option, or the nvidia runtime "
        "with NVIDIA_VISIBLE_DEVICES=all)",
    )


# ---- the CUDA a driver must run ---------------------------------------------------------------


def driver_cuda(facts: Facts, matrices: Matrices, driver: Version) -> Version | None:
    """The newest CUDA this driver runs: what NVML reports, else the branch table's row."""
    reported = facts.driver.nvml.cuda_driver_version
    if reported:
        return Version(f"{reported // 1000}.{reported % 1000 // 10}")
    return matrices.max_cuda_for_driver(driver)


def container_cuda(facts: Facts, matrices: Matrices) -> tuple[Version, str, bool] | None:
    """(the CUDA a container image needs, what says so, whether the runtime refused it), where known.

    The runtime's refusal names it ("unsatisfied condition: cuda >= 9.2"); inside a running NVIDIA
    image, CUDA_VERSION does.
    """
    p = facts.platform
    said = p.container_runtime_error
    refusal = matrices.rules.container_runtimes.refusal(said)
    required = refusal.required_cuda(said or "") if refusal is not None else None
    if required is not None:
        return required, f"the container runtime refused the image: {said!r}", True
    image = dict(p.environment).get("CUDA_VERSION")
    if image and p.container:
        with contextlib.suppress(ValueError):
            return Version(".".join(image.split(".")[:2])), f"the image sets CUDA_VERSION={image}", False
    if p.container and facts.libraries is not None:
        # An image without CUDA_VERSION still ships its CUDA runtime: the newest libcudart in it.
        runtimes = [
            (Version(ld.version), ld.path)
            for lib in facts.libraries.libraries
            if lib.name == "cudart"
            for ld in lib.loads + lib.other_loads
            if ld.version
        ]
        if runtimes:
            version, path = max(runtimes)
            cuda = Version(f"{version.major}.{version.minor}")
            return cuda, f"the image's CUDA runtime is {version} ({path})", False
    return None


def container_cuda_too_new(
    facts: Facts, matrices: Matrices, required: tuple[Version, str, bool], driver: Version
) -> Cause | None:
    """Why this driver cannot run the image's CUDA, or None when it can.

    A refusal is the toolkit comparing the driver's CUDA with the image's, minor included; inside a
    running container, minor-version compatibility (CUDA 11 and later) carries a newer minor.
    """
    cuda, said, refused = required
    runs = driver_cuda(facts, matrices, driver)
    if runs is not None and runs >= cuda:
        return None
    try:
        requirement = matrices.driver_requirement(cuda)
    except KeyError:
        requirement = None
    compat = requirement.minor_compat if requirement is not None else None
    if not refused and compat is not None and driver >= compat:
        return None
    need = f"a driver >= {requirement.full} ({requirement.toolkit_label})" if requirement else f"a CUDA {cuda} driver"
    install = f"on the host: install {need}"
    if requirement is not None:
        install = f"on the host: sudo apt install nvidia-driver-{driver_branch(requirement.full)} ({need}), then reboot"
    return Cause(
        summary=f"driver {driver} runs CUDA {runs or 'unknown'}, older than the CUDA {cuda} the container image needs",
        found=f"driver {driver} (CUDA {runs or 'unknown'}); {said}",
        source="NVML (libnvidia-ml.so.1) driver version; the container's environment or runtime; "
        "matrices/cuda_drivers.toml",
        why="NVIDIA's images require their CUDA (NVIDIA_REQUIRE_CUDA): the toolkit refuses to start them on an older "
        "driver, and CUDA in them cannot initialise ('CUDA driver version is insufficient for CUDA runtime version')",
        fix=f"{install}, and restart the container; or use an image built for CUDA {runs or 'this driver runs'} "
        "or older",
    )


def runtime_cuda(facts: Facts) -> Version | None:
    """The newest CUDA runtime (libcudart) the library probe loaded, under any soname."""
    libraries = facts.libraries
    if libraries is None:
        return None
    versions = [
        Version(load.version)
        for lib in libraries.libraries
        if lib.name == "cudart"
        for load in (*lib.loads, *lib.other_loads)
        if load.loaded and load.version
    ]
    return max(versions) if versions else None


def floor(full: Version, minor_compat: Version | None) -> Version:
    """The lowest driver that runs a toolkit: its packaged driver, or its major's minor-version floor if lower."""
    return min(full, minor_compat) if minor_compat is not None else full


def driver_api_needed(runtime: Version, supported: Version, matrices: Matrices) -> Version | None:
    """The driver CUDA version a runtime needs when `supported` (cuDriverGetVersion) is too old, else None.

    A newer major always needs a newer driver. Within a major, a newer minor runs on an older driver
    only through minor-version compatibility, which cuda_drivers.toml lists from CUDA 11 on: a CUDA 9.2
    runtime does not start on a 390 driver, whose CUDA is 9.1.
    """
    if runtime.major > supported.major:
        return Version(f"{runtime.major}.0")
    if runtime.major < supported.major or runtime.release[:2] <= supported.release[:2]:
        return None
    if any(c.major == runtime.major for c in matrices.minor_compat):
        return None
    return Version(f"{runtime.major}.{runtime.minor}")
