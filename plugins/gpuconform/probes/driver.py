"""The driver-layer probe: PCI bus, kernel modules, /dev nodes and NVML.

Everything file-based reads below `root`, so that ``--host-root`` (and the
simulated hosts of the project's own tests) can stand in for ``/``. Paths in
the facts are host paths ("/dev/nvidia0"), never root-prefixed ones.

The probe observes and never judges: whatever cannot be observed becomes a
ProbeError ("missing", "unreadable", "malformed", or an NVML error class
name), and no exception leaves `probe_driver`.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Mapping
from pathlib import Path
from typing import TypeVar

from gpuconform.facts.base import ProbeError
from gpuconform.facts.model import DeviceNode
from gpuconform.facts.model import DriverFacts
from gpuconform.facts.model import KernelLog
from gpuconform.facts.model import KernelModule
from gpuconform.facts.model import NvmlFacts
from gpuconform.facts.model import PciDevice
from gpuconform.facts.reading import Unreadable
from gpuconform.facts.reading import read_bytes
from gpuconform.facts.text import clean
from gpuconform.facts.versions import parse_nvidia_proc_version
from gpuconform.probes.kernellog import read_kernel_log
from gpuconform.probes.nvml import probe_nvml

NVIDIA_VENDOR_ID = 0x10DE
#: PCI base class + subclass (class >> 8) of GPUs: VGA-compatible and 3D controllers.
#: NVIDIA audio, USB-C and NVSwitch functions share the vendor id and are left out.
GPU_CLASSES = (0x0300, 0x0302)
#: /proc/modules entries worth reporting: the driver, its rivals and passthrough.
MODULE_PREFIXES = ("nvidia", "nouveau", "vfio")
#: Nodes the driver creates once per host (the per-GPU ones are /dev/nvidiaN).
HOST_NODES = ("nvidiactl", "nvidia-uvm", "nvidia-uvm-tools", "nvidia-modeset")
#: WSL 2's GPU paravirtualisation device (dxgkrnl): the Windows driver is reached through it.
WSL_NODE = "dxg"
#: sysfs and procfs files are tiny; anything bigger is not what we think it is.
MAX_READ = 1 << 20

PCI_DEVICES = "sys/bus/pci/devices"
#: UEFI's SecureBoot variable (EFI_GLOBAL_VARIABLE GUID): 4 bytes of attributes, then 1 (on) or 0 (off).
SECURE_BOOT = "sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c"
PROC_VERSION = "proc/driver/nvidia/version"
PROC_MODULES = "proc/modules"

T = TypeVar("T")

_GPU_NODE = re.compile(r"nvidia(\d{1,3})")


class _Unobservable(Exception):
    """A file the probe needed could not be read or understood."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message

    def as_error(self, probe: str) -> ProbeError:
        return ProbeError(probe, self.kind, self.message)


def probe_driver(
    root: Path = Path("/"),
    *,
    timeout: float = 20.0,
    env: Mapping[str, str] | None = None,
) -> DriverFacts:
    """Observe the driver layer of the host whose filesystem root is `root`.

    NVML is asked in a child process that runs with `env` (default: this
    process's environment) and is killed after `timeout` seconds.
    """
    root = Path(root)
    pci, pci_error = _safely("pci", lambda: probe_pci(root), lambda e: ((), e))
    text, version, version_error = _safely(
        "proc_version", lambda: probe_proc_version(root), lambda e: (None, None, e)
    )
    modules, modules_error = _safely("modules", lambda: probe_modules(root), lambda e: ((), e))
    nvml = _safely(
        "nvml", lambda: probe_nvml(timeout=timeout, env=env), lambda e: NvmlFacts(init_error=e)
    )
    minors = expected_minors(nvml, pci)
    nodes = _safely("device_nodes", lambda: probe_device_nodes(root, minors), lambda e: ())
    kernel_log = _safely("kernel_log", lambda: read_kernel_log(root), lambda e: KernelLog("/dev/kmsg", e))
    secure_boot = _safely("secure_boot", lambda: probe_secure_boot(root), lambda e: None)
    return DriverFacts(
        pci_devices=pci,
        pci_error=pci_error,
        proc_version_text=text,
        kernel_module_version=version,
        proc_version_error=version_error,
        modules=modules,
        modules_error=modules_error,
        device_nodes=nodes,
        nvml=nvml,
        kernel_log=kernel_log,
        secure_boot=secure_boot,
    )


