"""Placement experiments: matmul and conv2d where torch is told to run them, and whether the results agree.

Run as one child, in this order: ``tf32``, ``cpu_ops``, ``gpu_ops``. ``tf32`` reads the
TensorFloat-32 switches before anything could change them (nothing here does). ``cpu_ops`` runs
on the "cpu" device against NumPy in float64; ``gpu_ops`` runs the same ops on every CUDA device
torch counts against torch's own CPU result, each float32 run marked with whether TF32 was
allowed for it (the switch of its library, on a GPU of compute capability 8.0 or newer). Without
a GPU ``gpu_ops`` answers with no runs and says why.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

import numpy as np

from gpuconform.facts.serde import dump
from gpuconform.frameworks.agreement import OpAgreement
from gpuconform.frameworks.agreement import OpAgreements
from gpuconform.frameworks.op_inputs import compared
from gpuconform.frameworks.op_inputs import inputs
from gpuconform.frameworks.op_inputs import reference
from gpuconform.frameworks.torch.observations import TorchTf32

#: Variables that change torch's TF32 switches or cuBLAS's use of TF32 behind them.
TF32_VARIABLES = ("TORCH_ALLOW_TF32_CUBLAS_OVERRIDE", "NVIDIA_TF32_OVERRIDE")
OPS = (("matmul", "float32"), ("matmul", "float16"), ("conv2d", "float32"))
#: TensorFloat-32 tensor cores exist from compute capability 8.0 (Ampere).
TF32_FROM = (8, 0)


def tf32(torch: Any) -> Any:
    """The TF32 switches as a fresh process has them, and the variables that override them."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        state = TorchTf32(
            matmul_allow_tf32=bool(torch.backends.cuda.matmul.allow_tf32),
            cudnn_allow_tf32=bool(torch.backends.cudnn.allow_tf32),
            float32_matmul_precision=str(torch.get_float32_matmul_precision()),
            environment=tuple((k, os.environ[k]) for k in TF32_VARIABLES if k in os.environ),
        )
    said = tuple(dict.fromkeys(str(w.message)[:500] for w in caught))
    return dump(TorchTf32(**{**state.__dict__, "warnings": said}))


def _run(torch: Any, op: str, dtype: str, device: str) -> tuple[np.ndarray, str]:
    x = inputs(dtype)
    kind = getattr(torch, dtype)
    if op == "matmul":
        a = torch.tensor(x["a"], dtype=kind, device=device)
        b = torch.tensor(x["b"], dtype=kind, device=device)
        result = torch.matmul(a, b)
        host = result.cpu().to(torch.float64).numpy()
    else:
        image = torch.tensor(x["image"].transpose(0, 3, 1, 2), dtype=kind, device=device)  # NHWC -> NCHW
        kernel = torch.tensor(x["kernel"].transpose(3, 2, 0, 1), dtype=kind, device=device)  # HWIO -> OIHW
        result = torch.nn.functional.conv2d(image, kernel)
        host = result.cpu().to(torch.float64).numpy().transpose(0, 2, 3, 1)  # back to NHWC
    return host, str(result.device)


def _compare(torch: Any, op: str, dtype: str, device: str, against: str, want: np.ndarray, tf32: bool) -> OpAgreement:
    return compared(lambda: _run(torch, op, dtype, device), op, dtype, device, against, want, tf32)


def cpu_ops(torch: Any) -> Any:
    """Matmul (float32, float16) and conv2d (float32) on the "cpu" device against NumPy float64."""
    runs = tuple(_compare(torch, op, dtype, "cpu", "numpy float64", reference(op, dtype), False) for op, dtype in OPS)
    return dump(OpAgreements(runs, ("cpu",)))


def gpu_ops(torch: Any) -> Any:
    """The same ops on every CUDA device torch counts, each against torch's own CPU result."""
    if not torch.cuda.is_available():
        return dump(OpAgreements(error="torch.cuda.is_available() is False: torch sees no GPU"))
    devices = tuple(f"cuda:{i}" for i in range(torch.cuda.device_count()))
    runs = []
    for op, dtype in OPS:
        try:
            want, _ = _run(torch, op, dtype, "cpu")
        except Exception as exc:  # noqa: BLE001
            runs.append(OpAgreement(op, dtype, "cpu", "-", error=f"{type(exc).__name__}: {exc}"[:2000]))
            continue
        switch = torch.backends.cuda.matmul.allow_tf32 if op == "matmul" else torch.backends.cudnn.allow_tf32
        for index, device in enumerate(devices):
            allowed = bool(switch) and dtype == "float32" and _capability(torch, index) >= TF32_FROM
            runs.append(_compare(torch, op, dtype, device, "the cpu result", want, allowed))
    return dump(OpAgreements(tuple(runs), devices))


def _capability(torch: Any, index: int) -> tuple[int, int]:
    try:
        major, minor = torch.cuda.get_device_capability(index)
        return (int(major), int(minor))
    except Exception:  # noqa: BLE001 - unknown: count it as TF32-capable, the looser tolerance
        return TF32_FROM
