"""Whether an op's result on a device agrees with its reference: the dtype tolerances every framework is held to.

An experiment runs an op (matmul, conv2d) on a device and compares the result with a reference
(NumPy in float64 for a CPU run, the framework's own CPU result for a GPU run); the parent judges
the largest absolute error against a tolerance relative to the reference's largest magnitude.

The tolerances, and why they are what they are:

- float32 1e-4: CPU and GPU sum in different orders (blocked GEMM, split-K, Winograd and FFT
  convolutions); for the shapes used (sums of 27 to 96 products) that moves the result by a few
  float32 ulps (2**-24 each) of the largest partial sums, well under 1e-4.
- float32 with TensorFloat-32 5e-3: TF32 rounds each float32 input to 10 mantissa bits (a
  relative rounding of up to 2**-11, about 4.9e-4 per input) and accumulates in float32, so a
  product carries up to about 1e-3 relative error and a sum of them a few 1e-3 of its largest term.
- float16 1e-2: the result itself is stored with 10 mantissa bits (up to 2**-11 relative) after
  accumulating in float16 or float32, which is several 1e-3 of the largest magnitude.
- bfloat16 5e-2 (7 mantissa bits), float64 1e-10.

TensorFlow's placement checks use the same table (`gpuconform.frameworks.tensorflow.placement`).
"""

from __future__ import annotations

from dataclasses import dataclass

#: Largest error tolerated relative to the reference's largest magnitude, by dtype.
RELATIVE_TOLERANCE = {"float32": 1e-4, "float16": 1e-2, "bfloat16": 5e-2, "float64": 1e-10}
#: The float32 tolerance where the op may use TensorFloat-32.
TF32_RELATIVE_TOLERANCE = 5e-3


def relative_tolerance(dtype: str, tf32: bool) -> float:
    """The relative tolerance of a result in `dtype`; TF32 loosens float32 only."""
    if dtype == "float32" and tf32:
        return TF32_RELATIVE_TOLERANCE
    return RELATIVE_TOLERANCE.get(dtype, 1e-2)


@dataclass(frozen=True)
class OpAgreement:
    """One op run on one device, against its reference (a framework's own device names: "cuda:0", "gpu:0")."""

    op: str  # "matmul", "conv2d"
    dtype: str  # "float32", "float16"
    device: str  # where it was asked to run
    reference: str  # "numpy float64", "the cpu result"
    result_device: str | None = None  # where the result is
    max_abs_error: float | None = None
    reference_scale: float | None = None  # the reference's largest magnitude
    tf32: bool = False  # the op was allowed TensorFloat-32 there (the framework's setting and the GPU)
    error: str | None = None  # what running it raised
    non_finite: int = 0  # NaN or inf values in the result (JSON carries none: counted instead)

    @property
    def tolerance(self) -> float:
        return relative_tolerance(self.dtype, self.tf32)

    @property
    def label(self) -> str:
        return f"{self.op} ({self.dtype}) on {self.device}"


@dataclass(frozen=True)
class OpAgreements:
    """The op runs of one experiment, and the devices the framework listed for it."""

    runs: tuple[OpAgreement, ...] = ()
    devices: tuple[str, ...] = ()
    error: str | None = None  # why no device could be listed


def agreement_problem(run: OpAgreement) -> str | None:
    """Why a run does not conform (it raised, ran elsewhere, or its result is off), or None."""
    if run.error is not None:
        return f"{run.label} raised {run.error.splitlines()[0][:300]}"
    if run.result_device != run.device:
        return f"{run.label} returned its result on {run.result_device or 'an unknown device'}"
    if run.non_finite:
        return f"{run.label} returned {run.non_finite} NaN or infinite value(s); {run.reference} has none"
    if run.max_abs_error is None or run.reference_scale is None:
        return f"{run.label} returned no result to compare"
    allowed = run.tolerance * max(run.reference_scale, 1.0)
    if not run.max_abs_error <= allowed:  # `not <=` so that NaN fails too
        return (
            f"{run.label} differs from {run.reference} by {run.max_abs_error:.3g} "
            f"(allowed {allowed:.3g}: {run.tolerance:g} x max |reference| {run.reference_scale:.3g}"
            f"{', TF32' if run.tf32 and run.dtype == 'float32' else ''})"
        )
    return None
