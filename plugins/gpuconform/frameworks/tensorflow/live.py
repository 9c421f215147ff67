"""The live TensorFlow side of a check: skip reasons, this worker's GPU pin, the GPU lock, and batches.

Checks of the framework, placement and memory layers get a `LiveTf` from a
fixture. It skips the check when TensorFlow is not installed, adds the worker's
CUDA_VISIBLE_DEVICES pin (``--host-gpu-per-worker``) to every child, and holds
this worker's GPU lock while a child runs, so that two xdist workers never run
TensorFlow on the same GPU at once (see `gpuconform.plugin.xdist`). While facts
are replayed, a child is answered from the file's recorded children
(`gpuconform.frameworks.replay`), and a check whose child the file did not record skips as
needing the live host.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest

from gpuconform.expect.expectations import Expectations
from gpuconform.facts.errors import DataError
from gpuconform.facts.model import PackageInfo
from gpuconform.facts.observed import ObservedMemoryRun
from gpuconform.frameworks.children import Batch
from gpuconform.frameworks.children import NotRecorded
from gpuconform.frameworks.children import Planned
from gpuconform.frameworks.children import Runner
from gpuconform.frameworks.devices import pinned_env
from gpuconform.frameworks.live import gpu_lock
from gpuconform.frameworks.tensorflow.framework import FRAMEWORK
from gpuconform.frameworks.tensorflow.observations import observed
from gpuconform.verdict.check import blocked
from gpuconform.verdict.check import could_not_check
from gpuconform.verdict.check import experiment_raised
from gpuconform.verdict.check import live_only
from gpuconform.verdict.check import not_applicable

T = TypeVar("T")
MEASURED = "gpuconform.measured"


@dataclass(frozen=True)
class LiveTf:
    """TensorFlow children for this run, as this worker must start them."""

    runner: Runner
    tensorflow: PackageInfo
    timeout: float  # --host-tf-timeout: one TensorFlow child
    probe_timeout: float  # --host-probe-timeout: one NVML child
    pin: int | None = None  # the NVML index this worker is pinned to
    lock_dir: Path | None = None  # shared by the xdist workers of this run

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """The environment additions of a child: the pin first, so `extra` may narrow it further."""
        return {**pinned_env(self.pin), **(extra or {})}

    def batch(
        self,
        module: str,
        names: Sequence[str],
        extra: Mapping[str, str] | None = None,
        recorded_with: Mapping[str, str] | None = None,
    ) -> Batch:
        """Run (once per run) experiments `names` of `module` in one child, holding the GPU lock; or replay it.

        Replaying, a child recorded with `recorded_with` added to `extra` answers where none was recorded
        without (additions that change nothing the asking checks read).
        """
        if not self.runner.live:
            tries = [extra] if recorded_with is None else [extra, {**(extra or {}), **recorded_with}]
            missing: NotRecorded | None = None
            for env in tries:
                try:
                    return self.runner.batch(module, names, self.env(env))
                except NotRecorded as exc:
                    missing = missing or exc
            live_only(f"TensorFlow runs in child processes of the live host; {missing}")
        with self.gpu_lock():
            return self.runner.batch(module, names, self.env(extra))

    def planned(self, child: Planned, gpus: bool) -> Batch:
        """`child`'s batch where the profile expects GPUs (`gpus`) or not.

        Without GPUs, a facts file that recorded the child with its GPU-only additions answers too:
        0.1.0 added them on every profile, and only checks that apply where GPUs are expected read them.
        """
        module, names, env = child.args(gpus)
        return self.batch(module, names, env, None if gpus or not child.gpus_env else child.gpus_env)

    def start(self, module: str, names: Sequence[str], extra: Mapping[str, str] | None = None) -> None:
        """Start the batch `batch` would run, now, without waiting for it (live runs only)."""
        self.runner.start(module, names, self.env(extra))

    def recorded_memory_run(
        self, module: str, mode: str, gpu: int, env: Mapping[str, str], copies: int, limit_mb: int | None
    ) -> ObservedMemoryRun:
        """Replaying: the memory run the facts file recorded for these arguments, or skip as needing the live host."""
        try:
            if self.runner.replay is None:
                raise NotRecorded("no memory runs are recorded")
            return self.runner.replay.memory_run(module, mode, gpu, env, copies, limit_mb)
        except NotRecorded as exc:
            live_only(f"TensorFlow runs in child processes of the live host; {exc}")

    def gpu_lock(self) -> contextlib.AbstractContextManager[None]:
        """Exclusive use of this worker's GPUs among the workers of this run (a no-op when serial)."""
        return gpu_lock(self.lock_dir, self.pin)


def observe(batch: Batch, name: str, cls: type[T]) -> T:
    """Experiment `name`'s observation, or an error (call it from a fixture): could not check."""
    source = f"a TensorFlow child process ({FRAMEWORK.describe(batch.module)})"
    if batch.import_error:
        could_not_check("TensorFlow", f"import tensorflow failed: {batch.import_error}", source=source)
    result = batch[name]
    if result.crash is not None:
        could_not_check(f"TensorFlow ({name})", f"{result.crash.kind}: {result.crash.message}", source=source)
    if not result.ok:
        experiment_raised(f"TensorFlow ({name})", result.error_type, result.error, source=source)
    try:
        return observed(cls, result, name)
    except DataError as exc:
        could_not_check(f"TensorFlow ({name})", exc, source=source)


def recorder(node: pytest.Item) -> Callable[[str, object], None]:
    """`record(name, value)`: a measurement the check reports (JUnit properties, result.json), without judging it."""

    def record(name: str, value: object) -> None:
        node.user_properties.append((f"{MEASURED}.{name}", value))

    return record


#: The check that judges whether the installed build can use a GPU, and the one that judges which of two
#: installed builds `import tensorflow` loads: a check that needs a GPU build is blocked by one of them.
BUILD_CHECK = "framework::tensorflow_build_can_use_the_gpu"
IMPORTS_CHECK = "framework::tensorflow_imports_as_the_installed_distribution"


def no_cuda_summary(tf: PackageInfo) -> str:
    """The summary of BUILD_CHECK's failure: the check says it, and the checks it blocks repeat it."""
    return f"{tf.name} {tf.version} is installed on a GPU host: it has no CUDA support"


def gpu_build(expect: Expectations) -> str:
    """'tensorflow 2.21.0' when the profile expects GPUs and TF is a CUDA build.

    Otherwise the check skips: not applicable where the profile expects no GPU, TensorFlow is not
    installed or the profile accepts a CPU-only build; blocked where a CPU-only build sits on a profile
    that expects a GPU, since that is BUILD_CHECK's failure (IMPORTS_CHECK's, where two builds share
    the package), not a reason the check does not apply.
    """
    tf = expect.tensorflow
    if not expect.profile.expects_gpu:
        not_applicable(f"profile {expect.profile.name!r} expects no GPU")
    if tf is None:
        not_applicable("TensorFlow is not installed")
    if expect.tf_is_gpu_build:
        return f"{tf.name} {tf.version}"
    if expect.profile.tensorflow.gpu_build is False:
        not_applicable(f"profile {expect.profile.name!r} accepts a CPU-only TensorFlow")
    if expect.shadowing:
        names = " and ".join(f"{d.name} {d.version}" for d in expect.tf_distributions)
        blocked(IMPORTS_CHECK, f"{names} are installed at once, and {tf.name} is a CPU-only build")
    blocked(BUILD_CHECK, no_cuda_summary(tf))
