"""The NVML probe, run as ``python -m gpuconform.probes.nvml_child`` in a child process.

A broken libnvidia-ml can segfault, abort or hang inside nvmlInit, so NVML is
only ever loaded here; `gpuconform.probes.nvml` runs this module and turns a
crash into a ProbeError. The child prints one JSON line: the serde form of an
`NvmlFacts`. Whatever NVML answers, however wrong, becomes a field or a
ProbeError in that line; the child itself never dies of an NVML answer.

Each NVML call names the C symbol pynvml resolves for it (nvidia-ml-py 13.x),
because the simulated host's shim must export exactly those.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
from collections.abc import Callable
from typing import Any

from gpuconform.facts.base import ProbeError
from gpuconform.facts.model import GpuFacts
from gpuconform.facts.model import NvmlFacts
from gpuconform.facts.serde import dump

PROBE = "nvml"

#: A device count above this is garbage, not a host (NVML's own limit is far lower).
MAX_DEVICES = 256
#: Per-GPU memory above this (64 TiB) is garbage, not a GPU.
MAX_MEMORY_BYTES = 64 << 40
#: Buffer sizes pynvml passes (NVML_DEVICE_NAME_V2_BUFFER_SIZE, ..._UUID_V2_..., ...).
NAME_SIZE = 96
UUID_SIZE = 96
VERSION_SIZE = 80

_BUS_ID = re.compile(r"([0-9A-Fa-f]{4,8}):([0-9A-Fa-f]{2}):([0-9A-Fa-f]{2})\.([0-7])")


class _Recorder:
    """Collects the ProbeErrors of one scope (the system, or one GPU)."""

    def __init__(self, nvml: Any) -> None:
        self.nvml = nvml
        self.errors: list[ProbeError] = []

    def call(self, function: str, fn: Callable[..., Any], *args: Any) -> Any:
        """Return ``fn(*args)``, or None after recording why it failed."""
        try:
            return fn(*args)
        except self.nvml.NVMLError as exc:
            self.errors.append(ProbeError(f"{PROBE}.{function}", type(exc).__name__, error_text(exc)))
        except Exception as exc:  # noqa: BLE001 - one bad field must not lose the others
            kind = "malformed" if isinstance(exc, (ValueError, UnicodeError)) else type(exc).__name__
            self.errors.append(ProbeError(f"{PROBE}.{function}", kind, str(exc) or repr(exc)))
        return None

    def malformed(self, function: str, what: str) -> None:
        self.errors.append(ProbeError(f"{PROBE}.{function}", "malformed", what))

    def string(self, function: str, fn: Callable[..., Any], size: int, *args: Any) -> str | None:
        """Call a string getter and accept only NUL-terminated, printable UTF-8."""
        # pynvml's wrapper decodes strictly and would raise on bad bytes; the wrapped
        # function hands back the raw bytes so that garbage can be described instead.
        raw = self.call(function, getattr(fn, "__wrapped__", fn), *args)
        if raw is None:
            return None
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        if not isinstance(raw, bytes):
            self.malformed(function, f"returned {type(raw).__name__}, expected bytes")
            return None
        if len(raw) >= size:
            self.malformed(function, f"string not NUL-terminated within {size} bytes")
            return None
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            self.malformed(function, f"not UTF-8 (byte {exc.start} of {raw[:40]!r})")
            return None
        if not text.isprintable():
            self.malformed(function, f"non-printable characters in {text[:40]!r}")
            return None
        return text

    def number(self, function: str, value: Any, low: int, high: int) -> int | None:
        """Accept an integer in [low, high]; anything else is recorded as garbage."""
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            self.malformed(function, f"value {value!r} outside {low}..{high}")
            return None
        return value

    def flag(self, function: str, value: Any) -> bool | None:
        """NVML enable states are 0 or 1; anything else is garbage."""
        number = self.number(function, value, 0, 1)
        return None if number is None else bool(number)


def error_text(exc: BaseException) -> str:
    """nvmlErrorString text of an NVMLError, with its code; never raises."""
    code = getattr(exc, "value", None)
    try:
        text = str(exc)
    except Exception:  # noqa: BLE001 - str() may call a broken nvmlErrorString
        text = "NVML error"
    return f"{text} (return code {code})" if code is not None else text


def _library_path() -> str | None:
    """The libnvidia-ml file this process mapped, as the kernel names it."""
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            for line in maps:
                # "start-end perms offset dev inode path"; anonymous mappings have no path.
                fields = line.split(maxsplit=5)
                path = fields[5].strip() if len(fields) == 6 else ""
                if os.path.basename(path).startswith("libnvidia-ml.so"):
                    return path
    except OSError:
        pass
    return None


def _bus_id(raw: Any) -> str | None:
    """NVML's "00000000:00:04.0" as sysfs spells it ("0000:00:04.0")."""
    text = raw.decode("ascii", "replace") if isinstance(raw, bytes) else str(raw)
    match = _BUS_ID.fullmatch(text)
    if not match:
        return None
    domain, bus, device, function = match.groups()
    return f"{int(domain, 16):04x}:{bus.lower()}:{device.lower()}.{function}"


