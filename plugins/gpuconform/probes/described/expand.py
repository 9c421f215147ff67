"""A host description expanded into the Facts a probe would have recorded on that host."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from gpuconform.expect.matrix import Matrices
from gpuconform.facts.base import ProbeError
from gpuconform.facts.base import not_stated
from gpuconform.facts.errors import DataError
from gpuconform.facts.errors import did_you_mean
from gpuconform.facts.model import DeviceNode
from gpuconform.facts.model import DriverFacts
from gpuconform.facts.model import EngineRuntime
from gpuconform.facts.model import Facts
from gpuconform.facts.model import FailedInstall
from gpuconform.facts.model import GpuFacts
from gpuconform.facts.model import HostIdentity
from gpuconform.facts.model import KernelLog
from gpuconform.facts.model import KernelModule
from gpuconform.facts.model import NvmlFacts
from gpuconform.facts.model import PackageInfo
from gpuconform.facts.model import PackagesFacts
from gpuconform.facts.model import PciDevice
from gpuconform.facts.model import PlatformFacts
from gpuconform.facts.model import ToolchainFacts
from gpuconform.facts.model import ToolVersion
from gpuconform.facts.observed import ObservedBatch
from gpuconform.facts.observed import ObservedResult
from gpuconform.facts.text import clean
from gpuconform.facts.versions import encode_cuda_int
from gpuconform.facts.versions import parse_cc
from gpuconform.probes.described.libraries import is_cuda_build
from gpuconform.probes.described.libraries import libraries_facts
from gpuconform.probes.described.spec import DENIED
from gpuconform.probes.described.spec import FRAMEWORK_ENV
from gpuconform.probes.described.spec import FRAMEWORK_MODULE
from gpuconform.probes.described.spec import NOT_STATED_VALUE
from gpuconform.probes.described.spec import DriverPart
from gpuconform.probes.described.spec import HostDescription
from gpuconform.probes.described.spec import ToolchainPart
from gpuconform.probes.engines import ENGINE_CONFIGS
from gpuconform.probes.kernellog import parse_xids

# ---- expansion --------------------------------------------------------------------------------


def expand(d: HostDescription, matrices: Matrices, collected_at: str | None = None) -> Facts:
    """The Facts a probe would have recorded on the described host."""
    gpus = _gpus(d, matrices)
    return Facts(
        host=HostIdentity(
            hostname=clean(d.host.name),
            collected_at=collected_at or datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            source="described",
        ),
        platform=_platform(d),
        packages=_packages(d),
        driver=_driver_facts(d, matrices, gpus),
        libraries=libraries_facts(d, matrices),
        toolchain=_toolchain(d.toolchain),
        observations=_observations(d, gpus, matrices),
    )


@dataclass(frozen=True)
class _Gpu:
    name: str
    device_id: int
    cc: tuple[int, int] | None
    memory_mib: int | None
    bound: str
    in_nvml: bool


def _gpus(d: HostDescription, matrices: Matrices) -> list[_Gpu]:
    out: list[_Gpu] = []
    keys = [g.key for g in matrices.gpus]
    for i, part in enumerate(d.gpu):
        model = None
        if part.model:
            if part.model not in keys:
                raise DataError(
                    "host description",
                    f"gpu[{i}].model",
                    f"unknown GPU model {part.model!r}{did_you_mean(part.model, keys)}",
                    "a key of matrices/gpus.toml",
                )
            model = matrices.gpu(part.model)
        cc = model.compute_capability if model else None
        cc = parse_cc(part.compute_capability) if part.compute_capability else cc
        name = part.name or (model.name if model else "NVIDIA GPU")
        device_id = part.pci_device_id or (model.pci_device_ids[0] if model and model.pci_device_ids else 0)
        memory = part.memory_mib or (model.memory_mib[0] if model and model.memory_mib else None)
        out += [_Gpu(name, device_id, cc, memory, part.bound_driver, part.in_nvml) for _ in range(part.count)]
    return out


def _platform(d: HostDescription) -> PlatformFacts:
    h = d.host
    return PlatformFacts(
        python_version=h.python,
        python_implementation="CPython",
        system=h.system,
        kernel_release=h.kernel,
        machine=h.machine,
        distro=h.distro or None,
        libc="glibc" if h.libc else None,
        libc_version=h.libc or None,
        container=h.container or None,
        container_evidence=(f"described as {h.container}",) if h.container else (),
        container_runtime_error=h.container_runtime_error or None,
        wsl=h.wsl or bool(h.wsl_version),
        wsl_version=h.wsl_version or None,
        environment=tuple(sorted((k, clean(v)) for k, v in h.environment.items())),
        cpu_model=clean(h.cpu_model) or None,
        cpu_flags=tuple(f.lower() for f in h.cpu_flags) if h.cpu_flags is not None else None,
        engine_runtimes=_engines(d),
    )


def _engines(d: HostDescription) -> tuple[EngineRuntime, ...] | None:
    """Each described engine config as the probe records it (gpuconform.probes.engines)."""
    if d.engine is None:
        return None
    unreadable, files = ProbeError("engines", "unreadable", "the file could not be read (described)"), ENGINE_CONFIGS
    return tuple(
        EngineRuntime(e.name, f"/{files[e.name]}", e.default_runtime or None, tuple(e.runtimes))
        if e.readable
        else EngineRuntime(e.name, f"/{files[e.name]}", error=unreadable)
        for e in d.engine
    )


def _packages(d: HostDescription) -> PackagesFacts:
    tf = d.tensorflow
    failed = d.install
    log = tuple(clean(line) for line in failed.log) if failed is not None else ()
    install = FailedInstall(clean(failed.requested), failed.installer, log) if failed is not None else None
    if tf is None:
        return PackagesFacts(failed_install=install)
    first = PackageInfo(tf.distribution, tf.version, "/usr/lib/python3/site-packages")
    others = tuple(PackageInfo(o.partition(" ")[0], o.partition(" ")[2], first.location) for o in tf.others)
    return PackagesFacts(
        tensorflow=first,
        keras=PackageInfo("keras", tf.keras, first.location) if tf.keras else None,
        tensorflow_distributions=(first, *others),
        tensorflow_is_cuda_build=tf.cuda_build,
        tensorflow_cuda_version=tf.cuda or None,
        tensorflow_installed_by=tf.installed_by or None,
        failed_install=install,
    )


def _driver_facts(d: HostDescription, matrices: Matrices, gpus: list[_Gpu]) -> DriverFacts:
    drv = d.driver
    loaded = drv.loaded and bool(drv.version)
    pci = tuple(
        PciDevice(
            address=f"0000:{i + 1:02x}:00.0",
            vendor_id=0x10DE,
            device_id=g.device_id,
            class_code=0x030200 if g.name.startswith(("Tesla", "NVIDIA A", "NVIDIA H", "NVIDIA B")) else 0x030000,
            bound_driver=(g.bound or None) if (g.bound != "nvidia" or loaded) else None,
        )
        for i, g in enumerate(gpus)
    )
    modules = [KernelModule(m) for m in ("nvidia", "nvidia_uvm", "nvidia_modeset")] if loaded else []
    if drv.nouveau:
        modules.append(KernelModule("nouveau"))
    nodes = drv.device_nodes
    if nodes is None:
        nodes = ("nvidiactl", "nvidia-uvm", *(f"nvidia{i}" for i in range(len(gpus)))) if loaded else ()
    wanted = ("nvidiactl", "nvidia-uvm", *(f"nvidia{i}" for i in range(len(gpus))))
    denied = set(drv.device_nodes_denied)
    if denied and drv.device_nodes is None:
        nodes = tuple(dict.fromkeys((*nodes, *drv.device_nodes_denied)))  # a denied node exists
    device_nodes = tuple(
        DeviceNode(
            f"/dev/{n}",
            exists=n in nodes,
            is_char_device=n in nodes,
            readable=n in nodes,
            writable=n in nodes,
            open_error=DENIED if n in denied else None,
        )
        for n in dict.fromkeys((*wanted, *nodes))
    )
    stated = drv.version != NOT_STATED_VALUE
    # A version not stated: the module's version file is there, naming none (as the probe records one it cannot read).
    module = drv.version if stated else "(its version not stated)"
    text = f"NVRM version: NVIDIA UNIX x86_64 Kernel Module  {module}  (described)\n"
    return DriverFacts(
        pci_devices=pci,
        proc_version_text=text if loaded else None,
        kernel_module_version=drv.version if loaded and stated else None,
        proc_version_error=not_stated("proc_version") if loaded and not stated else None,
        modules=tuple(modules),
        device_nodes=device_nodes,
        nvml=_nvml(drv, matrices, gpus, loaded),
        kernel_log=_kernel_log(drv),
        secure_boot=drv.secure_boot,
        module_load_error=clean(drv.modprobe_error) or None,
    )


def _nvml(drv: DriverPart, matrices: Matrices, gpus: list[_Gpu], loaded: bool) -> NvmlFacts:
    error = drv.nvml_error or ("" if loaded else "DRIVER_NOT_LOADED")
    if not error and drv.user_space_version and drv.user_space_version != drv.version != NOT_STATED_VALUE:
        error = "LIB_RM_VERSION_MISMATCH"
    if error:
        name = "NVMLError_" + "".join(p.capitalize() for p in error.split("_"))
        return NvmlFacts(init_error=ProbeError("nvml", name, f"nvmlInit failed: {name} (described)"))
    version = drv.user_space_version or drv.version
    errors = []
    if version == NOT_STATED_VALUE:
        errors.append(not_stated("nvml.nvmlSystemGetDriverVersion"))
    cuda = drv.reported_cuda(matrices)
    if cuda is None and (drv.cuda == NOT_STATED_VALUE or version == NOT_STATED_VALUE):
        errors.append(not_stated("nvml.nvmlSystemGetCudaDriverVersion"))
    listed = [g for g in gpus if g.in_nvml]
    return NvmlFacts(
        library_path="/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1",
        driver_version=version if version != NOT_STATED_VALUE else None,
        cuda_driver_version=encode_cuda_int(cuda) if cuda is not None else None,
        device_count=len(listed),
        gpus=tuple(
            GpuFacts(
                index=i,
                name=g.name,
                pci_bus_id=f"00000000:{gpus.index(g) + 1:02X}:00.0",
                pci_device_id=g.device_id,
                minor_number=i,
                compute_capability=g.cc,
                memory_total_mib=g.memory_mib,
                memory_used_mib=0,
            )
            for i, g in enumerate(listed)
        ),
        errors=tuple(errors),
    )


def _kernel_log(drv: DriverPart) -> KernelLog:
    if not drv.kernel_log_readable:
        return KernelLog("described", ProbeError("kernel_log", "unreadable", "the kernel log could not be read"))
    if drv.kernel_log is None:
        return KernelLog()  # not recorded: no check takes silence for a clean log
    lines = tuple(clean(line) for line in drv.kernel_log)
    return KernelLog("described", None, lines, parse_xids(lines))


def _toolchain(part: ToolchainPart | None) -> ToolchainFacts | None:
    if part is None:
        return None
    missing = ProbeError("toolchain", "missing", "no libdevice.10.bc found (described)")
    return ToolchainFacts(
        ptxas=_tool("ptxas", part.ptxas),
        nvcc=_tool("nvcc", part.nvcc),
        libdevice=part.libdevice or None,
        libdevice_error=missing if part.libdevice == "" else None,
    )


def _tool(name: str, version: str | None) -> ToolVersion:
    if version is None:
        return ToolVersion()  # not recorded
    if not version:
        return ToolVersion(error=ProbeError("toolchain", "missing", f"no {name} found (described)"))
    return ToolVersion(f"/usr/local/cuda/bin/{name}", version)


def _observations(d: HostDescription, gpus: list[_Gpu], matrices: Matrices) -> tuple[ObservedBatch, ...]:
    tf = d.tensorflow
    if tf is None or tf.observed is None:
        return ()
    seen = tf.observed
    log = "\n".join(clean(line) for line in seen.log)
    if seen.import_error:
        error_type, _, message = seen.import_error.partition(": ")
        crash = ObservedResult("__import__", ok=False, error_type=error_type, error=message or seen.import_error)
        return (ObservedBatch("tensorflow", FRAMEWORK_MODULE, FRAMEWORK_ENV, (crash,), log, 1),)
    count = len(gpus) if seen.gpus is None else seen.gpus
    listed = [g for g in gpus if g.in_nvml][:count] or gpus[:count]
    tf_gpus = [
        {"name": f"/physical_device:GPU:{i}", "device_name": g.name, "compute_capability": list(g.cc) if g.cc else None}
        for i, g in enumerate(listed)
    ]
    physical = ["/physical_device:CPU:0", *(g["name"] for g in tf_gpus)]
    build_keys = [k for k, v in (("cuda_version", seen.cuda), ("cudnn_version", seen.cudnn)) if v]
    build = {
        "keys": ["is_cuda_build", *build_keys, *(["cuda_compute_capabilities"] if seen.compute_capabilities else [])],
        "is_cuda_build": is_cuda_build(tf, matrices),
        "cuda_version": seen.cuda or None,
        "cudnn_version": seen.cudnn or None,
        "cuda_compute_capabilities": list(seen.compute_capabilities),
    }
    results = (
        ObservedResult("__import__", ok=True, value=tf.version),
        ObservedResult(
            "identity",
            ok=True,
            value={
                "version": tf.version,
                "module_file": "/usr/lib/python3/site-packages/tensorflow/__init__.py",
                "distribution": tf.distribution,
                "distribution_version": tf.version,
            },
        ),
        ObservedResult("build_info", ok=True, value=build),
        ObservedResult("devices", ok=True, value={"physical": physical, "gpus": tf_gpus, **_visible(d)}),
    )
    return (ObservedBatch("tensorflow", FRAMEWORK_MODULE, FRAMEWORK_ENV, results, log, 0),)


def _visible(d: HostDescription) -> dict[str, str]:
    """What a child inherits of the described environment and reports with its device list."""
    env = d.host.environment
    names = (("cuda_visible_devices", "CUDA_VISIBLE_DEVICES"), ("cuda_device_order", "CUDA_DEVICE_ORDER"))
    return {key: clean(env[name]) for key, name in names if name in env}
