"""A framework's children as a check asks for them: this worker's GPU pin and lock, replay, and answers.

The framework-neutral face of `gpuconform.frameworks.children.Runner` for the checks of PyTorch
and JAX (TensorFlow's own is `gpuconform.frameworks.tensorflow.live.LiveTf`, which holds the same
lock). A child's answer that cannot be read (the import failed, the child crashed, the experiment
raised, or it answered in another shape) makes the check an error, never a judgement on garbage.
"""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from gpuconform.facts.errors import DataError
from gpuconform.facts.model import GpuFacts
from gpuconform.facts.model import PackageInfo
from gpuconform.facts.observed import ObservedMemoryRun
from gpuconform.facts.serde import load
from gpuconform.frameworks.children import Batch
from gpuconform.frameworks.children import NotRecorded
from gpuconform.frameworks.children import Runner
from gpuconform.frameworks.devices import ORDER
from gpuconform.frameworks.devices import VISIBLE
from gpuconform.frameworks.devices import pinned_env
from gpuconform.frameworks.measure import measure_holds
from gpuconform.probes.child import DEFAULT_TIMEOUT
from gpuconform.verdict.check import could_not_check
from gpuconform.verdict.check import experiment_raised
from gpuconform.verdict.check import live_only

T = TypeVar("T")


@contextlib.contextmanager
def gpu_lock(lock_dir: Path | None, pin: int | None) -> Iterator[None]:
    """Exclusive use of a worker's GPUs among the xdist workers of a run, whatever framework (a no-op when serial)."""
    if lock_dir is None:
        yield
        return
    name = f"gpu{pin}.lock" if pin is not None else "gpus.lock"
    with open(lock_dir / name, "a+b") as handle:
        # Blocks while another worker runs a child on the same GPU; that child is itself bounded
        # by its timeout, so the wait is too.
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@dataclass(frozen=True)
class LiveChildren:
    """One framework's children for this run, as this worker must start them."""

    runner: Runner
    installed: PackageInfo  # the framework's distribution
    pin: int | None = None  # the NVML index this worker is pinned to
    lock_dir: Path | None = None  # shared by the xdist workers of this run
    probe_timeout: float = DEFAULT_TIMEOUT  # --host-probe-timeout: one NVML child

    @property
    def name(self) -> str:
        return self.runner.framework.name

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """The environment additions of a child: the pin first, so `extra` may narrow it further."""
        return {**pinned_env(self.pin), **(extra or {})}

    def batch(self, module: str, names: Sequence[str], extra: Mapping[str, str] | None = None) -> Batch:
        """Run (once per run) experiments `names` of `module` in one child, holding the GPU lock; or replay it."""
        if not self.runner.live:
            try:
                return self.runner.batch(module, names, self.env(extra))
            except NotRecorded as exc:
                live_only(f"{self.name} runs in child processes of the live host; {exc}")
        with gpu_lock(self.lock_dir, self.pin):
            return self.runner.batch(module, names, self.env(extra))

    def start(self, module: str, names: Sequence[str], extra: Mapping[str, str] | None = None) -> None:
        """Start the batch `batch` would run, now, without waiting for it (live runs only)."""
        self.runner.start(module, names, self.env(extra))

    def memory_run(
        self,
        module: str,
        mode: str,
        name: str,
        gpu: GpuFacts,
        extra: Mapping[str, str | None],
        *,
        copies: int = 1,
        limit_mb: int | None = None,
    ) -> ObservedMemoryRun:
        """`copies` children of experiment `name` holding `gpu` at once, measured with NVML (or the recorded run).

        Each child is shown only that GPU (by UUID when known, so the CUDA order does not matter);
        `extra` adds variables, a None value removes one from the child's environment.
        """
        env: dict[str, str | None] = {**self.env(), VISIBLE: gpu.uuid or str(gpu.index), ORDER: "PCI_BUS_ID"}
        env.update(extra)
        if not self.runner.live:
            added = {k: v for k, v in env.items() if v is not None}
            try:
                if self.runner.replay is None:
                    raise NotRecorded("no memory runs are recorded")
                return self.runner.replay.memory_run(module, mode, gpu.index, added, copies, limit_mb)
            except NotRecorded as exc:
                live_only(f"{self.name} runs in child processes of the live host; {exc}")
        run = measure_holds(
            self.runner.framework,
            module,
            mode,
            name,
            gpu.index,
            env,
            copies=copies,
            limit_mb=limit_mb,
            timeout=self.runner.timeout,
            probe_timeout=self.probe_timeout,
            lock=gpu_lock(self.lock_dir, self.pin),
        )
        self.runner.memory_runs.append(run)
        return run

    def source(self, module: str) -> str:
        """'a PyTorch child process (gpuconform.frameworks.torch.experiments.framework)', for messages."""
        return f"a {self.name} child process ({self.runner.framework.describe(module)})"

    def observe(self, batch: Batch, name: str, cls: type[T]) -> T:
        """Experiment `name`'s observation, or an error (call it from a fixture): could not check."""
        source = self.source(batch.module)
        if batch.import_error:
            could_not_check(self.name, f"the import failed: {batch.import_error}", source=source)
        result = batch[name]
        if result.crash is not None:
            could_not_check(f"{self.name} ({name})", f"{result.crash.kind}: {result.crash.message}", source=source)
        if not result.ok:
            experiment_raised(f"{self.name} ({name})", result.error_type, result.error, source=source)
        try:
            return load(cls, result.value, f"{self.name} child ({name})")
        except DataError as exc:
            could_not_check(f"{self.name} ({name})", exc, source=source)
