"""Placement experiments: where ops run when told, and whether the results agree.

Run as one child, in this order: ``gpu_ops``, ``cpu_ops``, ``soft_placement``,
``hard_placement``. They share a child because none of them configures devices
after initialisation: ``gpu_ops`` turns memory growth on first (before any op,
so the child never reserves a whole card), and soft placement is a setting of
the live context that may change at any time (tf-behaviors §2); the hard
placement experiment turns it off last.

Inputs are fixed (seeded NumPy), references are NumPy in float64 (CPU ops) or
TF's own /CPU:0 result (GPU ops); the parent decides what error is tolerable.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gpuconform.facts.serde import dump
from gpuconform.frameworks.op_inputs import inputs
from gpuconform.frameworks.op_inputs import numpy_conv
from gpuconform.frameworks.tensorflow.experiments.framework import enable_growth
from gpuconform.frameworks.tensorflow.experiments.framework import tf32_enabled
from gpuconform.frameworks.tensorflow.observations import OpRun
from gpuconform.frameworks.tensorflow.observations import OpRuns
from gpuconform.frameworks.tensorflow.observations import Placed

#: An op with no GPU kernel (string ops are CPU-only), so soft placement must move it to the CPU.
CPU_ONLY_OP = "StringLength"
MATMUL_DTYPES = ("float32", "float16")


def _run(tf: Any, op: str, dtype: str, device: str) -> tuple[Any, str]:
    x = inputs(dtype)
    with tf.device(device):
        if op == "matmul":
            result = tf.linalg.matmul(tf.constant(x["a"]), tf.constant(x["b"]))
        else:
            result = tf.nn.conv2d(tf.constant(x["image"]), tf.constant(x["kernel"]), 1, "VALID")
    return result.numpy().astype(np.float64), result.device


def _compare(op: str, dtype: str, requested: str, reference: str, want: np.ndarray, tf: Any) -> OpRun:
    try:
        got, device = _run(tf, op, dtype, requested)
    except Exception as exc:  # noqa: BLE001 - the failure is the observation
        return OpRun(op, dtype, requested, reference, error=f"{type(exc).__name__}: {exc}"[:2000])
    return OpRun(
        op,
        dtype,
        requested,
        reference,
        result_device=device,
        max_abs_error=float(np.max(np.abs(got - want))),
        reference_scale=float(np.max(np.abs(want))),
        tf32=tf32_enabled(tf),
    )


def cpu_ops(tf: Any) -> Any:
    """Matmul (float32, float16) and conv2d (float32) on /CPU:0 against NumPy float64."""
    runs = []
    for dtype in MATMUL_DTYPES:
        x = inputs(dtype)
        want = x["a"].astype(np.float64) @ x["b"].astype(np.float64)
        runs.append(_compare("matmul", dtype, "/CPU:0", "numpy float64", want, tf))
    x = inputs("float32")
    runs.append(_compare("conv2d", "float32", "/CPU:0", "numpy float64", numpy_conv(x["image"], x["kernel"]), tf))
    return dump(OpRuns(tuple(runs)))


def gpu_ops(tf: Any) -> Any:
    """The same ops on every visible GPU, each against TF's own /CPU:0 result."""
    enable_growth(tf)
    gpus = tf.config.list_physical_devices("GPU")
    runs = []
    for op, dtypes in (("matmul", MATMUL_DTYPES), ("conv2d", ("float32",))):
        for dtype in dtypes:
            try:
                want, _ = _run(tf, op, dtype, "/CPU:0")
            except Exception as exc:  # noqa: BLE001
                runs.append(OpRun(op, dtype, "/CPU:0", "-", error=f"{type(exc).__name__}: {exc}"[:2000]))
                continue
            for index in range(len(gpus)):
                runs.append(_compare(op, dtype, f"/GPU:{index}", "/CPU:0", want, tf))
    return dump(OpRuns(tuple(runs)))


def _placed(tf: Any, soft: bool) -> Placed:
    tf.config.set_soft_device_placement(soft)
    words = tf.constant(["conformance", "gpu"])  # created outside the device scope, on the host
    try:
        with tf.device("/GPU:0"):
            result = tf.strings.length(words)
        return Placed("/GPU:0", CPU_ONLY_OP, soft, result_device=result.device)
    except Exception as exc:  # noqa: BLE001
        return Placed("/GPU:0", CPU_ONLY_OP, soft, error_type=type(exc).__name__, error=str(exc)[:2000])


def soft_placement(tf: Any) -> Any:
    """A CPU-only op requested on /GPU:0 with soft placement on: it must run on the CPU."""
    return dump(_placed(tf, True))


def hard_placement(tf: Any) -> Any:
    """The same op with soft placement off: it must raise InvalidArgumentError."""
    return dump(_placed(tf, False))
