"""One memory measurement of any framework: children holding a GPU, seen by NVML from outside before and during.

`measure_holds` takes an NVML snapshot, starts the children (each holding its allocation until
released: `gpuconform.frameworks.hold`), snapshots NVML again once they are ready, and releases
them; what it saw is an `ObservedMemoryRun` keyed by the framework's id, which facts.json records
and a replay answers from. NVML is read in a child of its own (`gpuconform.probes.gpumem`), never
in the pytest process. Each framework judges the run its own way (TensorFlow:
`gpuconform.frameworks.tensorflow.memory`; PyTorch and JAX: their `memory` modules).
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Generic
from typing import Protocol
from typing import TypeVar

from gpuconform.facts import serde
from gpuconform.facts.model import GpuFacts
from gpuconform.facts.observed import NvmlMemory
from gpuconform.facts.observed import ObservedHold
from gpuconform.facts.observed import ObservedMemoryRun
from gpuconform.facts.text import clean
from gpuconform.facts.text import clean_tree
from gpuconform.frameworks.base import Framework
from gpuconform.frameworks.children import Batch
from gpuconform.frameworks.hold import hold
from gpuconform.frameworks.replay import portable
from gpuconform.frameworks.replay import report_log
from gpuconform.probes.gpumem import MIB
from gpuconform.probes.gpumem import Footprint
from gpuconform.probes.gpumem import footprint
from gpuconform.probes.gpumem import measure

R = TypeVar("R")


def measure_holds(
    framework: Framework,
    module: str,
    mode: str,
    name: str,
    gpu: int,
    env: Mapping[str, str | None],
    *,
    copies: int,
    limit_mb: int | None,
    timeout: float,
    probe_timeout: float,
    lock: contextlib.AbstractContextManager[None],
) -> ObservedMemoryRun:
    """Run `copies` children of experiment `name` at once on NVML GPU `gpu`, measured before and while they hold."""
    with lock:
        before = measure(timeout=probe_timeout)
        with contextlib.ExitStack() as stack:
            held = [
                stack.enter_context(hold(framework, module, name, env=env, timeout=timeout)) for _ in range(copies)
            ]
            during = measure(timeout=probe_timeout) if any(h.ready for h in held) else before
    children = []
    for h in held:
        assert h.batch is not None
        report = clean_tree(h.ready_value) if h.ready else None
        problem = why_not(h.batch, name, framework)
        log = report_log(h.batch.log, framework.id)
        children.append(ObservedHold(h.pid, h.ready, report, None if problem is None else clean(problem), log))
    added = portable((k, v) for k, v in env.items() if v is not None)
    # Text from the children is cleaned once, here, so the checks judge exactly what facts.json records.
    run = ObservedMemoryRun(framework.id, module, mode, gpu, added, limit_mb, tuple(children), before, during)
    return serde.map_strings(run, clean)


def why_not(batch: Batch, name: str, framework: Framework) -> str | None:
    """Why a child did not answer cleanly: import, crash or timeout, or an exception."""
    if batch.import_error:
        return f"import {framework.id} failed: {batch.import_error}"
    result = batch[name]
    if result.crash is not None:
        return f"{result.crash.kind}: {result.crash.message}"
    if not result.ok:
        return f"{result.error_type}: {result.error}"
    return None


@dataclass(frozen=True)
class HeldChild(Generic[R]):
    """One child of a run as a framework's checks read it: its own report (None: it never got ready)."""

    pid: int
    report: R | None = None
    problem: str | None = None  # why it did not get ready or did not end cleanly
    log: str = ""


@dataclass(frozen=True)
class HeldRun(Generic[R]):
    """The children of one mode on one GPU, and NVML before and while they held memory."""

    mode: str
    gpu: GpuFacts
    children: tuple[HeldChild[R], ...]
    before: NvmlMemory
    during: NvmlMemory

    @property
    def footprint(self) -> Footprint:
        return footprint([c.pid for c in self.children], self.gpu.index, self.before, self.during)

    @property
    def total_mib(self) -> int | None:
        """The GPU's memory as NVML measured it, else as the driver layer recorded it."""
        gpu = self.before.gpu(self.gpu.index) or self.during.gpu(self.gpu.index)
        if gpu is not None and gpu.total_bytes is not None:
            return gpu.total_bytes // MIB
        return self.gpu.memory_total_mib

    @property
    def used_before_mib(self) -> int | None:
        """What other processes held before the children started."""
        gpu = self.before.gpu(self.gpu.index)
        return None if gpu is None or gpu.used_bytes is None else gpu.used_bytes // MIB

    @property
    def label(self) -> str:
        return f"GPU {self.gpu.index} ({self.gpu.name})"


def held_run(observed: ObservedMemoryRun, gpu: GpuFacts, report: type[R]) -> HeldRun[R]:
    """The run a framework's checks judge, its children's reports read as `report`; DataError for a bad one."""
    children = tuple(
        HeldChild(c.pid, serde.load(report, c.report, f"memory child {c.pid}") if c.ready else None, c.problem, c.log)
        for c in observed.children
    )
    return HeldRun(observed.mode, gpu, children, observed.before, observed.during)


class _Reporting(Protocol):
    @property
    def error(self) -> str | None: ...


E = TypeVar("E", bound=_Reporting)


def failed_child(run: HeldRun[E]) -> tuple[str, str] | None:
    """The first child of `run` that never held its allocation, ended badly or reported an error: which one
    ("child 2 of 2", "the child") and why; None when every child held and ended cleanly."""
    for position, child in enumerate(run.children):
        report = child.report
        problem = child.problem or (report.error if report is not None else None)
        if report is not None and problem is None:
            continue
        nth = f"child {position + 1} of {len(run.children)}" if len(run.children) > 1 else "the child"
        return nth, problem or "it never reported"
    return None