def _safely(probe: str, fn: Callable[[], T], fallback: Callable[[ProbeError], T]) -> T:
    """Run one part of the probe; a bug in it (or an unstartable child) becomes its error."""
    try:
        return fn()
    except Exception as exc:  # noqa: BLE001 - no exception may leave probe_driver
        return fallback(ProbeError(probe, type(exc).__name__, str(exc)))


# ---- files ----------------------------------------------------------------------------


def _host_path(root: Path, path: Path) -> str:
    try:
        return "/" + path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


def _read(root: Path, path: Path) -> str:
    """The text of a small file, or _Unobservable saying why not (through the one bounded reader)."""
    where = _host_path(root, path)
    try:
        data = read_bytes(path, MAX_READ)
    except Unreadable as exc:
        if exc.kind == "missing":
            raise _Unobservable("missing", f"{where} does not exist") from None
        if exc.kind == "unreadable":
            raise _Unobservable("unreadable", f"{where} {exc.reason}") from None
        raise _Unobservable("malformed", f"{where} {exc.reason}") from None
    try:
        return clean(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise _Unobservable("malformed", f"{where} is not text (byte {exc.start})") from None


def _hex(root: Path, path: Path, bits: int) -> int:
    """A sysfs hex value such as "0x10de\\n" that fits in `bits` bits."""
    text = _read(root, path).strip()
    try:
        value = int(text, 16)
    except ValueError:
        raise _Unobservable(
            "malformed", f"{_host_path(root, path)} holds {text[:40]!r}, not a hex number"
        ) from None
    if not 0 <= value < (1 << bits):
        raise _Unobservable("malformed", f"{_host_path(root, path)} holds {text!r}, too large")
    return value


def _optional_hex(root: Path, path: Path, bits: int) -> int | None:
    try:
        return _hex(root, path, bits)
    except _Unobservable:
        return None


def _optional_int(root: Path, path: Path) -> int | None:
    try:
        return int(_read(root, path).strip())
    except (_Unobservable, ValueError):
        return None


def _optional_text(root: Path, path: Path) -> str | None:
    try:
        return _read(root, path).strip() or None
    except _Unobservable:
        return None


def probe_secure_boot(root: Path) -> bool | None:
    """Whether UEFI Secure Boot is on; None where efivars cannot say (legacy boot, a container hiding /sys/firmware)."""
    try:
        data = read_bytes(root / SECURE_BOOT, 64)
    except Unreadable:
        return None
    return bool(data[4]) if len(data) == 5 else None


# ---- PCI ------------------------------------------------------------------------------


def probe_pci(root: Path) -> tuple[tuple[PciDevice, ...], ProbeError | None]:
    """NVIDIA display and 3D controllers under /sys/bus/pci/devices, by address.

    A device whose vendor or class cannot be read is skipped, and the first
    such problem is returned as the error: "could not classify" must not look
    like "no GPU".
    """
    devices_dir = root / PCI_DEVICES
    where = _host_path(root, devices_dir)
    try:
        names = sorted(os.listdir(devices_dir))
    except FileNotFoundError:
        return (), ProbeError("pci", "missing", f"{where} does not exist")
    except NotADirectoryError:
        return (), ProbeError("pci", "malformed", f"{where} is not a directory")
    except OSError as exc:
        return (), ProbeError("pci", "unreadable", f"{where} cannot be listed: {exc.strerror}")
    found: list[PciDevice] = []
    problems: list[_Unobservable] = []
    for name in names:
        try:
            device = _pci_device(root, devices_dir / name, name)
        except _Unobservable as exc:
            problems.append(exc)
            continue
        if device is not None:
            found.append(device)
    error = None
    if problems:
        shown = "; ".join(p.message for p in problems[:3])
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        error = ProbeError(
            "pci", problems[0].kind, f"{len(problems)} PCI device(s) not classified: {shown}{more}"
        )
    return tuple(found), error


def _pci_device(root: Path, path: Path, address: str) -> PciDevice | None:
    vendor = _hex(root, path / "vendor", 16)
    if vendor != NVIDIA_VENDOR_ID:
        return None
    class_code = _hex(root, path / "class", 24)
    if class_code >> 8 not in GPU_CLASSES:
        return None
    return PciDevice(
        address=address,
        vendor_id=vendor,
        device_id=_hex(root, path / "device", 16),
        class_code=class_code,
        bound_driver=_bound_driver(path / "driver"),
        subsystem_vendor_id=_optional_hex(root, path / "subsystem_vendor", 16),
        subsystem_device_id=_optional_hex(root, path / "subsystem_device", 16),
        numa_node=_optional_int(root, path / "numa_node"),
        current_link_speed=_optional_text(root, path / "current_link_speed"),
        current_link_width=_optional_int(root, path / "current_link_width"),
        max_link_speed=_optional_text(root, path / "max_link_speed"),
        max_link_width=_optional_int(root, path / "max_link_width"),
    )


def _bound_driver(link: Path) -> str | None:
    """The basename of the `driver` symlink's target; None when the device is unbound."""
    try:
        target = os.readlink(link)
    except OSError:  # absent (unbound), or not a symlink (not sysfs as we know it)
        return None
    return os.path.basename(target.rstrip("/")) or None


# ---- /proc ----------------------------------------------------------------------------


def probe_proc_version(root: Path) -> tuple[str | None, str | None, ProbeError | None]:
    """(verbatim text, parsed version, error); no file at all means the module is not loaded."""
    path = root / PROC_VERSION
    try:
        text = _read(root, path)
    except _Unobservable as exc:
        return None, None, (None if exc.kind == "missing" else exc.as_error("proc_version"))
    version = parse_nvidia_proc_version(text)
    if version is None:
        first = text.strip().splitlines()[0][:80] if text.strip() else ""
        where = _host_path(root, path)
        return (
            text,
            None,
            ProbeError("proc_version", "malformed", f"no version in {where}: {first!r}"),
        )
    return text, version, None


def probe_modules(root: Path) -> tuple[tuple[KernelModule, ...], ProbeError | None]:
    """The nvidia*, nouveau* and vfio* entries of /proc/modules."""
    try:
        text = _read(root, root / PROC_MODULES)
    except _Unobservable as exc:
        return (), exc.as_error("modules")
    found = []
    for line in text.splitlines():
        # "nvidia_uvm 1527808 2 - Live 0x0000000000000000"
        parts = line.split()
        if not parts or not parts[0].startswith(MODULE_PREFIXES):
            continue
        found.append(
            KernelModule(
                name=parts[0],
                size=_int_or_none(parts[1]) if len(parts) > 1 else None,
                refcount=_int_or_none(parts[2]) if len(parts) > 2 else None,
            )
        )
    return tuple(found), None


def _int_or_none(text: str) -> int | None:
    return int(text) if text.isdigit() else None


# ---- /dev -----------------------------------------------------------------------------


def expected_minors(nvml: NvmlFacts, pci: Iterable[PciDevice] | None) -> tuple[int, ...]:
    """GPU minor numbers that should have a /dev/nvidiaN node.

    NVML's minor numbers when it gave any; otherwise one per NVIDIA GPU on the
    PCI bus, numbered from 0 as the driver would.
    """
    minors = sorted({g.minor_number for g in nvml.gpus if g.minor_number is not None})
    if minors:
        return tuple(minors)
    return tuple(range(len(tuple(pci or ()))))


def probe_device_nodes(root: Path, minors: Iterable[int] = ()) -> tuple[DeviceNode, ...]:
    """The host-wide nodes, every /dev/nvidiaN present, and one per expected minor."""
    present: set[int] = set()
    try:
        for name in os.listdir(root / "dev"):
            match = _GPU_NODE.fullmatch(name)
            if match:
                present.add(int(match.group(1)))
    except OSError:  # no /dev at all: every node below is reported missing
        pass
    names = [*HOST_NODES, *(f"nvidia{m}" for m in sorted(present | set(minors)))]
    if os.path.lexists(root / "dev" / WSL_NODE):
        names.append(WSL_NODE)  # WSL 2's GPU device: the only node there, and only there
    return tuple(_device_node(root, name) for name in names)


def _device_node(root: Path, name: str) -> DeviceNode:
    path = root / "dev" / name
    host = f"/dev/{name}"
    try:
        st = os.stat(path)  # follows symlinks: a dangling /dev/char link is not a usable node
    except FileNotFoundError:
        return DeviceNode(path=host, exists=False)
    except OSError:
        # It is there (listed) but cannot even be looked at: certainly not usable.
        return DeviceNode(path=host, exists=os.path.lexists(path))
    return DeviceNode(
        path=host,
        exists=True,
        is_char_device=stat.S_ISCHR(st.st_mode),
        readable=os.access(path, os.R_OK),
        writable=os.access(path, os.W_OK),
    )
