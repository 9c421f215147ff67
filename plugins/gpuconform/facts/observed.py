"""What the framework children observed: their answers, their logs, and the memory runs measured from outside.

Part of the Facts tree (`gpuconform.facts.model.Facts.observations` and `.memory_runs`), so that
replaying a Facts file reproduces the framework, placement and memory verdicts.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
from typing import Any

from gpuconform.facts.base import ProbeError


@dataclass(frozen=True)
class ObservedResult:
    """One experiment's answer in a framework child: a value, what it raised, or the crash."""

    name: str
    ok: bool
    value: Any = None
    error_type: str | None = None
    error: str | None = None
    crash: ProbeError | None = None


@dataclass(frozen=True)
class ObservedBatch:
    """One framework child (a batch of experiments under one environment) and what it said.

    Recorded in facts.json so that replaying a file reproduces the framework, placement and
    memory verdicts, and written by hand for a described host (`gpuconform facts from-spec`).
    """

    framework: str  # "tensorflow"
    module: str  # the experiments module, "framework"
    env: tuple[tuple[str, str], ...] = ()  # what the child's environment added (gpuconform's directory: <gpuconform>)
    results: tuple[ObservedResult, ...] = ()
    log: str = ""  # the child's stderr (the framework's own log), capped
    returncode: int | None = 0
    timed_out: bool = False


@dataclass(frozen=True)
class GpuProcess:
    """One compute process NVML lists on a GPU."""

    pid: int
    used_bytes: int | None = None  # None: NVML_VALUE_NOT_AVAILABLE


@dataclass(frozen=True)
class GpuMemory:
    """One GPU's memory as NVML reports it at one moment."""

    index: int
    total_bytes: int | None = None
    used_bytes: int | None = None
    processes: tuple[GpuProcess, ...] = ()
    processes_error: ProbeError | None = None
    error: ProbeError | None = None  # the handle or the memory info could not be read


@dataclass(frozen=True)
class NvmlMemory:
    """A snapshot of every GPU's memory (`gpuconform.probes.gpumem`), or why NVML could not be asked."""

    init_error: ProbeError | None = None
    gpus: tuple[GpuMemory, ...] = ()

    def gpu(self, index: int) -> GpuMemory | None:
        return next((g for g in self.gpus if g.index == index), None)


@dataclass(frozen=True)
class ObservedHold:
    """One child of a memory run: what it said once it held its allocation, how it ended, its log."""

    pid: int  # as this process saw it (NVML's per-process accounting is matched against it)
    ready: bool = False  # it reported that it holds its allocation
    report: Any = None  # what it reported then (its own view of its memory), as it printed it
    problem: str | None = None  # why it did not get ready or did not end cleanly
    log: str = ""  # its stderr (the framework's own log), capped


@dataclass(frozen=True)
class ObservedMemoryRun:
    """Children of one memory mode holding one GPU at once, and NVML before and while they held it.

    Recorded in facts.json so that replaying a file reproduces the memory verdicts; the memory
    layer matches a run by module, mode, GPU, number of children, limit and environment.
    """

    framework: str  # "tensorflow"
    module: str  # the experiments module, "memory"
    mode: str  # "default", "set_memory_growth", ...
    gpu: int  # the NVML index of the GPU held
    env: tuple[tuple[str, str], ...] = ()  # what each child's environment added
    limit_mb: int | None = None
    children: tuple[ObservedHold, ...] = ()
    before: NvmlMemory = field(default_factory=NvmlMemory)
    during: NvmlMemory = field(default_factory=NvmlMemory)