def _gpu(nvml: Any, index: int) -> GpuFacts:
    rec = _Recorder(nvml)
    handle = rec.call("nvmlDeviceGetHandleByIndex_v2", nvml.nvmlDeviceGetHandleByIndex, index)
    if handle is None:
        return GpuFacts(index=index, name="", errors=tuple(rec.errors))
    fields: dict[str, Any] = {}
    fields["name"] = rec.string("nvmlDeviceGetName", nvml.nvmlDeviceGetName, NAME_SIZE, handle)
    fields["uuid"] = rec.string("nvmlDeviceGetUUID", nvml.nvmlDeviceGetUUID, UUID_SIZE, handle)

    pci = rec.call("nvmlDeviceGetPciInfo_v3", nvml.nvmlDeviceGetPciInfo_v3, handle)
    if pci is not None:
        fields["pci_bus_id"] = _bus_id(pci.busId)
        if fields["pci_bus_id"] is None:
            rec.malformed("nvmlDeviceGetPciInfo_v3", f"bus id {bytes(pci.busId)[:32]!r}")
        fields["pci_device_id"] = (int(pci.pciDeviceId) >> 16) & 0xFFFF

    minor = rec.call("nvmlDeviceGetMinorNumber", nvml.nvmlDeviceGetMinorNumber, handle)
    # 255 is nvidiactl and 254 nvidia-modeset: a GPU minor is below them.
    fields["minor_number"] = rec.number("nvmlDeviceGetMinorNumber", minor, 0, 253)

    fn = "nvmlDeviceGetCudaComputeCapability"
    cc = rec.call(fn, nvml.nvmlDeviceGetCudaComputeCapability, handle)
    if cc is not None:
        major, minor_cc = rec.number(fn, cc[0], 1, 99), rec.number(fn, cc[1], 0, 99)
        if major is not None and minor_cc is not None:
            fields["compute_capability"] = (major, minor_cc)

    memory = rec.call("nvmlDeviceGetMemoryInfo", nvml.nvmlDeviceGetMemoryInfo, handle)
    if memory is not None:
        total = rec.number("nvmlDeviceGetMemoryInfo", int(memory.total), 1, MAX_MEMORY_BYTES)
        if total is not None:
            fields["memory_total_mib"] = total >> 20
            used = rec.number("nvmlDeviceGetMemoryInfo", int(memory.used), 0, total)
            fields["memory_used_mib"] = None if used is None else used >> 20

    fn = "nvmlDeviceGetPersistenceMode"
    fields["persistence_mode"] = rec.flag(fn, rec.call(fn, nvml.nvmlDeviceGetPersistenceMode, handle))

    ecc = rec.call("nvmlDeviceGetEccMode", nvml.nvmlDeviceGetEccMode, handle)
    if ecc is not None:
        fields["ecc_enabled"] = rec.flag("nvmlDeviceGetEccMode", ecc[0])
        fields["ecc_pending"] = rec.flag("nvmlDeviceGetEccMode", ecc[1])

    fn = "nvmlDeviceGetRetiredPagesPendingStatus"
    pending = rec.call(fn, nvml.nvmlDeviceGetRetiredPagesPendingStatus, handle)
    fields["retired_pages_pending"] = rec.flag(fn, pending)

    rows = rec.call("nvmlDeviceGetRemappedRows", nvml.nvmlDeviceGetRemappedRows, handle)
    if rows is not None:
        fields["remapped_rows_pending"] = rec.flag("nvmlDeviceGetRemappedRows", rows[2])
        fields["remapped_rows_failure"] = rec.flag("nvmlDeviceGetRemappedRows", rows[3])

    mig = rec.call("nvmlDeviceGetMigMode", nvml.nvmlDeviceGetMigMode, handle)
    if mig is not None:
        fields["mig_enabled"] = rec.flag("nvmlDeviceGetMigMode", mig[0])

    for key, fn, high in (
        ("pcie_gen_current", "nvmlDeviceGetCurrPcieLinkGeneration", 10),
        ("pcie_gen_max", "nvmlDeviceGetMaxPcieLinkGeneration", 10),
        ("pcie_width_current", "nvmlDeviceGetCurrPcieLinkWidth", 64),
        ("pcie_width_max", "nvmlDeviceGetMaxPcieLinkWidth", 64),
    ):
        fields[key] = rec.number(fn, rec.call(fn, getattr(nvml, fn), handle), 0, high)

    name = fields.pop("name") or ""
    return GpuFacts(index=index, name=name, errors=tuple(rec.errors), **fields)


