"""The reference model of the determinism layer, as every framework's parent sees it: manifest, goldens, comparisons.

The model's arrays live in `gpuconform/data/reference_model.bin`, once, in one neutral layout
(NHWC images, HWIO convolution kernels, (in, out) dense kernels: Keras's), and are read only in
the frameworks' children (`gpuconform.frameworks.reference_arrays`); the manifest next to it
(`reference_model.json`) also holds the golden outputs, recorded on the CPU with TensorFlow
(TF_ENABLE_ONEDNN_OPTS=0) by `tools/make_reference_model.py`. The parent compares with plain
floats, so the pytest process needs no numpy.

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


# ---- what the PyTorch and JAX children answer (`<framework>.experiments.determinism`) -----------------


@dataclass(frozen=True)
class ReferenceRun:
    """`environment`: which framework ran the model, under which determinism settings, on which weights."""

    framework: str  # "torch 2.13.0+cpu"
    settings: tuple[tuple[str, str], ...]  # (setting, value as read in the child)
    bin_sha256: str

    def describe(self) -> str:
        return f"{self.framework} ({', '.join(f'{k}={v}' for k, v in self.settings)})"


@dataclass(frozen=True)
class Outputs:
    """`golden_cpu`: the batch's outputs on the CPU, and the SHA-256 of their float32 bytes."""

    outputs: tuple[tuple[float, ...], ...]
    digest: str


@dataclass(frozen=True)
class GpuOutputs:
    """One GPU's entry of `gpu_golden`."""

    device: str  # "cuda:0", "gpu:0"
    name: str
    capability: tuple[int, ...]
    tf32: bool  # whether the framework's defaults let convolutions or matrix multiplies use TF32
    switches: str  # what `tf32` was read from, for messages
    outputs: tuple[tuple[float, ...], ...]
    digest: str


@dataclass(frozen=True)
class DeviceRepeats:
    device: str  # "cpu", "cuda:0"
    digests: tuple[str, ...]


@dataclass(frozen=True)
class Repeats:
    """`repeat`: the digests of five inferences of the batch on each device, in one process."""

    devices: tuple[DeviceRepeats, ...]


@dataclass(frozen=True)
class Refusal:
    """One GPU's answer to a deterministic cuBLAS call without the workspace setting."""

    device: str
    raised: bool
    error_type: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class Refusals:
    """`cublas_without_workspace`: each GPU's answer, and the workspace setting the child inherited (then removed)."""

    inherited: str | None
    gpus: tuple[Refusal, ...]
