"""Host specs: a simulated GPU host, written as TOML and parsed into frozen dataclasses.

A spec says what the driver layer of a host looks like (PCI devices, kernel
modules, /dev nodes, what NVML answers and how it fails) and which CUDA
libraries it has. `rootfs.materialise_root` turns it into a root tree,
`nvml_shim.build_nvml_shim` into a libnvidia-ml.so.1, and `libshims` into the
CUDA user-space libraries. Parsing is strict: an unknown key, a wrong type or
an impossible value is a DataError naming the file and the key, so a typo in a
scenario cannot quietly simulate a different host.

The format, with every key and its default::

    description = "Healthy T4 with TF 2.21 libraries"   # required
    profile = "t4"                 # required: the built-in profile the scenario is run with
    tensorflow = "2.21.0"          # optional: simulated installed TF version
    container = "lxc"              # optional: the marks a runtime leaves inside (docker, podman, lxc,
                                   # kubernetes, apptainer, enroot); absent: bare metal

    [driver]
    version = "550.54.15"          # /proc/driver/nvidia/version and NVML
    cuda_driver_version = 12040    # NVML and libcuda (1000 * major + 10 * minor)
    modules = ["nvidia", "nvidia_uvm", "nvidia_modeset"]   # /proc/modules
    proc_version = true            # false: no /proc/driver/nvidia/version
    open_module = false            # true: open-kernel-module wording in that file
    device_nodes = [...]           # default: derived, see HostSpec.device_node_names
    unreadable_nodes = []          # created with mode 000 (root ignores that: see rootfs)
    kernel_log = ["NVRM: Xid (PCI:0000:00:04): 79, GPU has fallen off the bus."]
                                   # /dev/kmsg as a file of dmesg lines; default: readable and empty
    kernel_log_readable = true     # false: no /dev/kmsg at all
    secure_boot = true             # efivars SecureBoot; absent: no efivars (not UEFI, or hidden)

    [[gpu]]                        # zero or more
    name = "Tesla T4"              # required
    pci_address = "0000:00:04.0"   # required, lower-case sysfs form
    pci_device_id = 0x1eb8         # required
    compute_capability = "7.5"     # required
    memory_mib = 15360             # required
    memory_used_mib = 0
    uuid = "GPU-..."               # default: derived from name and address
    bound_driver = "nvidia"        # "nouveau", "vfio-pci", "" (unbound)
    persistence_mode = false
    ecc = true                     # omit: NVML says NOT_SUPPORTED (GeForce)
    ecc_pending = true             # omit: same as ecc
    retired_pages_pending = false  # omit: false if supported (ECC, CC < 8.0), else NOT_SUPPORTED
    remapped_rows_pending = false  # omit: false if supported (ECC, CC >= 8.0), else NOT_SUPPORTED
    remapped_rows_failure = false
    mig = false                    # omit: NOT_SUPPORTED
    pcie_gen = [3, 3]              # current, max
    pcie_width = [16, 16]          # current, max
    in_nvml = true                 # false: on the PCI bus, but NVML does not enumerate it
    processes = [{ pid = 4242, used_mib = 1024 }]   # compute processes NVML lists on this GPU;
                                   # omit used_mib for NVML_VALUE_NOT_AVAILABLE (WDDM, some containers)

    [nvml]
    init_error = "DRIVER_NOT_LOADED"   # an NVML return-code name for nvmlInit; absent: success
    errors = { nvmlDeviceGetEccMode = "NOT_SUPPORTED" }   # forced return codes, all GPUs
    fault = "segfault"             # "abort", "hang": inside nvmlInit
    garbage = false                # true (all kinds) or a list of "count", "name", "memory"
    missing = false                # true: no libnvidia-ml.so.1 at all

    [[library]]                    # zero or more; built by tests/simhost/libshims.py
    name = "cudnn"
    soname = "libcudnn.so.9"
    version = "9.3.0"              # "+cuda12.5" may follow: the CUDA it was built for
    location = "pip"               # see LIBRARY_LOCATIONS
    fault = "segfault"             # optional, see LIBRARY_FAULTS
    cuda = "12.5"                  # optional: the CUDA a cuDNN was built for
    ld_library_path = false        # true: its directory is on LD_LIBRARY_PATH too (a pip wheel's, exported)
"""

from __future__ import annotations

