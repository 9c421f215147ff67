"""How much GPU memory a process holds, measured from outside with NVML, with the fallbacks it needs.

NVML's per-process accounting (``nvmlDeviceGetComputeRunningProcesses``) is
the direct answer, but tf-behaviors §1.7 lists where it fails: inside a PID
namespace the driver may report host PIDs (so our child's PID is not listed),
and ``usedGpuMemory`` may be NVML_VALUE_NOT_AVAILABLE (None) or 0. So the
footprint of a process is, in order:

1. "per-process": the entry whose PID is the child's, with a usable amount;
2. "only-new-process": else the one process that appeared since the snapshot
   taken before the child started, if exactly one did (host PIDs);
3. "device-delta": else the device's used memory now minus before (which
   counts anything else that allocated meanwhile: said in the detail);
4. "unavailable": else nothing can be said, and the check skips as not
   applicable rather than judging a number that was never measured.

NVML itself runs in a child (`gpuconform.probes.gpumem_child`): never in the
pytest process.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass

from gpuconform.facts.base import ProbeError
from gpuconform.facts.errors import DataError
from gpuconform.facts.observed import GpuMemory
from gpuconform.facts.observed import NvmlMemory
from gpuconform.facts.serde import load
from gpuconform.probes.child import DEFAULT_TIMEOUT
from gpuconform.probes.child import child_env
from gpuconform.probes.child import run_python

PROBE = "gpumem"
CHILD_MODULE = "gpuconform.probes.gpumem_child"
MIB = 1 << 20


@dataclass(frozen=True)
class Footprint:
    """The GPU memory attributed to one or more processes, and how it was measured."""

    bytes: int | None
    method: str  # "per-process", "only-new-process", "device-delta" or "unavailable"
    detail: str

    @property
    def mib(self) -> int | None:
        return None if self.bytes is None else self.bytes // MIB


def measure(*, timeout: float = DEFAULT_TIMEOUT, env: Mapping[str, str] | None = None) -> NvmlMemory:
    """Run the NVML memory child once and return its snapshot (errors are in the snapshot)."""
    result = run_python(["-m", CHILD_MODULE], timeout=timeout, env=env if env is not None else child_env())
    error = result.error(PROBE)
    if error is not None:
        return NvmlMemory(init_error=error)
    try:
        return load(NvmlMemory, result.json(), "GPU memory probe output")
    except (DataError, ValueError) as exc:
        return NvmlMemory(init_error=ProbeError(PROBE, "invalid-output", str(exc)))


def footprint(pids: Sequence[int], index: int, before: NvmlMemory | None, during: NvmlMemory) -> Footprint:
    """The memory `pids` hold on GPU `index` while running, by the first method that works."""
    gpu = during.gpu(index)
    if during.init_error is not None or gpu is None:
        why = during.init_error.message if during.init_error else f"NVML lists no GPU {index}"
        return Footprint(None, "unavailable", f"NVML could not be read: {why}")
    ours = [p for p in gpu.processes if p.pid in pids and p.used_bytes]
    if len(ours) == len(pids):
        listed = ", ".join(f"pid {p.pid}: {_mib(p.used_bytes)}" for p in ours)
        return Footprint(sum(p.used_bytes or 0 for p in ours), "per-process", f"NVML per-process accounting ({listed})")
    notes = [_why_not_per_process(pids, gpu)]
    old = _gpu_before(before, index)
    if old is not None and gpu.processes_error is None and old.processes_error is None:
        known = {p.pid for p in old.processes}
        new = [p for p in gpu.processes if p.pid not in known and p.used_bytes]
        if len(new) == len(pids):
            listed = ", ".join(f"pid {p.pid}: {_mib(p.used_bytes)}" for p in new)
            detail = f"the process(es) NVML lists since the child started ({listed}; {notes[0]})"
            return Footprint(sum(p.used_bytes or 0 for p in new), "only-new-process", detail)
        notes.append(f"{len(new)} new process(es) with a usable amount for {len(pids)} child(ren)")
    if old is not None and old.used_bytes is not None and gpu.used_bytes is not None:
        delta = max(0, gpu.used_bytes - old.used_bytes)
        detail = (
            f"device-wide used memory {_mib(old.used_bytes)} before, {_mib(gpu.used_bytes)} during "
            f"(counts any other process that allocated meanwhile; {'; '.join(notes)})"
        )
        return Footprint(delta, "device-delta", detail)
    notes.append("no device-wide reading from before the child started" if old is None else "no device-wide reading")
    return Footprint(None, "unavailable", "; ".join(notes))


def _gpu_before(before: NvmlMemory | None, index: int) -> GpuMemory | None:
    if before is None or before.init_error is not None:
        return None
    return before.gpu(index)


def _why_not_per_process(pids: Sequence[int], gpu: GpuMemory) -> str:
    if gpu.processes_error is not None:
        return f"per-process accounting failed: {gpu.processes_error.kind}: {gpu.processes_error.message}"
    listed = {p.pid: p for p in gpu.processes}
    for pid in pids:
        entry = listed.get(pid)
        if entry is None:
            pids_seen = ", ".join(str(p) for p in listed) or "none"
            return f"pid {pid} is not among the listed processes ({pids_seen}): a PID namespace hides it"
        if not entry.used_bytes:
            value = "NVML_VALUE_NOT_AVAILABLE" if entry.used_bytes is None else "0"
            return f"NVML lists pid {pid} with usedGpuMemory {value}"
    return "per-process accounting gave no usable amount"


def _mib(value: int | None) -> str:
    return "?" if value is None else f"{value // MIB} MiB"
