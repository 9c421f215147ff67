"""Experiments of the determinism layer: inference of the shipped reference model, for real.

The model (conv + dense, about two thousand parameters) and its fixed input batch
are read from `gpuconform/data/reference_model.{json,bin}` (or the directory in
GPUCONFORM_REFERENCE_MODEL, which the suite passes explicitly: `reference_dir`); the architecture is
`build_model` below, so that `tools/make_reference_model.py` and this module
cannot disagree. Every experiment enables `tf.config.experimental.enable_op_determinism()`
(TF >= 2.8) first; every inference goes through `predict`. Outputs come back as
float lists (float32 values are exact in JSON) and as SHA-256 digests of their bytes,
for bitwise comparisons across calls and processes; the parent compares with the
golden outputs, so numpy is never needed in the pytest process.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

import numpy as np

from gpuconform.frameworks.reference_arrays import DATA_NAME as DATA_NAME
from gpuconform.frameworks.reference_arrays import digest
from gpuconform.frameworks.reference_arrays import read_arrays
from gpuconform.frameworks.reference_arrays import rows
from gpuconform.frameworks.reference_arrays import scaled_inputs
from gpuconform.frameworks.tensorflow.experiments.child import onednn_enabled
from gpuconform.frameworks.tensorflow.experiments.dists import installed_version
from gpuconform.frameworks.tensorflow.reference_model import NAN_ROW
from gpuconform.frameworks.tensorflow.reference_model import WRONG_SHAPES
from gpuconform.frameworks.tensorflow.reference_model import reference_dir

INPUT_SHAPE = (12, 12, 3)

Json = dict[str, Any]
_cache: dict[str, Any] = {}


# ---- the model ------------------------------------------------------------------------------


def build_model(keras: Any) -> Any:
    """The reference architecture: Conv2D(6, 3x3, relu) -> MaxPool(2) -> Dense(12, relu) -> Dense(4) -> Softmax."""
    inputs = keras.Input(INPUT_SHAPE, name="image")
    x = keras.layers.Conv2D(6, 3, activation="relu", name="conv")(inputs)
    x = keras.layers.MaxPooling2D(2, name="pool")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(12, activation="relu", name="hidden")(x)
    x = keras.layers.Dense(4, name="logits")(x)
    outputs = keras.layers.Softmax(name="probabilities")(x)
    return keras.Model(inputs, outputs, name="gpuconform_reference")


def reference(tf: Any) -> tuple[Any, np.ndarray]:
    """The reference model with its weights, and its input batch as float32 in [0, 1] (cached)."""
    if "model" not in _cache:
        manifest, arrays, digest = read_arrays(reference_dir())
        model = build_model(tf.keras)
        model.set_weights([arrays[name] for name in manifest["weights"]])
        _cache.update(model=model, inputs=scaled_inputs(arrays), sha256=digest)
    return _cache["model"], _cache["inputs"]


def predict(model: Any, x: np.ndarray) -> np.ndarray:
    """One inference, the way every experiment runs it (eager call, inference mode)."""
    return np.asarray(model(x, training=False))


def enable_determinism(tf: Any) -> None:
    tf.config.experimental.enable_op_determinism()


def _error(exc: BaseException) -> Json:
    return {"error_type": type(exc).__name__, "error": str(exc)[:1500]}


# ---- experiments ----------------------------------------------------------------------------


def environment(tf: Any) -> Json:
    """What the other answers depend on: versions, oneDNN, TF32, GPUs, the data file read."""
    reference(tf)
    gpus = []
    for i, device in enumerate(tf.config.list_physical_devices("GPU")):
        details = tf.config.experimental.get_device_details(device)
        gpus.append(
            {
                "device": f"/GPU:{i}",
                "name": details.get("device_name", ""),
                "compute_capability": list(details.get("compute_capability") or ()),
            }
        )
    keras_dist = "tf-keras" if type(tf.keras.Model).__module__.startswith("tf_keras") else "keras"
    return {
        "tensorflow": tf.__version__,
        "keras": installed_version(keras_dist, keras_dist.replace("-", "_")),
        "onednn_opts": os.environ.get("TF_ENABLE_ONEDNN_OPTS"),
        "onednn_enabled": onednn_enabled(),  # what TF decided: the same whichever zygote this child came from
        "tf32": bool(tf.config.experimental.tensor_float_32_execution_enabled()),
        "gpus": gpus,
        "bin_sha256": _cache["sha256"],
    }


def unseeded_random_op(tf: Any) -> Json:
    """With determinism on and no seed anywhere, a random op must raise (the child sets no seed before this)."""
    enable_determinism(tf)
    try:
        tf.random.uniform([2])
    except Exception as exc:  # noqa: BLE001 - the error is the answer
        return {"raised": True, **_error(exc)}
    return {"raised": False}


def repeat(tf: Any) -> Json:
    """Five inferences of the same batch in one process."""
    enable_determinism(tf)
    model, x = reference(tf)
    with tf.device("/CPU:0"):
        return {"digests": [digest(predict(model, x)) for _ in range(5)]}


def golden_cpu(tf: Any) -> Json:
    """The outputs on the CPU, to compare with the golden ones and with another process."""
    enable_determinism(tf)
    model, x = reference(tf)
    with tf.device("/CPU:0"):
        out = predict(model, x)
    return {"outputs": rows(out), "digest": digest(out)}


def batch_invariance(tf: Any) -> Json:
    """Each sample alone against the same sample inside the batch."""
    enable_determinism(tf)
    model, x = reference(tf)
    with tf.device("/CPU:0"):
        batch = predict(model, x)
        single = np.concatenate([predict(model, x[i : i + 1]) for i in range(len(x))])
    return {"batch": rows(batch), "single": rows(single), "bitwise": digest(batch) == digest(single)}


def savedmodel_round_trip(tf: Any) -> Json:
    """Outputs before and after tf.saved_model.save / load (the serving signature)."""
    enable_determinism(tf)
    model, x = reference(tf)
    module = tf.Module()
    module.model = model
    module.serve = tf.function(
        lambda images: model(images, training=False), input_signature=[tf.TensorSpec((None, *INPUT_SHAPE), tf.float32)]
    )
    with tempfile.TemporaryDirectory(prefix="gpuconform-savedmodel-") as d, tf.device("/CPU:0"):
        before = predict(model, x)
        tf.saved_model.save(module, d, signatures={"serving_default": module.serve})
        served = tf.saved_model.load(d).signatures["serving_default"](tf.constant(x))
        after = np.asarray(next(iter(served.values())))
    return {"before": digest(before), "after": digest(after), "max_abs": float(np.max(np.abs(before - after)))}


def keras_round_trip(tf: Any) -> Json:
    """Outputs before and after model.save('model.keras') / keras.models.load_model."""
    enable_determinism(tf)
    model, x = reference(tf)
    with tempfile.TemporaryDirectory(prefix="gpuconform-keras-") as d, tf.device("/CPU:0"):
        path = os.path.join(d, "model.keras")
        before = predict(model, x)
        model.save(path)
        after = predict(tf.keras.models.load_model(path), x)
    return {"before": digest(before), "after": digest(after), "max_abs": float(np.max(np.abs(before - after)))}


def edge_inputs(tf: Any) -> Json:
    """Zeros, a NaN sample, a NaN pixel, +Inf everywhere, values 255x out of range: what comes out."""
    enable_determinism(tf)
    model, x = reference(tf)
    nan_sample, nan_pixel = x.copy(), x.copy()
    nan_sample[NAN_ROW] = np.nan
    nan_pixel[NAN_ROW, 5, 5, 0] = np.nan
    cases = {
        "zeros": np.zeros_like(x),
        "nan_sample": nan_sample,
        "nan_pixel": nan_pixel,
        "inf": np.full_like(x, np.inf),
        "out_of_range": x * 255.0,
    }
    out: Json = {}
    with tf.device("/CPU:0"):
        clean = predict(model, x)
        for name, batch in cases.items():
            try:
                y = predict(model, batch)
            except Exception as exc:  # noqa: BLE001 - an exception is an outcome to report
                out[name] = _error(exc)
                continue
            finite = np.isfinite(y).all(axis=1)
            out[name] = {
                "finite_rows": [bool(v) for v in finite],
                "nan_rows": [bool(v) for v in np.isnan(y).all(axis=1)],
                "probabilities": bool(
                    np.all((y[finite] >= 0.0) & (y[finite] <= 1.0))
                    and np.allclose(y[finite].sum(axis=1), 1.0, atol=1e-5)
                ),
                "others_unchanged": digest(np.delete(y, NAN_ROW, 0)) == digest(np.delete(clean, NAN_ROW, 0)),
            }
    return out


def wrong_shapes(tf: Any) -> Json:
    """Calling the model on inputs of the wrong shape: the exception each raises."""
    enable_determinism(tf)
    model, _ = reference(tf)
    out: Json = {}
    with tf.device("/CPU:0"):
        for name, shape in WRONG_SHAPES.items():
            try:
                predict(model, np.zeros(shape, np.float32))
            except Exception as exc:  # noqa: BLE001 - the exception is the answer
                out[name] = {"shape": list(shape), "raised": True, **_error(exc)}
            else:
                out[name] = {"shape": list(shape), "raised": False}
    return out


def gpu_golden(tf: Any) -> list[Json]:
    """The outputs on each GPU, with the TF32 state they ran under."""
    enable_determinism(tf)
    model, x = reference(tf)
    out = []
    for gpu in environment(tf)["gpus"]:
        with tf.device(gpu["device"]):
            y = predict(model, x)
        out.append(
            {**gpu, "outputs": rows(y), "tf32": bool(tf.config.experimental.tensor_float_32_execution_enabled())}
        )
    return out


def gpu_nondeterministic_op(tf: Any) -> list[Json]:
    """On each GPU, an op with no deterministic GPU kernel (bincount) under determinism."""
    enable_determinism(tf)
    values = tf.constant(np.arange(64, dtype=np.int32) % 7)
    out = []
    for gpu in environment(tf)["gpus"]:
        try:
            with tf.device(gpu["device"]):
                tf.math.bincount(values).numpy()
        except Exception as exc:  # noqa: BLE001 - the error is the answer
            out.append({"device": gpu["device"], "raised": True, **_error(exc)})
        else:
            out.append({"device": gpu["device"], "raised": False})
    return out