import dataclasses
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gpuconform.facts.errors import DataError
from gpuconform.facts.errors import did_you_mean
from gpuconform.facts.errors import join_choices
from gpuconform.facts.serde import load
from gpuconform.facts.tomlio import read_toml

SPECS_DIR = Path(__file__).parent / "specs"

#: NVML return codes by name (nvml.h; the same numbers as pynvml's NVML_ERROR_* constants).
NVML_RETURN_CODES: dict[str, int] = {
    "SUCCESS": 0,
    "UNINITIALIZED": 1,
    "INVALID_ARGUMENT": 2,
    "NOT_SUPPORTED": 3,
    "NO_PERMISSION": 4,
    "ALREADY_INITIALIZED": 5,
    "NOT_FOUND": 6,
    "INSUFFICIENT_SIZE": 7,
    "INSUFFICIENT_POWER": 8,
    "DRIVER_NOT_LOADED": 9,
    "TIMEOUT": 10,
    "IRQ_ISSUE": 11,
    "LIBRARY_NOT_FOUND": 12,
    "FUNCTION_NOT_FOUND": 13,
    "CORRUPTED_INFOROM": 14,
    "GPU_IS_LOST": 15,
    "RESET_REQUIRED": 16,
    "OPERATING_SYSTEM": 17,
    "LIB_RM_VERSION_MISMATCH": 18,
    "IN_USE": 19,
    "MEMORY": 20,
    "NO_DATA": 21,
    "VGPU_ECC_NOT_SUPPORTED": 22,
    "INSUFFICIENT_RESOURCES": 23,
    "FREQ_NOT_SUPPORTED": 24,
    "ARGUMENT_VERSION_MISMATCH": 25,
    "DEPRECATED": 26,
    "NOT_READY": 27,
    "GPU_NOT_FOUND": 28,
    "INVALID_STATE": 29,
    "RESET_TYPE_NOT_SUPPORTED": 30,
    "UNKNOWN": 999,
}

#: The NVML functions the shim implements whose return code a spec may force
#: (`[nvml] errors`). Older aliases (nvmlDeviceGetCount, ..._v2) share their entry.
NVML_FUNCTIONS = (
    "nvmlSystemGetDriverVersion",
    "nvmlSystemGetNVMLVersion",
    "nvmlSystemGetCudaDriverVersion",
    "nvmlDeviceGetCount_v2",
    "nvmlDeviceGetHandleByIndex_v2",
    "nvmlDeviceGetName",
    "nvmlDeviceGetUUID",
    "nvmlDeviceGetPciInfo_v3",
    "nvmlDeviceGetMinorNumber",
    "nvmlDeviceGetCudaComputeCapability",
    "nvmlDeviceGetMemoryInfo",
    "nvmlDeviceGetPersistenceMode",
    "nvmlDeviceGetEccMode",
    "nvmlDeviceGetRetiredPagesPendingStatus",
    "nvmlDeviceGetRemappedRows",
    "nvmlDeviceGetMigMode",
    "nvmlDeviceGetCurrPcieLinkGeneration",
    "nvmlDeviceGetMaxPcieLinkGeneration",
    "nvmlDeviceGetCurrPcieLinkWidth",
    "nvmlDeviceGetMaxPcieLinkWidth",
    "nvmlDeviceGetComputeRunningProcesses_v3",
)

NVML_FAULTS = ("segfault", "abort", "hang")
GARBAGE_KINDS = ("count", "name", "memory")
BOUND_DRIVERS = ("nvidia", "nouveau", "vfio-pci", "")
#: Kept in step with tests/simhost/libshims.py, which builds the libraries.
LIBRARY_LOCATIONS = ("pip", "ld_library_path", "conda", "ldcache", "cuda_home", "system", "driver")
LIBRARY_FAULTS = ("segfault", "abort", "hang", "missing_symbol")
PCIE_WIDTHS = (1, 2, 4, 8, 12, 16, 32)
#: Runtimes whose inside marks rootfs.py can write (container_runtimes.toml lists how each is recognised).
CONTAINERS = ("docker", "podman", "lxc", "kubernetes", "apptainer", "enroot")

