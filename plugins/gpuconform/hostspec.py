"""A compact host description (TOML) that expands to a whole Facts tree.

Writing a Facts file by hand takes hundreds of lines; a real bug report says a dozen things:
the GPU, the driver, which libraries are where in which versions, which TensorFlow, what
TensorFlow printed. This is that dozen, and `expand` fills in the rest the way the probes
would have recorded it (PCI ids and compute capability from gpus.toml, the CUDA a driver
reports from the branch table, the sonames TensorFlow asks for from sonames.toml), so that the
suite judges a described host exactly as a probed one. `gpuconform facts from-spec host.toml`
writes the Facts; the corpus of real broken hosts (tests/corpus) is written in this form.

Every key, with its default::

    [host]
    name = "described-host"      # the hostname in the reports
    system = "Linux"             # platform.system(): "Linux", "Windows", "Darwin"
    distro = "Ubuntu 22.04"      # PRETTY_NAME
    kernel = "unknown"           # uname -r
    machine = "x86_64"
    python = "3.11.7"
    libc = "2.35"                # glibc version; "" for none (musl, Windows)
    container = ""               # docker, podman, kubernetes, lxc, apptainer, enroot; "" for none
    container_runtime_error = "" # what nvidia-container-cli said when it refused the GPUs
    wsl = false
    wsl_version = 0              # 1 or 2 where known (WSL 1 has no GPU); 0: not recorded
    environment = { LD_LIBRARY_PATH = "/usr/local/cuda/lib64" }
    cpu_model = ""               # /proc/cpuinfo "model name"
    cpu_flags = ["avx", "avx2"]  # the instruction-set flags present (avx, avx2, avx512f, fma, sse4_1, sse4_2);
                                 # absent: not recorded

    [[gpu]]                      # zero or more
    model = "rtx3090"            # a key of matrices/gpus.toml (name, PCI id, CC, memory come from it)
    count = 1
    name = ""                    # the NVML name, when the model's is not the one to use
    compute_capability = ""      # "8.6", when there is no model
    memory_mib = 0
    pci_device_id = 0
    bound_driver = "nvidia"      # "nouveau", "vfio-pci", "" (unbound)
    in_nvml = true               # false: on the bus, but NVML does not list it

    [driver]
    version = "460.32.03"        # the kernel module's; "" for none installed
    loaded = true                # false: no nvidia module, no /proc/driver/nvidia/version
    user_space_version = ""      # libnvidia-ml's, when an upgrade left it apart from the module
    nouveau = false              # nouveau in /proc/modules
    nvml_error = ""              # an NVML return code of nvmlInit ("DRIVER_NOT_LOADED")
    cuda = ""                    # the CUDA the driver reports ("12.4"); default: the branch's
    device_nodes = [...]         # names under /dev; default: nvidiactl, nvidia-uvm, nvidia0.. when loaded
    device_nodes_denied = []     # of those, the ones that exist but cannot be opened (the device cgroup)
    kernel_log = ["NVRM: Xid (PCI:0000:01:00): 79, pid=1, GPU has fallen off the bus."]
                                 # absent: not recorded; [] : read, and nothing about the driver in it
    kernel_log_readable = true   # false: the log could not be read (recorded as such)
    secure_boot = true           # UEFI Secure Boot on / off; absent: not recorded
    modprobe_error = ""          # what loading the module said ("modprobe: ERROR: ... Key was rejected ...")

    [tensorflow]                 # absent: no TensorFlow installed
    distribution = "tensorflow"  # tensorflow, tensorflow-gpu, tensorflow-cpu, tf-nightly, ...
    version = "2.3.0"
    others = ["tensorflow-gpu 2.3.0"]   # other TF distributions installed beside it
    keras = ""                   # the keras distribution's version, if installed
    cuda_build = true            # what the package's own build info says (is_built_with_cuda()); absent:
                                 # what the distribution's name and era say (tf_platforms.toml)

    [tensorflow.observed]        # what TensorFlow itself said; absent: not recorded
    gpus = 0                     # how many GPUs list_physical_devices('GPU') returned
    log = ["Could not load dynamic library 'libcudnn.so.8'; dlerror: ..."]
    import_error = ""            # "ImportError: libcudart.so.10.1: cannot open shared object file"
    cuda = ""                    # get_build_info()'s cuda_version
    cudnn = ""                   # get_build_info()'s cudnn_version
    compute_capabilities = []    # get_build_info()'s, "sm_35", "compute_80"

    [[library]]                  # zero or more: one file a search would reach
    name = "cudnn"               # cudart, cublas, cublasLt, cufft, curand, cusolver, cusparse, cudnn, nccl, cuda
    version = "8.0.5"            # what the library reports ("10.1", "8.0.5"; libcuda: its CUDA, "12.4")
    origin = "cuda_home"         # pip, LD_LIBRARY_PATH, conda, ldcache, system, cuda_home, compat, wsl, windows_path
    path = ""                    # default: a typical path for the origin and soname
    soname = ""                  # default: from the name and version (libcudnn.so.8; cudnn64_8.dll on Windows)
    loads = true                 # false: dlopen fails (load_error says why)
    load_error = ""
    cuda = ""                    # the CUDA a cuDNN was built for ("11.0")
    driver_build = ""            # libcuda: the driver release of this copy ("470.57.02")
                                 # A copy is also reached every other way the probe would record: its directory
                                 # on host.environment's LD_LIBRARY_PATH, CONDA_PREFIX/lib, /usr/local/cuda/lib64;
                                 # a cuda-compat or /usr/lib/wsl directory is marked compat / wsl. On native
                                 # Windows (host.system) names are the DLLs TF loads, and a loaded driver brings
                                 # C:/Windows/System32/nvcuda.dll unless a [[library]] cuda is given.

    [[toolkit]]                  # zero or more: a whole CUDA toolkit's libraries in one directory
    version = "10.1"             # the CUDA version; each library gets the soname TF asks for of it
    origin = "cuda_home"         # as for [[library]]
    directory = ""               # default: the origin's typical directory

    [toolchain]                  # absent: not recorded; each key likewise
    ptxas = "11.0.194"           # "" for none found
    nvcc = ""
    libdevice = ""               # the libdevice.10.bc XLA would find; "" for none

    [install]                    # an install of TensorFlow that did not complete; absent: none known
    requested = "tensorflow[and-cuda]==2.14.0"   # what was asked for
    installer = "pip"            # pip, conda, poetry, uv, ...
    log = ["ERROR: No matching distribution found for tensorrt==8.5.3.1"]   # what the installer said
"""

