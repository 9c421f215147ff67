"""The placement layer's judgements of PyTorch's and JAX's op runs: what fails, and the fix.

Each takes what a framework's placement child answered (`gpuconform.frameworks.agreement.OpAgreements`)
and returns the Finding its check fails (or warns) with, or None; the tolerances and the
reasons for them are `gpuconform.frameworks.agreement`'s.
"""

from __future__ import annotations

from gpuconform.frameworks.agreement import TF32_RELATIVE_TOLERANCE
from gpuconform.frameworks.agreement import OpAgreement
from gpuconform.frameworks.agreement import OpAgreements
from gpuconform.frameworks.agreement import agreement_problem
from gpuconform.frameworks.agreement import relative_tolerance
from gpuconform.verdict.check import Finding

HEALTH_FIX = "check dmesg for Xid errors and run the driver layer's health checks (pytest -m driver)"


def _expected(run: OpAgreement) -> str:
    tf32 = f" (TF32 allowed: {TF32_RELATIVE_TOLERANCE:g})" if run.tf32 and run.dtype == "float32" else ""
    return (
        f"{run.op} ({run.dtype}) returns its result on {run.device} and matches {run.reference} within "
        f"{relative_tolerance(run.dtype, run.tf32):g} x max |reference|{tf32}"
    )


def _found(run: OpAgreement) -> str:
    if run.error:
        return run.error
    nan = f", {run.non_finite} NaN or infinite value(s)" if run.non_finite else ""
    return (
        f"result on {run.result_device}, max abs error {run.max_abs_error} (max |reference| {run.reference_scale})"
        f"{nan}, TF32 allowed {run.tf32}"
    )


def cpu_runs(name: str, runs: OpAgreements, source: str, fix: str) -> Finding | None:
    """`name`'s ops on the CPU device ran there and match NumPy float64."""
    if not runs.runs:
        return Finding(
            f"the {name} CPU placement experiment ran no op",
            expected="matmul and conv2d results from the CPU device",
            found=runs.error or "no results",
            source=source,
            why="nothing was placed, so nothing was proven",
            fix=fix,
        )
    for run in runs.runs:
        problem = agreement_problem(run)
        if problem is not None:
            return Finding(
                f"{name}: {problem}",
                expected=_expected(run),
                found=_found(run),
                source=source,
                why="explicit placement is how users pin work to a device; a wrong device or result breaks every model",
                fix=fix,
            )
    return None


def gpu_runs(name: str, runs: OpAgreements, source: str, no_kernel_check: str) -> Finding | None:
    """`name`'s ops on every GPU it lists returned there and agree with its CPU result."""
    on_gpus = [r for r in runs.runs if r.device in runs.devices]
    if not on_gpus:
        failed = next((r.error for r in runs.runs if r.error), None)
        return Finding(
            f"no {name} op ran on a GPU",
            expected="matmul and conv2d on every GPU the framework lists",
            found=failed or runs.error or f"{name} listed no GPU to the placement child",
            source=source,
            why="the framework layer saw the GPUs, but this child could not use them",
            fix="re-run; if it persists, read the child's log and the framework layer's failures",
        )
    for run in runs.runs:
        problem = agreement_problem(run)
        if problem is None:
            continue
        fix = HEALTH_FIX
        if run.error and "no kernel image" in run.error:
            fix = f"see {no_kernel_check}: this build has no kernels for the GPU"
        elif run.tf32 is False and run.dtype == "float32" and _within_tf32(run):
            fix = (
                "the error is the size TensorFloat-32 gives although TF32 is off for this op: look for "
                "NVIDIA_TF32_OVERRIDE / TORCH_ALLOW_TF32_CUBLAS_OVERRIDE or library code enabling TF32; "
                + HEALTH_FIX
            )
        return Finding(
            f"{name}: {problem}",
            expected=_expected(run),
            found=_found(run),
            source=source,
            why="a GPU that computes wrong results, or silently does not compute at all, fails every model on it",
            fix=fix,
        )
    return None


def _within_tf32(run: OpAgreement) -> bool:
    if run.max_abs_error is None or run.reference_scale is None:
        return False
    return run.max_abs_error <= TF32_RELATIVE_TOLERANCE * max(run.reference_scale, 1.0)
