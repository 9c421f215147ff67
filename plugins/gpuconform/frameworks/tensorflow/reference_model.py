"""The reference model of the determinism layer, as the parent sees it: its manifest, goldens and tolerances.

The model's arrays live in `gpuconform/data/reference_model.bin` and are read only
in the TensorFlow child (`gpuconform.frameworks.tensorflow.experiments.determinism`); the manifest next
to it (`reference_model.json`) also holds the golden outputs, recorded on the CPU
with TF_ENABLE_ONEDNN_OPTS=0 by `tools/make_reference_model.py`. The parent compares
with plain floats, so the pytest process needs no numpy.

`GPUCONFORM_REFERENCE_MODEL` names another directory holding both files (to try a
re-recorded model, and for the self-tests that make the golden check fail).
"""

from __future__ import annotations

import importlib.resources
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from gpuconform.facts import serde
from gpuconform.facts.errors import DataError
from gpuconform.facts.tomlio import read_json

ENV_VAR = "GPUCONFORM_REFERENCE_MODEL"
MANIFEST = "reference_model.json"
FORMAT = 1

#: The experiments of `gpuconform.frameworks.tensorflow.experiments.determinism` the first child runs; the unseeded
#: random op goes first, before anything could set a seed.
FIRST_CHILD = (
    "unseeded_random_op",
    "environment",
    "repeat",
    "golden_cpu",
    "batch_invariance",
    "savedmodel_round_trip",
    "keras_round_trip",
    "edge_inputs",
    "wrong_shapes",
    "gpu_golden",
    "gpu_nondeterministic_op",
)
#: The second child's: just enough to compare its outputs with the first's, bit for bit.
SECOND_CHILD = ("environment", "golden_cpu")
NAN_ROW = 2  # the sample the edge-input experiment fills with NaNs
WRONG_SHAPES = {"spatial": (1, 13, 13, 3), "channels": (1, 12, 12, 1), "no_batch": (12, 12, 3)}


@dataclass(frozen=True)
class Tolerance:
    """numpy.allclose's rule: |found - golden| <= atol + rtol * |golden|; NaN is never close."""

    rtol: float
    atol: float
    why: str

    def __str__(self) -> str:
        return f"rtol {self.rtol:g}, atol {self.atol:g}"

    def close(self, found: float, golden: float) -> bool:
        return abs(found - golden) <= self.atol + self.rtol * abs(golden)


#: Golden outputs on the CPU, any release in the tox sweep (the outputs are probabilities in [0, 1]).
CPU = Tolerance(
    1e-5,
    1e-6,
    "fp32 on the CPU with oneDNN off: 2.12 to 2.21 reproduced the 2.21 goldens bit for bit on x86-64; "
    "other CPUs may take other Eigen kernels (AVX2, AVX-512, Arm), which sum in another order",
)
#: A sample alone against the same sample in the batch, in one process.
BATCH = Tolerance(
    1e-5,
    1e-6,
    "not bitwise: Eigen's matrix multiply blocks the work by batch size, so sums are ordered differently",
)
#: Golden outputs on a GPU computing in full fp32 (TF32 off, or a GPU older than compute capability 8.0).
GPU = Tolerance(1e-4, 1e-5, "fp32 on a GPU: cuDNN and cuBLAS pick other algorithms and summation orders than the CPU")
#: Golden outputs on a GPU with TF32 on (TensorFlow's default since 2.4, effective from compute capability 8.0).
GPU_TF32 = Tolerance(
    1e-2,
    2e-3,
    "TF32 rounds the inputs of convolutions and matrix multiplies to a 10-bit mantissa "
    "(relative error about 1e-3 per product); tf.config.experimental.enable_tensor_float_32_execution(False) "
    "gives full fp32",
)
TF32_MIN_CC = (8, 0)