_PCI_ADDRESS = re.compile(r"[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]")
_DRIVER_VERSION = re.compile(r"\d{2,4}\.\d{1,3}(?:\.\d{1,3})?")
_CC = re.compile(r"(\d{1,2})\.(\d)")
_MODULE = re.compile(r"[a-z0-9_]+")
_NODE = re.compile(r"nvidia(?:ctl|-uvm|-uvm-tools|-modeset|\d{1,3})")
_SONAME = re.compile(r"lib[A-Za-z0-9_+-]+\.so(?:\.\d+)*")
_LIB_VERSION = re.compile(r"\d+(?:\.\d+){0,3}(?:\+cuda\d+\.\d+)?")
_CUDA_VERSION = re.compile(r"\d+\.\d+")
_TF_VERSION = re.compile(r"\d+\.\d+\.\d+(?:(?:rc|a|b|\.dev)\d+)?")
_UUID_NAMESPACE = uuid.UUID("5b0e6c1c-3a8e-4d7e-9f5e-6b1f3c0d2a11")


@dataclass(frozen=True)
class DriverSpec:
    """The kernel side: module, its version file, its device nodes."""

    version: str = "550.54.15"
    cuda_driver_version: int = 12040
    modules: tuple[str, ...] = ("nvidia", "nvidia_uvm", "nvidia_modeset")
    proc_version: bool = True
    open_module: bool = False
    device_nodes: tuple[str, ...] | None = None
    unreadable_nodes: tuple[str, ...] = ()
    kernel_log: tuple[str, ...] = ()
    kernel_log_readable: bool = True
    secure_boot: bool | None = None


@dataclass(frozen=True)
class ProcessSpec:
    """A compute process NVML lists on a GPU (nvmlDeviceGetComputeRunningProcesses)."""

    pid: int
    used_mib: int | None = None  # None: NVML_VALUE_NOT_AVAILABLE


@dataclass(frozen=True)
class GpuSpec:
    """One GPU on the PCI bus, and what NVML says about it."""

    name: str
    pci_address: str
    pci_device_id: int
    compute_capability: str
    memory_mib: int
    memory_used_mib: int = 0
    uuid: str | None = None  # filled in by parsing when omitted
    bound_driver: str = "nvidia"
    persistence_mode: bool = False
    ecc: bool | None = None
    ecc_pending: bool | None = None
    retired_pages_pending: bool | None = None
    remapped_rows_pending: bool | None = None
    remapped_rows_failure: bool = False
    mig: bool | None = None
    pcie_gen: tuple[int, int] = (3, 3)
    pcie_width: tuple[int, int] = (16, 16)
    in_nvml: bool = True
    processes: tuple[ProcessSpec, ...] = ()

    @property
    def cc(self) -> tuple[int, int]:
        major, minor = self.compute_capability.split(".")
        return int(major), int(minor)

    @property
    def nvml_visible(self) -> bool:
        """NVML enumerates only GPUs the nvidia module drives."""
        return self.in_nvml and self.bound_driver == "nvidia"

    @property
    def retired_pages(self) -> bool | None:
        """Pending page retirement, or None for NOT_SUPPORTED (no ECC, or Ampere and later)."""
        if self.retired_pages_pending is not None:
            return self.retired_pages_pending
        return None if self.ecc is None or self.cc >= (8, 0) else False

    @property
    def remapped_rows(self) -> bool | None:
        """Pending row remapping, or None for NOT_SUPPORTED (no ECC, or before Ampere)."""
        if self.remapped_rows_pending is not None:
            return self.remapped_rows_pending
        return None if self.ecc is None or self.cc < (8, 0) else False

    @property
    def is_geforce(self) -> bool:
        """Consumer and workstation boards are VGA controllers; data-center ones 3D controllers."""
        return any(word in self.name for word in ("GeForce", "Quadro", "TITAN", "RTX A"))


@dataclass(frozen=True)
class NvmlSpec:
    """How libnvidia-ml.so.1 behaves."""

    init_error: str | None = None
    errors: tuple[tuple[str, str], ...] = ()  # (function, return-code name)
    fault: str | None = None
    garbage: bool | tuple[str, ...] = False
    missing: bool = False

    @property
    def garbage_kinds(self) -> tuple[str, ...]:
        if self.garbage is True:
            return GARBAGE_KINDS
        return self.garbage or ()

    def forced(self, function: str) -> int:
        """The return code forced on `function`, 0 when none is."""
        return next((NVML_RETURN_CODES[code] for fn, code in self.errors if fn == function), 0)


@dataclass(frozen=True)
class LibrarySpec:
    """One CUDA user-space library; libshims.py builds it."""

    name: str
    soname: str
    version: str
    location: str = "pip"
    fault: str | None = None
    cuda: str | None = None  # the CUDA a cuDNN was built for ("12.5"); default: the cudart's
    ld_library_path: bool = False  # its directory is also exported on LD_LIBRARY_PATH