from __future__ import annotations

import dataclasses
import datetime
import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

from packaging.version import InvalidVersion
from packaging.version import Version

from gpuconform import serde
from gpuconform.errors import DataError
from gpuconform.errors import did_you_mean
from gpuconform.errors import join_choices
from gpuconform.facts import DeviceNode
from gpuconform.facts import DriverFacts
from gpuconform.facts import Facts
from gpuconform.facts import FailedInstall
from gpuconform.facts import GpuFacts
from gpuconform.facts import HostIdentity
from gpuconform.facts import KernelLog
from gpuconform.facts import KernelModule
from gpuconform.facts import LibrariesFacts
from gpuconform.facts import LibraryCandidate
from gpuconform.facts import LibraryFacts
from gpuconform.facts import LibraryLoad
from gpuconform.facts import NvmlFacts
from gpuconform.facts import ObservedBatch
from gpuconform.facts import ObservedResult
from gpuconform.facts import PackageInfo
from gpuconform.facts import PackagesFacts
from gpuconform.facts import PciDevice
from gpuconform.facts import PlatformFacts
from gpuconform.facts import ProbeError
from gpuconform.facts import ToolchainFacts
from gpuconform.facts import ToolVersion
from gpuconform.kernellog import parse_xids
from gpuconform.matrix import Matrices
from gpuconform.probes.libraries import origin_markers
from gpuconform.probes.sonames import WINDOWS
from gpuconform.probes.sonames import SonameTable
from gpuconform.probes.sonames import load_sonames
from gpuconform.text import clean
from gpuconform.tomlio import read_toml
from gpuconform.versions import encode_cuda_int
from gpuconform.versions import parse_cc
from gpuconform.versions import parse_driver_version

