"""The parts of a host description, as parsed and checked (`gpuconform.probes.described` says the format)."""

from __future__ import annotations

import dataclasses
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

from packaging.version import InvalidVersion
from packaging.version import Version

from gpuconform.expect.matrix import Matrices
from gpuconform.expect.tables.sonames import LIBRARY_NAMES
from gpuconform.expect.tables.sonames import SonameTable
from gpuconform.expect.tables.sonames import load_sonames
from gpuconform.expect.tables.tensorrt import TENSORRT_LIBRARIES
from gpuconform.facts import serde
from gpuconform.facts.errors import DataError
from gpuconform.facts.errors import did_you_mean
from gpuconform.facts.errors import join_choices
from gpuconform.facts.tomlio import read_toml
from gpuconform.facts.versions import parse_cc
from gpuconform.facts.versions import parse_date
from gpuconform.facts.versions import parse_driver_version

ORIGINS: tuple[str, ...] = ("pip", "LD_LIBRARY_PATH", "conda", "ldcache", "system", "cuda_home", "compat", "wsl")
ORIGINS += ("windows_path", "runpath")
CONTAINERS = ("", "docker", "podman", "kubernetes", "lxc", "apptainer", "enroot", "containerd")
ENGINES = ("docker", "containerd")
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
#: A [[library]] name that stands for TensorRT's libraries (TENSORRT_LIBRARIES), each of its version.
TENSORRT = "tensorrt"
#: Every name a [[library]] may have.
LIBRARY_CHOICES = (*LIBRARY_NAMES, *TENSORRT_LIBRARIES, TENSORRT)
#: Where TensorRT's pip wheels put libnvinfer (nvidia-tensorrt, tensorrt <= 8.5; TF's RUNPATH lists it).
TENSORRT_PIP_DIR = "/usr/lib/python3/site-packages/tensorrt"
#: The framework-layer experiments a described TensorFlow answers (its experiments module "framework").
FRAMEWORK_MODULE = "framework"
FRAMEWORK_ENV = (("TF_CPP_MAX_VLOG_LEVEL", "1"), ("TF_CPP_MIN_LOG_LEVEL", "0"))
#: How opening a node its device cgroup does not allow fails (EPERM), as a described host records it.
DENIED = "Operation not permitted (the device cgroup does not allow it)"
#: The value of a version key (driver.version, driver.cuda, library[].version) the source does not state: it
#: expands to Facts that record it as not stated (gpuconform.facts.base.NOT_STATED), never to a stand-in value.
NOT_STATED_VALUE = "not stated"


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

    def reported_cuda(self, matrices: Matrices) -> Version | None:
        """The CUDA the driver reports (NVML, libcuda): `cuda`, else the user-space driver's branch row; None where
        neither is stated."""
        version = self.user_space_version or self.version
        if self.cuda == NOT_STATED_VALUE or (not self.cuda and version == NOT_STATED_VALUE):
            return None
        return Version(self.cuda) if self.cuda else matrices.max_cuda_for_driver(version)


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
    cuda: str = ""
    installed_by: str = ""


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
class EnginePart:
    name: str  # one of ENGINES
    default_runtime: str = ""  # "": the config sets none (the engine's own default, runc)
    runtimes: tuple[str, ...] = ()
    readable: bool = True


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
    engine: tuple[EnginePart, ...] | None = None  # absent: not recorded; []: no engine config found

    def libraries(self, table: SonameTable) -> tuple[LibraryPart, ...]:
        """The [[library]] entries (a "tensorrt" one as each of TensorRT's libraries), then one per library of
        each [[toolkit]] (DLLs on native Windows)."""
        expanded = []
        for lib in self.library:
            if lib.name != TENSORRT:
                expanded.append(lib)
                continue
            for name in TENSORRT_LIBRARIES:
                soname = f"lib{name}.so.{Version(lib.version).major}"
                path = f"{posixpath.dirname(lib.path)}/{soname}" if lib.path else ""
                expanded.append(dataclasses.replace(lib, name=name, path=path, soname=""))
        for kit in self.toolkit:
            row = table.row_for(Version(kit.version))
            for name, soname in row.file_names(self.host.system) if row is not None else ():
                if name == "nccl":
                    continue  # NCCL is not part of a CUDA toolkit
                directory = kit.directory or typical_dir(kit.origin, name, kit.version)
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
    for i, engine in enumerate(d.engine or ()):
        _choice(source, f"engine[{i}].name", engine.name, ENGINES)
    for i, kit in enumerate(d.toolkit):
        _choice(source, f"toolkit[{i}].origin", kit.origin, ORIGINS)
        _version(source, f"toolkit[{i}].version", kit.version)
        if load_sonames().row_for(Version(kit.version)) is None:
            raise DataError(source, f"toolkit[{i}].version", f"sonames.toml has no row for CUDA {kit.version}")
    for i, lib in enumerate(d.library):
        _choice(source, f"library[{i}].name", lib.name, LIBRARY_CHOICES)
        _choice(source, f"library[{i}].origin", lib.origin, ORIGINS)
        if lib.version != NOT_STATED_VALUE:
            _version(source, f"library[{i}].version", lib.version)
        elif lib.name != "cuda" and not lib.soname:
            problem = f"{lib.name}'s version is {NOT_STATED_VALUE!r}, so its file name cannot be derived from it"
            raise DataError(source, f"library[{i}].soname", problem, "the file name, e.g. 'libcudnn.so.8'")
        if lib.driver_build:
            _driver(source, f"library[{i}].driver_build", lib.driver_build)
    if d.driver.cuda and d.driver.cuda != NOT_STATED_VALUE:
        _version(source, "driver.cuda", d.driver.cuda)
    if d.driver.version and d.driver.version != NOT_STATED_VALUE:
        accepted = f"a driver version like '550.54.15', or {NOT_STATED_VALUE!r}"
        _driver(source, "driver.version", d.driver.version, accepted)
    if d.driver.user_space_version:
        _driver(source, "driver.user_space_version", d.driver.user_space_version)
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
        if d.tensorflow.cuda:
            _version(source, "tensorflow.cuda", d.tensorflow.cuda)
        if d.tensorflow.installed_by:
            try:
                parse_date(d.tensorflow.installed_by)
            except ValueError:
                problem = f"{d.tensorflow.installed_by!r} is not a date"
                raise DataError(source, "tensorflow.installed_by", problem, "e.g. '2022-03-14'") from None
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


def _driver(source: str, key: str, text: str, accepted: str | None = None) -> None:
    try:
        parse_driver_version(text)
    except ValueError as exc:
        raise DataError(source, key, str(exc), accepted) from None


def description_keys() -> dict[str, tuple[str, ...]]:
    """Every table of a description and its keys (for documentation and did-you-mean)."""
    parts = {"host": HostPart, "gpu": GpuPart, "driver": DriverPart, "tensorflow": TensorflowPart}
    parts |= {"tensorflow.observed": ObservedPart, "library": LibraryPart, "toolkit": ToolkitPart}
    parts |= {"toolchain": ToolchainPart, "install": InstallPart, "engine": EnginePart}
    return {name: tuple(f.name for f in dataclasses.fields(cls)) for name, cls in parts.items()}


def typical_dir(origin: str, name: str, version: str) -> str:
    if origin == "pip" and name in TENSORRT_LIBRARIES:
        return TENSORRT_PIP_DIR
    return TYPICAL_DIRS[origin].format(name=name.lower(), version=version)
