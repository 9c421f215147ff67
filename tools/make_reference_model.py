"""Regenerate the determinism layer's reference model: weights, input batch and golden outputs.

    .venv/bin/python tools/make_reference_model.py            # rewrites plugins/gpuconform/data/
    .venv/bin/python tools/make_reference_model.py --out DIR  # somewhere else, e.g. to compare

Weights and inputs come from numpy's PCG64 generator with a fixed seed, so they are
the same bytes on every run. The golden outputs are then computed on the CPU with
TF_ENABLE_ONEDNN_OPTS=0 and op determinism on, by the very experiment the suite runs
(`gpuconform.frameworks.tensorflow.experiments.determinism.golden_cpu`), so the tool and the suite cannot
disagree about the model, the inputs or how inference is called. Running it twice
gives identical files. Commit both files when they change, and say why.
"""

from __future__ import annotations

import os

# Before TensorFlow is imported: oneDNN's kernels round differently, and it is on by default
# only on some CPUs (AVX512_VNNI/BF16, AMX), so goldens recorded with it would follow the CPU.
os.environ["TF_ENABLE_ONEDNN_OPTS"] = "0"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse  # noqa: E402
import hashlib  # noqa: E402
import importlib.metadata  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

from gpuconform.frameworks.tensorflow.experiments import determinism  # noqa: E402
from gpuconform.frameworks.tensorflow.reference_model import ENV_VAR  # noqa: E402

SEED = 5118
BATCH = 8
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "plugins" / "gpuconform" / "data"
DESCRIPTION = (
    "gpuconform's determinism reference: a small image classifier with weights drawn from a fixed seed, "
    "a fixed batch of 8 images (uint8, scaled to [0, 1]) and its softmax outputs recorded on the CPU"
)
ARCHITECTURE = (
    "Input(12, 12, 3) -> Conv2D(6, 3x3, relu) -> MaxPooling2D(2) -> Flatten -> Dense(12, relu) -> Dense(4) -> Softmax"
)


def draw_weights(model: Any, rng: np.random.Generator) -> list[tuple[str, np.ndarray]]:
    """Glorot-uniform kernels and small uniform biases, named layer/kernel and layer/bias."""
    out = []
    for layer in model.layers:
        for kind, current in zip(("kernel", "bias"), layer.get_weights()):
            shape = current.shape
            if kind == "kernel":
                receptive = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
                fan_in, fan_out = shape[-2] * receptive, shape[-1] * receptive
                limit = float(np.sqrt(6.0 / (fan_in + fan_out)))
            else:
                limit = 0.1
            out.append((f"{layer.name}/{kind}", rng.uniform(-limit, limit, shape).astype(np.float32)))
    return out


def write(out: Path, tf: Any) -> dict[str, Any]:
    """Write reference_model.bin and .json into `out`; return the manifest."""
    rng = np.random.default_rng(SEED)
    model = determinism.build_model(tf.keras)
    weights = draw_weights(model, rng)
    inputs = rng.integers(0, 256, (BATCH, *determinism.INPUT_SHAPE), dtype=np.uint8)
    blob = bytearray()
    specs = []
    for name, array in [*weights, ("inputs", inputs)]:
        stored = array.astype(array.dtype.newbyteorder("<"))
        specs.append({"name": name, "dtype": stored.dtype.str, "shape": list(array.shape), "offset": len(blob)})
        blob += stored.tobytes()
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{determinism.DATA_NAME}.bin").write_bytes(bytes(blob))
    manifest: dict[str, Any] = {
        "format": 1,
        "description": DESCRIPTION,
        "architecture": ARCHITECTURE,
        "seed": SEED,
        "parameters": int(model.count_params()),
        "input_shape": list(determinism.INPUT_SHAPE),
        "weights": [name for name, _ in weights],
        "arrays": specs,
        "bin_sha256": hashlib.sha256(bytes(blob)).hexdigest(),
        "golden": [],
        "recorded_with": {
            "tensorflow": tf.__version__,
            "keras": importlib.metadata.version("keras"),
            "numpy": np.__version__,
            "python": platform.python_version(),
            "onednn_opts": os.environ["TF_ENABLE_ONEDNN_OPTS"],
            "device": "/CPU:0",
        },
    }
    manifest_path = out / f"{determinism.DATA_NAME}.json"
    manifest_path.write_text(json.dumps(manifest, indent=1) + "\n")
    # The goldens go through the suite's own experiment, reading the files just written.
    os.environ[ENV_VAR] = str(out)
    manifest["golden"] = determinism.golden_cpu(tf)["outputs"]
    manifest_path.write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"directory to write (default {DEFAULT_OUT})")
    args = parser.parse_args()
    import tensorflow as tf

    manifest = write(args.out, tf)
    rows = len(manifest["golden"])
    print(f"wrote {args.out}: {manifest['parameters']} parameters, {rows} golden rows, TF {tf.__version__}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
