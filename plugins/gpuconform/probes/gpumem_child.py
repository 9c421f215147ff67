"""The GPU memory probe, run as ``python -m gpuconform.probes.gpumem_child`` in a child process.

It answers one question for the memory layer, from outside the TensorFlow
child under test: how much memory does each GPU have in use, and which
processes hold how much (``nvmlDeviceGetComputeRunningProcesses_v3``). It
prints one JSON line, the serde form of a `gpuconform.probes.gpumem.NvmlMemory`.
Like the NVML probe it loads NVML only here, so a broken library costs a
ProbeError, never the pytest process.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from typing import Any

from gpuconform.facts.base import ProbeError
from gpuconform.facts.observed import GpuMemory
from gpuconform.facts.observed import GpuProcess
from gpuconform.facts.observed import NvmlMemory
from gpuconform.facts.serde import dump
from gpuconform.probes.nvml_child import MAX_DEVICES
from gpuconform.probes.nvml_child import MAX_MEMORY_BYTES
from gpuconform.probes.nvml_child import error_text

PROBE = "gpumem"


def _error(nvml: Any, function: str, exc: BaseException) -> ProbeError:
    kind = type(exc).__name__ if isinstance(exc, nvml.NVMLError) else f"malformed ({type(exc).__name__})"
    return ProbeError(f"{PROBE}.{function}", kind, error_text(exc))


def _bytes(value: Any) -> int | None:
    """A byte count NVML returned, or None when it is garbage."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_MEMORY_BYTES:
        return None
    return value


def _gpu(nvml: Any, index: int) -> GpuMemory:
    try:
        handle = nvml.nvmlDeviceGetHandleByIndex(index)
    except Exception as exc:  # noqa: BLE001 - every failure is an observation
        return GpuMemory(index=index, error=_error(nvml, "nvmlDeviceGetHandleByIndex_v2", exc))
    fields: dict[str, Any] = {}
    try:
        memory = nvml.nvmlDeviceGetMemoryInfo(handle)
        fields["total_bytes"] = _bytes(int(memory.total))
        fields["used_bytes"] = _bytes(int(memory.used))
    except Exception as exc:  # noqa: BLE001
        fields["error"] = _error(nvml, "nvmlDeviceGetMemoryInfo", exc)
    try:
        # pynvml turns NVML_VALUE_NOT_AVAILABLE into usedGpuMemory=None (WDDM, some containers).
        listed = nvml.nvmlDeviceGetComputeRunningProcesses(handle)
        fields["processes"] = tuple(
            GpuProcess(pid=int(p.pid), used_bytes=_bytes(p.usedGpuMemory) if p.usedGpuMemory is not None else None)
            for p in listed
        )
    except Exception as exc:  # noqa: BLE001
        fields["processes_error"] = _error(nvml, "nvmlDeviceGetComputeRunningProcesses_v3", exc)
    return GpuMemory(index=index, **fields)


def collect() -> NvmlMemory:
    """Every GPU's memory and processes; never raises."""
    try:
        import pynvml  # type: ignore[import-untyped]
    except Exception as exc:  # noqa: BLE001
        return NvmlMemory(init_error=ProbeError(PROBE, type(exc).__name__, str(exc)))
    try:
        pynvml.nvmlInit()
        count = int(pynvml.nvmlDeviceGetCount())
    except Exception as exc:  # noqa: BLE001
        return NvmlMemory(init_error=_error(pynvml, "nvmlInit", exc))
    if not 0 <= count <= MAX_DEVICES:
        return NvmlMemory(init_error=ProbeError(f"{PROBE}.nvmlDeviceGetCount_v2", "malformed", f"count {count}"))
    gpus = tuple(_gpu(pynvml, i) for i in range(count))
    with contextlib.suppress(Exception):
        pynvml.nvmlShutdown()
    return NvmlMemory(gpus=gpus)


def main() -> None:
    """Print the answer as the last stdout line; skip library destructors (see nvml_child)."""
    sys.stdout.write("\n" + json.dumps(dump(collect()), sort_keys=True) + "\n")
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
