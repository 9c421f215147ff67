"""The determinism judgements PyTorch's and JAX's checks share: repeats, goldens on the CPU and on each GPU.

Each takes what a framework's determinism children answered (`gpuconform.frameworks.reference`)
and says what is wrong, as a Finding, or None. What differs between frameworks (the switch that
makes it deterministic, its TF32 switches, the pip command) comes in as words from the suite.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gpuconform.frameworks.reference import GpuOutputs
from gpuconform.frameworks.reference import Outputs
from gpuconform.frameworks.reference import ReferenceModel
from gpuconform.frameworks.reference import ReferenceRun
from gpuconform.frameworks.reference import Repeats
from gpuconform.frameworks.reference import Tolerance
from gpuconform.frameworks.reference import max_abs_diff
from gpuconform.frameworks.reference import mismatch
from gpuconform.frameworks.reference_agreement import FRAMEWORK_CPU
from gpuconform.verdict.check import Finding

#: Golden outputs on a GPU computing in full fp32 (TF32 off, or a GPU older than compute capability 8.0).
GPU = Tolerance(1e-4, 1e-5, "fp32 on a GPU: cuDNN and cuBLAS pick other algorithms and summation orders than the CPU")
#: Golden outputs on a GPU where TF32 is allowed (from compute capability 8.0).
GPU_TF32 = Tolerance(
    1e-2,
    2e-3,
    "TF32 rounds the inputs of convolutions and matrix multiplies to a 10-bit mantissa (relative error about "
    "1e-3 per product)",
)
TF32_MIN_CC = (8, 0)


def gpu_tolerance(gpu: GpuOutputs) -> Tolerance:
    return GPU_TF32 if gpu.tf32 and tuple(gpu.capability) >= TF32_MIN_CC else GPU


@dataclass(frozen=True)
class Words:
    """What a framework's messages say of it."""

    name: str  # "PyTorch"
    switch: str  # "torch.use_deterministic_algorithms(True) and CUBLAS_WORKSPACE_CONFIG=:4096:8"
    source: str  # "PyTorch children (gpuconform.frameworks.torch.experiments.determinism)"
    pin: str  # "pip install 'torch==2.13.0'": a release to go back to
    full_fp32: str  # how to turn TF32 off: "torch.backends.cudnn.allow_tf32 = False ..."


def repeats_within(words: Words, repeats: Repeats, run: ReferenceRun) -> Finding | None:
    """Five inferences in one process give one digest, on each device."""
    varied = [r for r in repeats.devices if len(set(r.digests)) > 1]
    if not varied:
        return None
    first = varied[0]
    return Finding(
        f"{len(first.digests)} inferences of the same batch in one {words.name} process gave "
        f"{len(set(first.digests))} different outputs on {first.device}",
        expected=f"bit-for-bit equal outputs with {words.switch}",
        found="; ".join(f"{r.device}: SHA-256 " + ", ".join(d[:12] for d in r.digests) for r in varied),
        source=f"{words.source}; {run.describe()}",
        why=f"with {words.switch}, {words.name} runs only deterministic kernels: same inputs, same bits",
        fix=f"look for what overrides the settings in the environment and report the {words.name} version and "
        f"the device; meanwhile pin a release that passes: {words.pin}",
    )


def repeats_across(
    words: Words,
    first: Outputs,
    second: Outputs,
    first_gpus: Sequence[GpuOutputs],
    second_gpus: Sequence[GpuOutputs],
    run: ReferenceRun,
) -> Finding | None:
    """Two processes give bit-for-bit the same outputs on the CPU and on each GPU."""
    differ = []
    if first.digest != second.digest:
        differ.append(
            f"cpu: SHA-256 {first.digest[:12]} and {second.digest[:12]}, "
            f"max |diff| {max_abs_diff(second.outputs, first.outputs):.3g}"
        )
    by_device = {g.device: g for g in second_gpus}
    for gpu in first_gpus:
        other = by_device.get(gpu.device)
        if other is not None and other.digest != gpu.digest:
            worst = max_abs_diff(other.outputs, gpu.outputs)
            differ.append(f"{gpu.device}: SHA-256 {gpu.digest[:12]} and {other.digest[:12]}, max |diff| {worst:.3g}")
    if not differ:
        return None
    return Finding(
        f"two {words.name} processes computed different outputs for the same model and batch",
        expected=f"bit-for-bit equal outputs in two processes, both with {words.switch}",
        found="; ".join(differ),
        source=f"two {words.source}; {run.describe()}",
        why="replicas of a service, and reruns of a job, must agree; with deterministic kernels they run the same code",
        fix=f"set the same determinism settings in every replica ({words.switch}) and check nothing else differs "
        "between them (the environment, the thread count)",
    )


def golden_on_cpu(words: Words, found: Outputs, reference: ReferenceModel, run: ReferenceRun) -> Finding | None:
    """The CPU outputs are within FRAMEWORK_CPU of the goldens."""
    m = mismatch(found.outputs, reference.golden, FRAMEWORK_CPU)
    if m is None:
        return None
    r = reference.recorded_with
    return Finding(
        f"the reference model's CPU outputs in {words.name} differ from the goldens beyond {FRAMEWORK_CPU}",
        expected=f"the goldens recorded with TensorFlow {r.tensorflow} on {r.device}, within {FRAMEWORK_CPU}: "
        f"{FRAMEWORK_CPU.why}",
        found=str(m),
        source=f"{words.source}; {run.describe()}",
        why="the same weights and inputs must give the same probabilities in every framework; a larger difference "
        "is a numerics change, or a framework computing another model, and moves predictions",
        fix=f"compare with the other frameworks (determinism::frameworks_agree_on_the_reference_model); if only "
        f"{words.name} is off, pin a release that matches: {words.pin}",
    )


def golden_on_gpus(words: Words, gpus: Sequence[GpuOutputs], reference: ReferenceModel) -> Finding | None:
    """Each GPU's outputs are within its tolerance (TF32-aware) of the goldens."""
    problems = []
    for gpu in gpus:
        tol = gpu_tolerance(gpu)
        m = mismatch(gpu.outputs, reference.golden, tol)
        if m is not None:
            problems.append((gpu, tol, m))
    if not problems:
        return None
    gpu, tol, _ = problems[0]
    cc = ".".join(map(str, gpu.capability))
    return Finding(
        f"the reference model's outputs in {words.name} on {gpu.device} ({gpu.name}) differ from the goldens "
        f"beyond {tol}",
        expected=f"the goldens within {tol} for a GPU with TF32 {'allowed' if gpu.tf32 else 'off'} "
        f"({gpu.switches}) and compute capability {cc}: {tol.why}",
        found="; ".join(f"{g.device}: {mm}" for g, _, mm in problems),
        source=words.source,
        why="a GPU that computes wrong results (a bad kernel, a failing card, a library mismatch) passes every "
        "placement check and still serves wrong predictions",
        fix="compare with another GPU of the same model and check `nvidia-smi -q -d ECC`; if the card is healthy, "
        f"pin a {words.name} whose outputs match ({words.pin}); {words.full_fp32} gives full fp32",
    )
