"""The reference model's arrays as every framework's child reads them, and the digests its answers carry.

`reference_model.bin` holds each array once, in the layouts Keras keeps them: images NHWC,
the convolution kernel HWIO (height, width, in, out), dense kernels (in, out), and the
flattened features in NHWC order (row, column, channel). A framework with other layouts
(PyTorch: NCHW images, OIHW kernels, (out, in) dense weights, features flattened channel
first) converts them in its own experiments, never in the file: every framework runs the
same numbers. Imported only in children (it needs numpy); the parent reads the manifest
through `gpuconform.frameworks.reference`.
"""

from __future__ import annotations

import hashlib
import json
import pathlib
from typing import Any

import numpy as np

from gpuconform.frameworks.reference import MANIFEST

DATA_NAME = MANIFEST.removesuffix(".json")


def read_arrays(directory: pathlib.Path) -> tuple[dict[str, Any], dict[str, np.ndarray], str]:
    """The manifest, the arrays it lays out in the .bin file, and the file's SHA-256."""
    manifest = json.loads((directory / f"{DATA_NAME}.json").read_text())
    blob = (directory / f"{DATA_NAME}.bin").read_bytes()
    arrays = {}
    for spec in manifest["arrays"]:
        stored = np.dtype(spec["dtype"])  # little-endian as written ("<f4"); astype gives native order
        count = int(np.prod(spec["shape"]))
        array = np.frombuffer(blob, stored, count, spec["offset"]).reshape(spec["shape"])
        arrays[spec["name"]] = array.astype(stored.newbyteorder("="))
    return manifest, arrays, hashlib.sha256(blob).hexdigest()


def scaled_inputs(arrays: dict[str, np.ndarray]) -> np.ndarray:
    """The input batch as every framework feeds it: float32 in [0, 1], NHWC."""
    return arrays["inputs"].astype(np.float32) / 255.0


def digest(array: Any) -> str:
    """SHA-256 of the outputs' float32 bytes: equal digests are bit-for-bit equal outputs."""
    return hashlib.sha256(np.ascontiguousarray(array, dtype=np.float32).tobytes()).hexdigest()


def rows(array: Any) -> list[list[float]]:
    """The outputs as JSON floats (float32 values are exact in JSON)."""
    return [[float(v) for v in row] for row in np.asarray(array, dtype=np.float32)]