def gpu_tolerance(tf32_enabled: bool, compute_capability: Sequence[int]) -> Tolerance:
    """The golden tolerance for a GPU: TF32's only where it is on and the GPU has TF32 tensor cores."""
    return GPU_TF32 if tf32_enabled and tuple(compute_capability) >= TF32_MIN_CC else GPU


@dataclass(frozen=True)
class ArraySpec:
    """Where one array lies in reference_model.bin."""

    name: str
    dtype: str  # numpy's little-endian spelling: "<f4", "|u1"
    shape: tuple[int, ...]
    offset: int


@dataclass(frozen=True)
class Recording:
    """Where the golden outputs were recorded."""

    tensorflow: str
    keras: str
    numpy: str
    python: str
    onednn_opts: str
    device: str


@dataclass(frozen=True)
class ReferenceModel:
    """reference_model.json."""

    format: int
    description: str
    architecture: str
    seed: int
    parameters: int
    input_shape: tuple[int, ...]
    weights: tuple[str, ...]  # array names in `set_weights` order
    arrays: tuple[ArraySpec, ...]
    bin_sha256: str
    golden: tuple[tuple[float, ...], ...]
    recorded_with: Recording


def reference_dir() -> Path:
    """The directory of the reference model: $GPUCONFORM_REFERENCE_MODEL, or the packaged data."""
    override = os.environ.get(ENV_VAR)
    if override:
        return Path(override)
    return Path(str(importlib.resources.files("gpuconform") / "data"))


def load_reference(directory: Path | None = None) -> ReferenceModel:
    """Read and validate the manifest; DataError names the file and the key."""
    path = (directory or reference_dir()) / MANIFEST
    model = serde.load(ReferenceModel, read_json(path), str(path))
    if model.format != FORMAT:
        raise DataError(str(path), "format", f"{model.format} is not a format this gpuconform reads", str(FORMAT))
    if not model.golden or any(len(row) != len(model.golden[0]) for row in model.golden):
        raise DataError(str(path), "golden", "is empty or ragged", "one list of outputs per input sample")
    if not all(math.isfinite(v) for row in model.golden for v in row):
        raise DataError(str(path), "golden", "holds a value that is not finite", "finite floats")
    return model


@dataclass(frozen=True)
class Mismatch:
    """How far outputs are from the expected ones under a tolerance."""

    outside: int  # values outside the tolerance
    total: int
    max_abs: float
    worst: str  # "output[2][1] = 0.31, expected 0.30"

    def __str__(self) -> str:
        outside = f"{self.outside} of {self.total} values outside the tolerance"
        return f"{outside}; max |diff| {self.max_abs:.3g} at {self.worst}"


def mismatch(found: Sequence[Sequence[float]], expected: Sequence[Sequence[float]], tol: Tolerance) -> Mismatch | None:
    """None when every value is close; otherwise the count and the worst value (NaN counts as worst)."""
    if len(found) != len(expected) or any(len(f) != len(e) for f, e in zip(found, expected)):
        n = sum(len(e) for e in expected)
        shape = f"{len(found)} x {len(found[0]) if found else 0}"
        return Mismatch(n, n, math.inf, f"the shape: {shape} outputs")
    outside, total, worst_diff, worst = 0, 0, -1.0, ""
    for i, (frow, erow) in enumerate(zip(found, expected)):
        for j, (f, e) in enumerate(zip(frow, erow)):
            total += 1
            diff = abs(f - e) if not math.isnan(f) else math.inf
            if not tol.close(f, e):
                outside += 1
            if diff > worst_diff:
                worst_diff, worst = diff, f"output[{i}][{j}] = {f!r}, expected {e!r}"
    return Mismatch(outside, total, worst_diff, worst) if outside else None


def max_abs_diff(found: Sequence[Sequence[float]], expected: Sequence[Sequence[float]]) -> float:
    """The largest |found - expected| (inf for NaN), for the report when everything is close."""
    return max(
        (abs(f - e) if not math.isnan(f) else math.inf for fr, er in zip(found, expected) for f, e in zip(fr, er)),
        default=0.0,
    )
