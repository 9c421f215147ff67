"""Placement experiments: matmul and conv2d on the devices JAX is given, and whether the results agree.

Run as one child, in this order: ``precision``, ``cpu_ops``, ``gpu_ops``. ``precision`` reads
jax_default_matmul_precision before anything could change it (nothing here does). The operands
are put on a device with `jax.device_put` and the op runs there (JAX computes where its operands
are); ``cpu_ops`` compares against NumPy in float64 and ``gpu_ops`` against JAX's own CPU
result. A float32 GPU run is marked as allowed TF32 when the default precision is not one of the
full-float32 ones and the GPU has compute capability 8.0 or newer: `jax.lax.Precision` says
DEFAULT "uses tensorfloat32 if available (e.g. on A100 and H100 GPUs)". Devices are named
"<platform>:<id>" ("cpu:0", "gpu:0"). Without a GPU ``gpu_ops`` answers with no runs and says why.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from gpuconform.facts.serde import dump
from gpuconform.frameworks.agreement import OpAgreement
from gpuconform.frameworks.agreement import OpAgreements
from gpuconform.frameworks.jax.observations import JaxPrecision
from gpuconform.frameworks.op_inputs import compared
from gpuconform.frameworks.op_inputs import inputs
from gpuconform.frameworks.op_inputs import reference

PRECISION_VARIABLE = "JAX_DEFAULT_MATMUL_PRECISION"
#: Default precisions that keep float32 matmuls and convolutions in full float32 on a GPU.
FULL_FLOAT32 = frozenset({"highest", "float32", "F32_F32_F32", "F64_F64_F64"})
OPS = (("matmul", "float32"), ("matmul", "float16"), ("conv2d", "float32"))
TF32_FROM = (8, 0)


def _precision(jax: Any) -> str | None:
    value = jax.config.jax_default_matmul_precision
    return None if value is None else str(value)


def precision(jax: Any) -> Any:
    """The default matmul precision of a fresh process, and the variable that sets it, where set."""
    env = tuple((k, os.environ[k]) for k in (PRECISION_VARIABLE,) if k in os.environ)
    return dump(JaxPrecision(_precision(jax), env))


def _name(device: Any) -> str:
    return f"{device.platform}:{device.id}"


def _run(jax: Any, op: str, dtype: str, device: Any) -> tuple[np.ndarray, str]:
    x = inputs(dtype)
    if op == "matmul":
        result = jax.numpy.matmul(jax.device_put(x["a"], device), jax.device_put(x["b"], device))
    else:
        image, kernel = jax.device_put(x["image"], device), jax.device_put(x["kernel"], device)
        layout = ("NHWC", "HWIO", "NHWC")
        result = jax.lax.conv_general_dilated(image, kernel, (1, 1), "VALID", dimension_numbers=layout)
    result.block_until_ready()
    (where,) = result.devices()
    return np.asarray(result, dtype=np.float64), _name(where)


def _compare(jax: Any, op: str, dtype: str, device: Any, against: str, want: np.ndarray, tf32: bool) -> OpAgreement:
    return compared(lambda: _run(jax, op, dtype, device), op, dtype, _name(device), against, want, tf32)


def cpu_ops(jax: Any) -> Any:
    """Matmul (float32, float16) and conv2d (float32) on the first CPU device against NumPy float64."""
    cpu = jax.devices("cpu")[0]
    runs = tuple(_compare(jax, op, dtype, cpu, "numpy float64", reference(op, dtype), False) for op, dtype in OPS)
    return dump(OpAgreements(runs, tuple(_name(d) for d in jax.devices("cpu"))))


def gpu_ops(jax: Any) -> Any:
    """The same ops on every GPU JAX lists, each against JAX's own CPU result."""
    try:
        gpus = jax.devices("gpu")
    except Exception as exc:  # noqa: BLE001 - no GPU backend: the answer, not a failure of the experiment
        return dump(OpAgreements(error=f"jax.devices('gpu') raised {type(exc).__name__}: {exc}"[:2000]))
    cpu = jax.devices("cpu")[0]
    loose = _precision(jax) not in FULL_FLOAT32
    runs = []
    for op, dtype in OPS:
        try:
            want, _ = _run(jax, op, dtype, cpu)
        except Exception as exc:  # noqa: BLE001
            runs.append(OpAgreement(op, dtype, _name(cpu), "-", error=f"{type(exc).__name__}: {exc}"[:2000]))
            continue
        for gpu in gpus:
            allowed = loose and dtype == "float32" and _capability(gpu) >= TF32_FROM
            runs.append(_compare(jax, op, dtype, gpu, "the cpu result", want, allowed))
    return dump(OpAgreements(tuple(runs), tuple(_name(d) for d in gpus)))


def _capability(device: Any) -> tuple[int, int]:
    text = str(getattr(device, "compute_capability", "") or "")
    try:
        major, minor = text.split(".")
        return (int(major), int(minor))
    except ValueError:  # unknown: count it as TF32-capable, the looser tolerance
        return TF32_FROM
