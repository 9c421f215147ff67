"""One memory-layer measurement: TensorFlow children holding a GPU, seen from inside and from NVML.

`run_mode` takes an NVML snapshot, starts the children of one mode on one GPU
(each shown only that GPU), waits until each is holding its allocation,
snapshots NVML again, and releases them (`gpuconform.frameworks.hold`). What it saw is
recorded as an `ObservedMemoryRun` (facts.json carries it, and a replay answers
from it); the checks judge the `MemoryRun` made from that, and the self-tests
feed them recorded runs of GPU hosts.

What TF reserves by default follows `gpu_device.cc` (tf-behaviors §1.4): the
memory free when it starts, minus a reserve left for the system that depends
on the free amount and the compute capability.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from gpuconform.facts.model import GpuFacts
from gpuconform.facts.observed import NvmlMemory
from gpuconform.facts.observed import ObservedMemoryRun
from gpuconform.facts.serde import load
from gpuconform.frameworks.devices import ORDER
from gpuconform.frameworks.devices import VISIBLE
from gpuconform.frameworks.measure import measure_holds
from gpuconform.frameworks.tensorflow.framework import FRAMEWORK
from gpuconform.frameworks.tensorflow.live import LiveTf
from gpuconform.frameworks.tensorflow.log import TfLog
from gpuconform.frameworks.tensorflow.log import parse_log
from gpuconform.frameworks.tensorflow.observations import HoldReport
from gpuconform.probes.gpumem import MIB
from gpuconform.probes.gpumem import Footprint
from gpuconform.probes.gpumem import footprint

MODULE = "memory"
#: The experiment and the environment of each mode. Variables that would change TF's
#: allocator are cleared for every mode but the one that sets them, so that "default"
#: measures TensorFlow's default and not this shell's.
MODES: dict[str, tuple[str, dict[str, str]]] = {
    "default": ("hold_default", {}),
    "set_memory_growth": ("hold_growth", {}),
    "TF_FORCE_GPU_ALLOW_GROWTH": ("hold_default", {"TF_FORCE_GPU_ALLOW_GROWTH": "true"}),
    "memory_limit": ("hold_limit", {}),
}
CLEARED = ("TF_FORCE_GPU_ALLOW_GROWTH", "TF_GPU_ALLOCATOR")


@dataclass(frozen=True)
class HeldChild:
    """One child of a run: its own report, how it ended, and its log."""

    pid: int
    report: HoldReport | None = None  # None: it never got ready
    problem: str | None = None  # why it did not get ready or did not end cleanly
    log_text: str = ""

    @property
    def log(self) -> TfLog:
        return parse_log(self.log_text)


@dataclass(frozen=True)
class MemoryRun:
    """The children of one mode on one GPU, and NVML before and while they held memory."""

    mode: str
    gpu: GpuFacts
    children: tuple[HeldChild, ...]
    before: NvmlMemory
    during: NvmlMemory
    limit_mb: int | None = None

    @property
    def footprint(self) -> Footprint:
        return footprint([c.pid for c in self.children], self.gpu.index, self.before, self.during)

    @property
    def total_bytes(self) -> int | None:
        gpu = self.before.gpu(self.gpu.index) or self.during.gpu(self.gpu.index)
        if gpu is not None and gpu.total_bytes is not None:
            return gpu.total_bytes
        return None if self.gpu.memory_total_mib is None else self.gpu.memory_total_mib * MIB

    @property
    def free_before_bytes(self) -> int | None:
        gpu = self.before.gpu(self.gpu.index)
        if gpu is None or gpu.total_bytes is None or gpu.used_bytes is None:
            return self.total_bytes
        return gpu.total_bytes - gpu.used_bytes


def system_reserve_mib(available_mib: int, cc_major: int) -> int:
    """What TF's BFC allocator leaves free by default (MinSystemMemory, opt builds)."""
    if available_mib < 2048:
        return 225
    if cc_major <= 6:
        return 500
    if cc_major == 7:
        return 1050
    if cc_major == 8:
        return 1536
    return 1800


def child_env(live: LiveTf, gpu: GpuFacts, extra: Mapping[str, str]) -> dict[str, str | None]:
    """Show the child only `gpu` (by UUID when known, so the CUDA order does not matter); None removes a variable."""
    env: dict[str, str | None] = {name: None for name in CLEARED}
    env.update(live.env())
    env.update({VISIBLE: gpu.uuid or str(gpu.index), ORDER: "PCI_BUS_ID", "TF_CPP_MIN_LOG_LEVEL": "0"})
    env.update(extra)
    return env


def run_mode(live: LiveTf, gpu: GpuFacts, mode: str, *, copies: int = 1, limit_mb: int | None = None) -> MemoryRun:
    """Measure `copies` children of `mode` holding GPU `gpu` at once (or replay the recorded measurement)."""
    name, extra = MODES[mode]
    env = child_env(live, gpu, {**extra, **({"GPUCONFORM_MEMORY_LIMIT_MB": str(limit_mb)} if limit_mb else {})})
    if live.runner.live:
        observed = _measure(live, gpu, mode, name, env, copies, limit_mb)
        live.runner.memory_runs.append(observed)
    else:
        added = {k: v for k, v in env.items() if v is not None}
        observed = live.recorded_memory_run(MODULE, mode, gpu.index, added, copies, limit_mb)
    return memory_run(observed, gpu)


def _measure(
    live: LiveTf, gpu: GpuFacts, mode: str, name: str, env: Mapping[str, str | None], copies: int, limit_mb: int | None
) -> ObservedMemoryRun:
    return measure_holds(
        FRAMEWORK,
        MODULE,
        mode,
        name,
        gpu.index,
        env,
        copies=copies,
        limit_mb=limit_mb,
        timeout=live.timeout,
        probe_timeout=live.probe_timeout,
        lock=live.gpu_lock(),
    )


def memory_run(observed: ObservedMemoryRun, gpu: GpuFacts) -> MemoryRun:
    """The MemoryRun the checks judge, from what was observed (live or recorded); DataError for a bad report."""
    children = tuple(
        HeldChild(c.pid, load(HoldReport, c.report, f"memory child {c.pid}") if c.ready else None, c.problem, c.log)
        for c in observed.children
    )
    return MemoryRun(observed.mode, gpu, children, observed.before, observed.during, observed.limit_mb)


#: With memory growth, a small model's process holds its CUDA context, the cuBLAS/cuDNN
#: handles and kernels, and a few MiB of tensors: well under this (or half a small card).
GROWTH_CEILING_MIB = 2048
#: The memory_limit the limit check configures, and what a process holds outside TF's
#: allocator on top of it (context, library handles and kernels).
LIMIT_MB = 1024
LIMIT_OVERHEAD_MIB = 1024
#: By default TF takes the free memory minus its system reserve; "most of the card" is this share of that.
DEFAULT_MIN_SHARE = 0.8


def growth_ceiling_mib(run: MemoryRun) -> int:
    """The most a small model's process may hold with memory growth on this GPU."""
    total = run.total_bytes
    return GROWTH_CEILING_MIB if total is None else min(GROWTH_CEILING_MIB, total // MIB // 2)


def default_expectation_mib(run: MemoryRun) -> int | None:
    """About what TF's default reserves on an idle GPU: total minus the system reserve."""
    total = run.total_bytes
    if total is None:
        return None
    cc_major = run.gpu.compute_capability[0] if run.gpu.compute_capability else 7
    return total // MIB - system_reserve_mib(total // MIB, cc_major)