ORIGINS: tuple[str, ...] = ("pip", "LD_LIBRARY_PATH", "conda", "ldcache", "system", "cuda_home", "compat", "wsl")
ORIGINS += ("windows_path", "runpath")
LIBRARY_NAMES = ("cuda", "cudart", "cublas", "cublasLt", "cufft", "curand", "cusolver", "cusparse", "cudnn", "nccl")
CONTAINERS = ("", "docker", "podman", "kubernetes", "lxc", "apptainer", "enroot", "containerd")
#: Where each origin keeps its libraries on a typical host, for a library described without a path.
TYPICAL_DIRS = {
    "pip": "/usr/lib/python3/site-packages/nvidia/{name}/lib",
    "LD_LIBRARY_PATH": "/opt/cuda-libs",
    "conda": "/opt/conda/lib",
    "ldcache": "/usr/lib/x86_64-linux-gnu",
    "system": "/usr/lib/x86_64-linux-gnu",
    "cuda_home": "/usr/local/cuda/lib64",
    "compat": "/usr/local/cuda/compat",
    "wsl": "/usr/lib/wsl/lib",
    "windows_path": "C:/Program Files/NVIDIA GPU Computing Toolkit/CUDA/v{version}/bin",
    "runpath": "/usr/lib/python3/site-packages/tensorflow/../nvidia/{name}/lib",
}
#: The framework-layer experiments a described TensorFlow answers (gpuconform.experiments.framework).
FRAMEWORK_MODULE = "gpuconform.experiments.framework"
FRAMEWORK_ENV = (("TF_CPP_MAX_VLOG_LEVEL", "1"), ("TF_CPP_MIN_LOG_LEVEL", "0"))
#: How opening a node its device cgroup does not allow fails (EPERM), as a described host records it.
DENIED = "Operation not permitted (the device cgroup does not allow it)"


@dataclass(frozen=True)
class HostPart:
    name: str = "described-host"
    system: str = "Linux"
    distro: str = ""
    kernel: str = "unknown"
    machine: str = "x86_64"
    python: str = "3.11.7"
    libc: str = "2.35"
    container: str = ""
    container_runtime_error: str = ""
    wsl: bool = False
    wsl_version: int = 0
    environment: dict[str, str] = field(default_factory=dict)
    cpu_model: str = ""
    cpu_flags: tuple[str, ...] | None = None


@dataclass(frozen=True)
class GpuPart:
    model: str = ""
    count: int = 1
    name: str = ""
    compute_capability: str = ""
    memory_mib: int = 0
    pci_device_id: int = 0
    bound_driver: str = "nvidia"
    in_nvml: bool = True


@dataclass(frozen=True)
class DriverPart:
    version: str = ""
    loaded: bool = True
    user_space_version: str = ""
    nouveau: bool = False
    nvml_error: str = ""
    cuda: str = ""
    device_nodes: tuple[str, ...] | None = None
    kernel_log: tuple[str, ...] | None = None
    kernel_log_readable: bool = True
    device_nodes_denied: tuple[str, ...] = ()
    secure_boot: bool | None = None
    modprobe_error: str = ""


@dataclass(frozen=True)
class ObservedPart:
    gpus: int | None = None
    log: tuple[str, ...] = ()
    import_error: str = ""
    cuda: str = ""
    cudnn: str = ""
    compute_capabilities: tuple[str, ...] = ()


@dataclass(frozen=True)
class TensorflowPart:
    version: str
    distribution: str = "tensorflow"
    others: tuple[str, ...] = ()
    keras: str = ""
    observed: ObservedPart | None = None
    cuda_build: bool | None = None


@dataclass(frozen=True)
class LibraryPart:
    name: str
    version: str
    origin: str = "system"
    path: str = ""
    soname: str = ""
    loads: bool = True
    load_error: str = ""
    cuda: str = ""
    driver_build: str = ""


@dataclass(frozen=True)
class ToolkitPart:
    version: str
    origin: str = "cuda_home"
    directory: str = ""


@dataclass(frozen=True)
class ToolchainPart:
    ptxas: str | None = None
    nvcc: str | None = None
    libdevice: str | None = None


