"""A host description expanded into the Facts a probe would have recorded on that host."""

from __future__ import annotations

import datetime
import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from packaging.version import Version

from gpuconform.expect.matrix import Matrices
from gpuconform.expect.tables.sonames import WINDOWS
from gpuconform.expect.tables.sonames import SonameTable
from gpuconform.expect.tables.sonames import load_sonames
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
from gpuconform.facts.model import LibrariesFacts
from gpuconform.facts.model import LibraryCandidate
from gpuconform.facts.model import LibraryFacts
from gpuconform.facts.model import LibraryLoad
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
from gpuconform.probes.described.spec import DENIED
from gpuconform.probes.described.spec import FRAMEWORK_ENV
from gpuconform.probes.described.spec import FRAMEWORK_MODULE
from gpuconform.probes.described.spec import NOT_STATED_VALUE
from gpuconform.probes.described.spec import ORIGINS
from gpuconform.probes.described.spec import DriverPart
from gpuconform.probes.described.spec import HostDescription
from gpuconform.probes.described.spec import LibraryPart
from gpuconform.probes.described.spec import TensorflowPart
from gpuconform.probes.described.spec import ToolchainPart
from gpuconform.probes.described.spec import typical_dir
from gpuconform.probes.engines import ENGINE_CONFIGS
from gpuconform.probes.kernellog import parse_xids
from gpuconform.probes.libsearch import origin_markers

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
        libraries=_libraries(d, matrices),
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
        failed_install=install,
    )


def _is_cuda_build(tf: TensorflowPart, matrices: Matrices) -> bool:
    """What get_build_info() would say: the description's cuda_build, else the distribution's era and name."""
    if tf.cuda_build is not None:
        return tf.cuda_build
    by_era = matrices.rules.tf_platforms.is_cuda_build(tf.distribution, tf.version)
    return by_era if by_era is not None else not tf.distribution.endswith("-cpu")


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
    cuda = _driver_cuda(drv, version, matrices)
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


def _driver_cuda(drv: DriverPart, version: str, matrices: Matrices) -> Version | None:
    """The CUDA the driver reports: the description's, else its branch's row; None when neither is stated."""
    if drv.cuda == NOT_STATED_VALUE:
        return None
    if drv.cuda:
        return Version(drv.cuda)
    return matrices.max_cuda_for_driver(version) if version != NOT_STATED_VALUE else None


def _kernel_log(drv: DriverPart) -> KernelLog:
    if not drv.kernel_log_readable:
        return KernelLog("described", ProbeError("kernel_log", "unreadable", "the kernel log could not be read"))
    if drv.kernel_log is None:
        return KernelLog()  # not recorded: no check takes silence for a clean log
    lines = tuple(clean(line) for line in drv.kernel_log)
    return KernelLog("described", None, lines, parse_xids(lines))


def _libraries(d: HostDescription, matrices: Matrices) -> LibrariesFacts:
    table = load_sonames()
    tf = d.tensorflow
    cuda = cudnn_major = None
    basis = "no TensorFlow installed: the sonames of the newest CUDA and cuDNN families"
    if tf is not None and _is_cuda_build(tf, matrices):
        release = matrices.tf_build(tf.version, tf.cuda or None, tf.distribution).release
        if release is not None:
            cuda, cudnn_major = release.cuda, release.cudnn_major
            basis = f"{tf.distribution} {tf.version} (built with CUDA {cuda}, cuDNN {cudnn_major})"
    system = d.host.system
    wanted = table.wanted(cuda or table.default_cuda, cudnn_major or table.default_cudnn_major, system) or ()
    parts = d.libraries(table) + _windows_driver(d, matrices)
    files = [(lib, _soname(lib, table, system), _path(lib, table, system)) for lib in parts]
    env = d.host.environment
    libraries = []
    for want in wanted:
        mine = [(lib, path) for lib, soname, path in files if lib.name == want.name and soname == want.soname]
        others = [(lib, path) for lib, soname, path in files if lib.name == want.name and soname != want.soname]
        libraries.append(
            LibraryFacts(
                name=want.name,
                soname=want.soname,
                required=want.required,
                candidates=tuple(_candidate(lib, path, env) for lib, path in mine),
                loads=tuple(_load(lib, path) for lib, path in mine),
                other_candidates=tuple(_candidate(lib, path, env) for lib, path in others),
                other_loads=tuple(_load(lib, path) for lib, path in others),
            )
        )
    search = tuple(dict.fromkeys(str(Path(path).parent) for _, _, path in files))
    return LibrariesFacts(basis=basis, libraries=tuple(libraries), search_path=search)