@dataclass(frozen=True)
class HostSpec:
    """A whole simulated host. TOML's `[[gpu]]` and `[[library]]` give the field names."""

    description: str
    profile: str
    tensorflow: str | None = None
    container: str | None = None
    driver: DriverSpec = dataclasses.field(default_factory=DriverSpec)
    gpu: tuple[GpuSpec, ...] = ()
    nvml: NvmlSpec = dataclasses.field(default_factory=NvmlSpec)
    library: tuple[LibrarySpec, ...] = ()

    @property
    def gpus(self) -> tuple[GpuSpec, ...]:
        return self.gpu

    @property
    def libraries(self) -> tuple[LibrarySpec, ...]:
        return self.library

    def minor_numbers(self) -> dict[str, int]:
        """Minor numbers the nvidia module gives its GPUs: in PCI address order, from 0."""
        bound = sorted(g.pci_address for g in self.gpu if g.bound_driver == "nvidia")
        return {address: minor for minor, address in enumerate(bound)}

    def nvml_gpus(self) -> tuple[GpuSpec, ...]:
        """The GPUs NVML enumerates, in its (PCI bus id) order."""
        return tuple(sorted((g for g in self.gpu if g.nvml_visible), key=lambda g: g.pci_address))

    def device_node_names(self) -> tuple[str, ...]:
        """The /dev entries the host has: given, or what a loaded driver creates.

        Derived: nothing without the nvidia module; else nvidiactl, nvidia-uvm and
        nvidia-uvm-tools with nvidia_uvm loaded, nvidia-modeset with
        nvidia_modeset loaded, and nvidiaN for every GPU bound to nvidia (also one
        that NVML does not enumerate: the kernel made its node before it got lost).
        """
        if self.driver.device_nodes is not None:
            return self.driver.device_nodes
        modules = set(self.driver.modules)
        if "nvidia" not in modules:
            return ()
        names = ["nvidiactl"]
        if "nvidia_uvm" in modules:
            names += ["nvidia-uvm", "nvidia-uvm-tools"]
        if "nvidia_modeset" in modules:
            names.append("nvidia-modeset")
        names += [f"nvidia{minor}" for minor in sorted(self.minor_numbers().values())]
        return tuple(names)


# ---- loading ----------------------------------------------------------------------------


def load_spec(path: Path) -> HostSpec:
    """Read and validate the spec file at `path`."""
    return parse_spec(read_toml(path), str(path))


def shipped_specs() -> list[Path]:
    """The spec files in tests/simhost/specs, by name."""
    return sorted(SPECS_DIR.glob("*.toml"))


def parse_spec(data: Mapping[str, Any], source: str) -> HostSpec:
    """Build a HostSpec from parsed TOML, raising DataError naming `source` and the key."""
    raw = dict(data)
    errors: Any = None
    if isinstance(raw.get("nvml"), dict) and "errors" in raw["nvml"]:
        # An inline table of function -> code: validated here, kept as pairs.
        nvml = dict(raw["nvml"])
        errors = nvml.pop("errors")
        raw["nvml"] = nvml
    spec = load(HostSpec, raw, source)
    forced = _forced_errors(errors, source)
    spec = dataclasses.replace(
        spec,
        nvml=dataclasses.replace(spec.nvml, errors=forced),
        gpu=tuple(_with_uuid(g) for g in spec.gpu),
    )
    _check_top(spec, source)
    _check_driver(spec, source)
    for index, gpu in enumerate(spec.gpu):
        _check_gpu(gpu, f"gpu[{index}]", source)
    _check_nvml(spec.nvml, source)
    for index, lib in enumerate(spec.library):
        _check_library(lib, f"library[{index}]", source)
    addresses = [g.pci_address for g in spec.gpu]
    for index, address in enumerate(addresses):
        if address in addresses[:index]:
            raise DataError(source, f"gpu[{index}].pci_address", f"{address!r} is used twice")
    rows = [(lib.name, lib.soname, lib.location) for lib in spec.library]
    for index, row in enumerate(rows):
        if row in rows[:index]:
            raise DataError(source, f"library[{index}]", f"{row} is listed twice")
    return spec