@dataclass(frozen=True)
class InstallPart:
    requested: str
    installer: str = "pip"
    log: tuple[str, ...] = ()


@dataclass(frozen=True)
class HostDescription:
    """A parsed host description; `expand` turns it into Facts."""

    host: HostPart = field(default_factory=HostPart)
    gpu: tuple[GpuPart, ...] = ()
    driver: DriverPart = field(default_factory=DriverPart)
    tensorflow: TensorflowPart | None = None
    library: tuple[LibraryPart, ...] = ()
    toolkit: tuple[ToolkitPart, ...] = ()
    toolchain: ToolchainPart | None = None
    install: InstallPart | None = None

    def libraries(self, table: SonameTable) -> tuple[LibraryPart, ...]:
        """The [[library]] entries, then one per library of each [[toolkit]] (DLLs on native Windows)."""
        expanded = list(self.library)
        for kit in self.toolkit:
            row = table.row_for(Version(kit.version))
            for name, soname in row.file_names(self.host.system) if row is not None else ():
                if name == "nccl":
                    continue  # NCCL is not part of a CUDA toolkit
                directory = kit.directory or _typical_dir(kit.origin, name, kit.version)
                expanded.append(LibraryPart(name, kit.version, kit.origin, f"{directory}/{soname}", soname))
        return tuple(expanded)


def load_description(path: Path, data: Mapping[str, object] | None = None) -> HostDescription:
    """Parse and check a description file (or its already-parsed `data`); problems raise DataError."""
    raw = read_toml(path) if data is None else data
    description = serde.load(HostDescription, raw, str(path))
    _check(description, str(path))
    return description


def _check(d: HostDescription, source: str) -> None:
    _choice(source, "host.container", d.host.container, CONTAINERS)
    if d.host.wsl_version not in (0, 1, 2):
        raise DataError(source, "host.wsl_version", f"{d.host.wsl_version} is not a WSL version", "1, 2 or 0 (unknown)")
    for j, name in enumerate(d.driver.device_nodes_denied):
        if d.driver.device_nodes is not None and name not in d.driver.device_nodes:
            problem = f"{name!r} is not among driver.device_nodes: a denied node exists"
            raise DataError(source, f"driver.device_nodes_denied[{j}]", problem)
    for i, kit in enumerate(d.toolkit):
        _choice(source, f"toolkit[{i}].origin", kit.origin, ORIGINS)
        _version(source, f"toolkit[{i}].version", kit.version)
        if load_sonames().row_for(Version(kit.version)) is None:
            raise DataError(source, f"toolkit[{i}].version", f"sonames.toml has no row for CUDA {kit.version}")
    for i, lib in enumerate(d.library):
        _choice(source, f"library[{i}].name", lib.name, LIBRARY_NAMES)
        _choice(source, f"library[{i}].origin", lib.origin, ORIGINS)
        _version(source, f"library[{i}].version", lib.version)
        if lib.driver_build:
            _driver(source, f"library[{i}].driver_build", lib.driver_build)
    for key, text in (("driver.version", d.driver.version), ("driver.user_space_version", d.driver.user_space_version)):
        if text:
            _driver(source, key, text)
    for i, gpu in enumerate(d.gpu):
        if not 0 <= gpu.count <= 64:
            raise DataError(source, f"gpu[{i}].count", f"{gpu.count} is out of range", "0 to 64")
        if gpu.compute_capability:
            try:
                parse_cc(gpu.compute_capability)
            except ValueError as exc:
                raise DataError(source, f"gpu[{i}].compute_capability", str(exc)) from None
    if d.tensorflow is not None:
        _version(source, "tensorflow.version", d.tensorflow.version)
        for j, other in enumerate(d.tensorflow.others):
            name, _, version = other.partition(" ")
            if not name or not version:
                raise DataError(source, f"tensorflow.others[{j}]", f"{other!r} is not '<distribution> <version>'")
            _version(source, f"tensorflow.others[{j}]", version)


