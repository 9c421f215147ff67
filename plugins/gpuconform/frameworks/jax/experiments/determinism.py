"""Experiments of the determinism layer in a JAX child: the reference model, written in jax.lax on the neutral weights.

The weights are `gpuconform/data/reference_model.bin`'s, the same bytes TensorFlow and PyTorch
run (`gpuconform.frameworks.reference_arrays`). Their layouts are Keras's, which XLA takes as
they are: the convolution runs with dimension numbers ("NHWC", "HWIO", "NHWC") and the
features flatten in (row, column, channel) order, as Keras's do. The suite starts these children
with XLA_FLAGS set to the deterministic-ops flag of the installed release (matrices/jax.toml:
`[[deterministic_ops]]`); XLA reads XLA_FLAGS once, when the first backend starts.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

import numpy as np

from gpuconform.frameworks.reference import reference_dir
from gpuconform.frameworks.reference_arrays import digest
from gpuconform.frameworks.reference_arrays import read_arrays
from gpuconform.frameworks.reference_arrays import rows
from gpuconform.frameworks.reference_arrays import scaled_inputs

REPEATS = 5
WEIGHTS = ("conv/kernel", "conv/bias", "hidden/kernel", "hidden/bias", "logits/kernel", "logits/bias")

Json = dict[str, Any]
_cache: dict[str, Any] = {}


# ---- the model ------------------------------------------------------------------------------


def forward(jax: Any, params: dict[str, Any], x: Any) -> Any:
    """Conv(6, 3x3, VALID) + relu -> max-pool 2x2 -> flatten (NHWC) -> dense(12) + relu -> dense(4) -> softmax."""
    lax, jnp = jax.lax, jax.numpy
    y = lax.conv_general_dilated(x, params["conv/kernel"], (1, 1), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC"))
    y = jax.nn.relu(y + params["conv/bias"])
    y = lax.reduce_window(y, -jnp.inf, lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")
    y = y.reshape(y.shape[0], -1)
    y = jax.nn.relu(y @ params["hidden/kernel"] + params["hidden/bias"])
    return jax.nn.softmax(y @ params["logits/kernel"] + params["logits/bias"], axis=-1)


def reference(jax: Any) -> tuple[Any, dict[str, np.ndarray], np.ndarray]:
    """The jitted model, its weights and the input batch (NHWC, float32 in [0, 1]), cached."""
    if "model" not in _cache:
        _, arrays, sha256 = read_arrays(reference_dir())
        weights = {name: np.asarray(arrays[name], np.float32) for name in WEIGHTS}
        model = jax.jit(lambda params, x: forward(jax, params, x))
        _cache.update(model=model, weights=weights, inputs=scaled_inputs(arrays), sha256=sha256)
    return _cache["model"], _cache["weights"], _cache["inputs"]


def predict(jax: Any, device: Any) -> np.ndarray:
    """One inference of the batch on `device` (the weights and inputs committed to it, so it runs there)."""
    model, weights, x = reference(jax)
    params = jax.device_put(weights, device)
    return np.asarray(model(params, jax.device_put(x, device)))


def devices(jax: Any, platform: str) -> list[Any]:
    try:
        return list(jax.devices(platform))
    except RuntimeError:  # no such backend: "Unknown backend: 'gpu' requested ..."
        return []


def gpu_devices(jax: Any) -> list[Json]:
    return [
        {
            "device": f"gpu:{d.id}",
            "name": str(getattr(d, "device_kind", "")),
            "capability": [int(p) for p in str(getattr(d, "compute_capability", "0.0")).split(".")[:2]],
        }
        for d in devices(jax, "gpu")
    ]


#: jax_default_matmul_precision values that keep float32 convolutions and matrix multiplies in full fp32 on a GPU
#: (the default, None, lets XLA use TF32 where the GPU has it).
FULL_FP32 = ("highest", "float32")


def _precision(jax: Any) -> str | None:
    value = jax.config.jax_default_matmul_precision
    return None if value is None else str(value)


def _tf32(jax: Any) -> Json:
    precision = _precision(jax)
    return {"tf32": precision not in FULL_FP32, "switches": f"jax_default_matmul_precision={precision}"}


# ---- experiments ----------------------------------------------------------------------------


def environment(jax: Any) -> Json:
    """What the other answers depend on: versions, the flags XLA was started with, the GPUs, the data file read."""
    reference(jax)
    jaxlib = importlib.import_module("jaxlib.version").__version__
    settings = [
        ["XLA_FLAGS", str(os.environ.get("XLA_FLAGS"))],
        ["jax.default_backend()", str(jax.default_backend())],
        ["jax_default_matmul_precision", str(_precision(jax))],
    ]
    framework = f"jax {jax.__version__} (jaxlib {jaxlib})"
    return {"framework": framework, "settings": settings, "bin_sha256": _cache["sha256"]}


def repeat(jax: Any) -> Json:
    """Five inferences of the same batch on the CPU and on each GPU, in this one process."""
    found = []
    for platform, listed in (("cpu", devices(jax, "cpu")[:1]), ("gpu", devices(jax, "gpu"))):
        for device in listed:
            digests = [digest(predict(jax, device)) for _ in range(REPEATS)]
            found.append({"device": f"{platform}:{device.id}", "digests": digests})
    return {"devices": found}


def golden_cpu(jax: Any) -> Json:
    """The outputs on the CPU, to compare with the goldens, another process and the other frameworks."""
    out = predict(jax, devices(jax, "cpu")[0])
    return {"outputs": rows(out), "digest": digest(out)}


def gpu_golden(jax: Any) -> list[Json]:
    """The outputs on each GPU, with the default matmul precision they ran under."""
    found = []
    for info, device in zip(gpu_devices(jax), devices(jax, "gpu")):
        out = predict(jax, device)
        found.append({**info, **_tf32(jax), "outputs": rows(out), "digest": digest(out)})
    return found