def _with_uuid(gpu: GpuSpec) -> GpuSpec:
    if gpu.uuid is not None:
        return gpu
    derived = uuid.uuid5(_UUID_NAMESPACE, f"{gpu.name}@{gpu.pci_address}")
    return dataclasses.replace(gpu, uuid=f"GPU-{derived}")


def _forced_errors(errors: Any, source: str) -> tuple[tuple[str, str], ...]:
    if errors is None:
        return ()
    if not isinstance(errors, dict):
        raise DataError(source, "nvml.errors", "expected a table of function = return code")
    pairs = []
    for function, code in errors.items():
        key = f"nvml.errors.{function}"
        if function not in NVML_FUNCTIONS:
            problem = "not an NVML function the shim implements" + did_you_mean(
                function, NVML_FUNCTIONS
            )
            raise DataError(source, key, problem, join_choices(NVML_FUNCTIONS))
        _check_code(code, key, source)
        pairs.append((str(function), str(code)))
    return tuple(pairs)


def _check_code(code: Any, key: str, source: str) -> None:
    if code not in NVML_RETURN_CODES or code == "SUCCESS":
        accepted = join_choices(c for c in NVML_RETURN_CODES if c != "SUCCESS")
        problem = f"{code!r} is not an NVML error name" + did_you_mean(str(code), NVML_RETURN_CODES)
        raise DataError(source, key, problem, accepted)


def _require(ok: bool, source: str, key: str, problem: str, accepted: str | None = None) -> None:
    if not ok:
        raise DataError(source, key, problem, accepted)


def _check_top(spec: HostSpec, source: str) -> None:
    _require(bool(spec.description.strip()), source, "description", "is empty")
    if spec.container is not None:
        _require(spec.container in CONTAINERS, source, "container", f"{spec.container!r}", join_choices(CONTAINERS))
    _require(bool(spec.profile.strip()), source, "profile", "is empty")
    if spec.tensorflow is not None:
        _require(
            bool(_TF_VERSION.fullmatch(spec.tensorflow)),
            source,
            "tensorflow",
            f"{spec.tensorflow!r} is not a TensorFlow version",
            'e.g. "2.21.0"',
        )


def _check_driver(spec: HostSpec, source: str) -> None:
    d = spec.driver
    _require(
        bool(_DRIVER_VERSION.fullmatch(d.version)),
        source,
        "driver.version",
        f"{d.version!r} is not a driver version",
        'e.g. "550.54.15"',
    )
    cuda = d.cuda_driver_version
    _require(
        1000 <= cuda <= 99990 and cuda % 10 == 0,
        source,
        "driver.cuda_driver_version",
        f"{cuda} is not 1000 * major + 10 * minor",
        "e.g. 12040 for CUDA 12.4",
    )
    for i, module in enumerate(d.modules):
        _require(bool(_MODULE.fullmatch(module)), source, f"driver.modules[{i}]", "bad name")
        _require(module not in d.modules[:i], source, f"driver.modules[{i}]", "listed twice")
    for i, node in enumerate(d.device_nodes or ()):
        _require(
            bool(_NODE.fullmatch(node)),
            source,
            f"driver.device_nodes[{i}]",
            f"{node!r} is not an NVIDIA device node name",
            "nvidiactl, nvidia-uvm, nvidia-uvm-tools, nvidia-modeset, nvidiaN",
        )
    present = spec.device_node_names()
    for i, node in enumerate(d.unreadable_nodes):
        _require(
            node in present,
            source,
            f"driver.unreadable_nodes[{i}]",
            f"{node!r} is not one of the host's device nodes",
            join_choices(present),
        )