def _choice(source: str, key: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        problem = f"{value!r} is not one of them{did_you_mean(value, choices)}"
        raise DataError(source, key, problem, join_choices(choices))


def _version(source: str, key: str, text: str) -> None:
    try:
        Version(text)
    except InvalidVersion:
        raise DataError(source, key, f"{text!r} is not a version", "e.g. '8.0.5'") from None


def _driver(source: str, key: str, text: str) -> None:
    try:
        parse_driver_version(text)
    except ValueError as exc:
        raise DataError(source, key, str(exc)) from None


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
    )


def _packages(d: HostDescription) -> PackagesFacts:
    tf = d.tensorflow
    failed = d.install
    install = (
        FailedInstall(clean(failed.requested), failed.installer, tuple(clean(line) for line in failed.log))
        if failed is not None
        else None
    )
    if tf is None:
        return PackagesFacts(failed_install=install)
    first = PackageInfo(tf.distribution, tf.version, "/usr/lib/python3/site-packages")
    others = tuple(PackageInfo(o.partition(" ")[0], o.partition(" ")[2], first.location) for o in tf.others)
    return PackagesFacts(
        tensorflow=first,
        keras=PackageInfo("keras", tf.keras, first.location) if tf.keras else None,
        tensorflow_distributions=(first, *others),
        tensorflow_is_cuda_build=tf.cuda_build,
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
    return DriverFacts(
        pci_devices=pci,
        proc_version_text=(
            f"NVRM version: NVIDIA UNIX x86_64 Kernel Module  {drv.version}  (described)\n" if loaded else None
        ),
        kernel_module_version=drv.version if loaded else None,
        modules=tuple(modules),
        device_nodes=device_nodes,
        nvml=_nvml(drv, matrices, gpus, loaded),
        kernel_log=_kernel_log(drv),
        secure_boot=drv.secure_boot,
        module_load_error=clean(drv.modprobe_error) or None,
    )


def _nvml(drv: DriverPart, matrices: Matrices, gpus: list[_Gpu], loaded: bool) -> NvmlFacts:
    error = drv.nvml_error or ("" if loaded else "DRIVER_NOT_LOADED")
    if not error and drv.user_space_version and drv.user_space_version != drv.version:
        error = "LIB_RM_VERSION_MISMATCH"
    if error:
        name = "NVMLError_" + "".join(p.capitalize() for p in error.split("_"))
        return NvmlFacts(init_error=ProbeError("nvml", name, f"nvmlInit failed: {name} (described)"))
    version = drv.user_space_version or drv.version
    cuda = Version(drv.cuda) if drv.cuda else matrices.max_cuda_for_driver(version)
    listed = [g for g in gpus if g.in_nvml]
    return NvmlFacts(
        library_path="/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1",
        driver_version=version,
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
    )


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
        release = matrices.tf_release(tf.version).release
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
    cuda = Version(drv.cuda) if drv.cuda else matrices.max_cuda_for_driver(drv.version)
    if cuda is None:
        return ()
    path = "C:/Windows/System32/nvcuda.dll"
    return (LibraryPart("cuda", str(cuda), "windows_path", path, "nvcuda.dll", driver_build=drv.version),)


def _typical_dir(origin: str, name: str, version: str) -> str:
    return TYPICAL_DIRS[origin].format(name=name.lower(), version=version)


def _soname(lib: LibraryPart, table: SonameTable, system: str = "Linux") -> str:
    if lib.soname:
        return lib.soname
    if lib.name == table.driver.name:
        return table.driver_for(system).soname
    version = Version(lib.version)
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
    return f"{_typical_dir(lib.origin, lib.name, lib.version)}/{_soname(lib, table, system)}"


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


def description_keys() -> dict[str, tuple[str, ...]]:
    """Every table of a description and its keys (for documentation and did-you-mean)."""
    parts = {"host": HostPart, "gpu": GpuPart, "driver": DriverPart, "tensorflow": TensorflowPart}
    parts |= {"tensorflow.observed": ObservedPart, "library": LibraryPart, "toolkit": ToolkitPart}
    parts |= {"toolchain": ToolchainPart, "install": InstallPart}
    return {name: tuple(f.name for f in dataclasses.fields(cls)) for name, cls in parts.items()}