def collect() -> NvmlFacts:
    """Ask NVML everything the driver layer needs; never raises."""
    try:
        import pynvml  # type: ignore[import-untyped]
    except Exception as exc:  # noqa: BLE001 - a broken binding is an observation too
        return NvmlFacts(init_error=ProbeError(PROBE, type(exc).__name__, str(exc)))
    try:
        pynvml.nvmlInit()  # nvmlInitWithFlags(0)
    except pynvml.NVMLError as exc:
        error = ProbeError(PROBE, type(exc).__name__, error_text(exc))
        return NvmlFacts(library_path=_library_path(), init_error=error)
    except Exception as exc:  # noqa: BLE001
        return NvmlFacts(library_path=_library_path(), init_error=ProbeError(PROBE, type(exc).__name__, str(exc)))

    rec = _Recorder(pynvml)
    driver_version = rec.string("nvmlSystemGetDriverVersion", pynvml.nvmlSystemGetDriverVersion, VERSION_SIZE)
    nvml_version = rec.string("nvmlSystemGetNVMLVersion", pynvml.nvmlSystemGetNVMLVersion, VERSION_SIZE)
    fn = "nvmlSystemGetCudaDriverVersion"
    cuda = rec.number(fn, rec.call(fn, pynvml.nvmlSystemGetCudaDriverVersion), 1000, 99999)
    fn = "nvmlDeviceGetCount_v2"
    count = rec.number(fn, rec.call(fn, pynvml.nvmlDeviceGetCount), 0, MAX_DEVICES)
    gpus = tuple(_gpu(pynvml, index) for index in range(count or 0))
    # The answer is complete; shutting NVML down is courtesy, and its failure is not news.
    with contextlib.suppress(Exception):
        pynvml.nvmlShutdown()
    return NvmlFacts(
        library_path=_library_path(),
        driver_version=driver_version,
        cuda_driver_version=cuda,
        nvml_version=nvml_version,
        device_count=count,
        gpus=gpus,
        errors=tuple(rec.errors),
    )


def main() -> None:
    """Print the facts as the last stdout line and leave without running library destructors."""
    line = json.dumps(dump(collect()), ensure_ascii=True, sort_keys=True)
    sys.stdout.write("\n" + line + "\n")
    sys.stdout.flush()
    # A broken libnvidia-ml may crash in its exit handlers or flush C-level noise after
    # our line; the answer is already complete, so skip both.
    os._exit(0)


if __name__ == "__main__":
    main()