def _check_gpu(g: GpuSpec, key: str, source: str) -> None:
    _require(bool(g.name) and g.name.isprintable(), source, f"{key}.name", "empty or unprintable")
    _require(
        bool(_PCI_ADDRESS.fullmatch(g.pci_address)),
        source,
        f"{key}.pci_address",
        f"{g.pci_address!r} is not a PCI address",
        'lower-case "dddd:bb:dd.f", e.g. "0000:00:04.0"',
    )
    _require(0 < g.pci_device_id <= 0xFFFF, source, f"{key}.pci_device_id", "not a 16-bit id")
    match = _CC.fullmatch(g.compute_capability)
    _require(
        bool(match) and g.cc[0] >= 1,
        source,
        f"{key}.compute_capability",
        f"{g.compute_capability!r} is not a compute capability",
        'e.g. "7.5"',
    )
    _require(0 < g.memory_mib <= 1 << 26, source, f"{key}.memory_mib", "not a GPU memory size")
    _require(
        0 <= g.memory_used_mib <= g.memory_mib,
        source,
        f"{key}.memory_used_mib",
        "must be between 0 and memory_mib",
    )
    _require(
        g.uuid is not None and g.uuid.startswith("GPU-") and g.uuid.isprintable(),
        source,
        f"{key}.uuid",
        f"{g.uuid!r} is not a GPU UUID",
        '"GPU-" followed by a UUID',
    )
    _require(
        g.bound_driver in BOUND_DRIVERS,
        source,
        f"{key}.bound_driver",
        f"{g.bound_driver!r} is not simulated",
        join_choices(repr(b) for b in BOUND_DRIVERS),
    )
    for i, gen in enumerate(g.pcie_gen):
        _require(1 <= gen <= 6, source, f"{key}.pcie_gen[{i}]", f"{gen} is not a PCIe generation")
    for i, width in enumerate(g.pcie_width):
        _require(
            width in PCIE_WIDTHS,
            source,
            f"{key}.pcie_width[{i}]",
            f"{width} is not a PCIe width",
            join_choices(str(w) for w in PCIE_WIDTHS),
        )
    _require(g.pcie_gen[0] <= g.pcie_gen[1], source, f"{key}.pcie_gen", "current exceeds max")
    _require(g.pcie_width[0] <= g.pcie_width[1], source, f"{key}.pcie_width", "current exceeds max")
    for i, proc in enumerate(g.processes):
        _require(0 < proc.pid < 1 << 31, source, f"{key}.processes[{i}].pid", f"{proc.pid} is not a PID")
        _require(
            proc.used_mib is None or 0 <= proc.used_mib <= g.memory_mib,
            source,
            f"{key}.processes[{i}].used_mib",
            "must be between 0 and memory_mib",
        )
    _require(
        g.ecc is not None or g.ecc_pending is None,
        source,
        f"{key}.ecc_pending",
        "is set but ecc is not (a board without ECC has no pending ECC mode)",
    )


def _check_nvml(n: NvmlSpec, source: str) -> None:
    if n.init_error is not None:
        _check_code(n.init_error, "nvml.init_error", source)
    if n.fault is not None:
        _require(
            n.fault in NVML_FAULTS,
            source,
            "nvml.fault",
            f"{n.fault!r} is not a simulated fault",
            join_choices(NVML_FAULTS),
        )
    if not isinstance(n.garbage, bool):
        for i, kind in enumerate(n.garbage):
            _require(
                kind in GARBAGE_KINDS,
                source,
                f"nvml.garbage[{i}]",
                f"{kind!r} is not a garbage kind" + did_you_mean(kind, GARBAGE_KINDS),
                join_choices(GARBAGE_KINDS),
            )
    if n.missing:
        _require(
            n.init_error is None and n.fault is None and not n.errors and not n.garbage_kinds,
            source,
            "nvml.missing",
            "a missing library cannot also fail, crash or answer garbage",
        )


def _check_library(lib: LibrarySpec, key: str, source: str) -> None:
    _require(bool(re.fullmatch(r"\w+", lib.name)), source, f"{key}.name", f"{lib.name!r} is bad")
    _require(
        bool(_SONAME.fullmatch(lib.soname)),
        source,
        f"{key}.soname",
        f"{lib.soname!r} is not a soname",
        'e.g. "libcudnn.so.9"',
    )
    _require(
        bool(_LIB_VERSION.fullmatch(lib.version)),
        source,
        f"{key}.version",
        f"{lib.version!r} is not a version",
        'e.g. "9.3.0"',
    )
    _require(
        lib.location in LIBRARY_LOCATIONS,
        source,
        f"{key}.location",
        f"{lib.location!r} is not a simulated location"
        + did_you_mean(lib.location, LIBRARY_LOCATIONS),
        join_choices(LIBRARY_LOCATIONS),
    )
    if lib.cuda is not None:
        _require(
            bool(_CUDA_VERSION.fullmatch(lib.cuda)),
            source,
            f"{key}.cuda",
            f"{lib.cuda!r} is not a CUDA version",
            'e.g. "12.5"',
        )
    if lib.fault is not None:
        _require(
            lib.fault in LIBRARY_FAULTS,
            source,
            f"{key}.fault",
            f"{lib.fault!r} is not a simulated fault",
            join_choices(LIBRARY_FAULTS),
        )