def _windows_driver(d: HostDescription, matrices: Matrices) -> tuple[LibraryPart, ...]:
    """On native Windows, the display driver's nvcuda.dll in System32 (always on the DLL search path), unless the
    description lists the driver library itself: every installed Windows driver ships it."""
    drv = d.driver
    if d.host.system != WINDOWS or not drv.version or not drv.loaded or any(lib.name == "cuda" for lib in d.library):
        return ()
    cuda = _driver_cuda(drv, drv.version, matrices)
    stated = drv.version != NOT_STATED_VALUE
    if cuda is None and stated and drv.cuda != NOT_STATED_VALUE:
        return ()
    path, build = "C:/Windows/System32/nvcuda.dll", drv.version if stated else ""
    version = str(cuda) if cuda is not None else NOT_STATED_VALUE
    return (LibraryPart("cuda", version, "windows_path", path, "nvcuda.dll", driver_build=build),)


def _soname(lib: LibraryPart, table: SonameTable, system: str = "Linux") -> str:
    if lib.soname:
        return lib.soname
    if lib.name == table.driver.name:
        return table.driver_for(system).soname
    version = Version(lib.version)  # a version not stated comes with its soname (spec._check)
    if lib.name == table.cudnn_name:
        return table.cudnn_file(version.major, system)
    row = table.row_for(Version(lib.cuda) if lib.cuda else version)
    named = dict(row.file_names(system)).get(lib.name) if row is not None else None
    if named is not None:
        return named
    return f"{lib.name}64_{version.major}.dll" if system == WINDOWS else f"lib{lib.name}.so.{version.major}"


def _path(lib: LibraryPart, table: SonameTable, system: str = "Linux") -> str:
    if lib.path:
        return lib.path
    version = lib.version if lib.version != NOT_STATED_VALUE else ""
    return f"{typical_dir(lib.origin, lib.name, version)}/{_soname(lib, table, system)}"


#: The probe's search order of the origins it records (gpuconform.probes.libraries), markers after.
_SEARCH_ORDER = ("pip", "LD_LIBRARY_PATH", "conda", "ldcache", "system", "cuda_home")
#: Directories the probe labels cuda_home (/usr/local/cuda/lib64, /usr/local/cuda/lib, targets/*/lib).
_CUDA_HOME = re.compile(r"^/usr/local/cuda/(lib64|lib|targets/[^/]+/lib)$")


def _candidate(lib: LibraryPart, path: str, env: Mapping[str, str]) -> LibraryCandidate:
    """The candidate the probe would record: every origin that reaches its directory, as the probe orders them
    (a described origin, LD_LIBRARY_PATH and CONDA_PREFIX/lib of the environment, /usr/local/cuda), then the
    compat / wsl markers of its directory."""
    build = lib.driver_build or None
    real = f"{path.rsplit('.so.', 1)[0]}.so.{build}" if build and lib.name == "cuda" and ".so." in path else path
    directory = posixpath.normpath(posixpath.dirname(path))
    reached = {lib.origin}
    ld_path = [posixpath.normpath(p) for p in env.get("LD_LIBRARY_PATH", "").split(":") if p]
    if directory in ld_path:
        reached.add("LD_LIBRARY_PATH")
    if env.get("CONDA_PREFIX") and directory == posixpath.normpath(posixpath.join(env["CONDA_PREFIX"], "lib")):
        reached.add("conda")
    if _CUDA_HOME.match(directory):
        reached.add("cuda_home")
    origins = [o for o in _SEARCH_ORDER if o in reached]
    origins += [o for o in ORIGINS if o in reached and o not in _SEARCH_ORDER]
    origins += [m for m in origin_markers(path, real) if m not in origins]
    return LibraryCandidate(path=path, origin=origins[0], realpath=real, origins=tuple(origins), driver_build=build)


def _load(lib: LibraryPart, path: str) -> LibraryLoad:
    if not lib.loads:
        reason = lib.load_error or f"{Path(path).name}: cannot open shared object file"
        return LibraryLoad(path=path, loaded=False, error=ProbeError("libraries", "dlopen", reason))
    if lib.version == NOT_STATED_VALUE:  # it loads (the description lists it as loading); its version is unknown
        return LibraryLoad(path=path, loaded=True, error=not_stated("libraries"))
    version = Version(lib.version)
    raw = encode_cuda_int(version) if lib.name in ("cuda", "cudart") else None
    cuda_major = Version(lib.cuda).major if lib.cuda else None
    return LibraryLoad(path=path, loaded=True, version=lib.version, raw_version=raw, cuda_major=cuda_major)


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
        "is_cuda_build": _is_cuda_build(tf, matrices),
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
