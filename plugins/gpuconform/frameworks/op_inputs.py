"""The placement experiments' fixed inputs and float64 references, shared by every framework's child.

Imported in children only (it imports NumPy, which each framework already depends on). Images
are NHWC and kernels HWIO, as TensorFlow and `jax.lax.conv_general_dilated` take them; PyTorch's
experiments transpose them to NCHW and OIHW.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from gpuconform.frameworks.agreement import OpAgreement

SEED = 20240611


def inputs(dtype: str) -> dict[str, np.ndarray]:
    """Seeded operands: a (128, 96) x (96, 64) matmul and a 3x3 VALID convolution of a (2, 16, 16, 3) image."""
    rng = np.random.default_rng(SEED)
    return {
        "a": rng.standard_normal((128, 96)).astype(dtype),
        "b": rng.standard_normal((96, 64)).astype(dtype),
        "image": rng.standard_normal((2, 16, 16, 3)).astype(dtype),
        "kernel": rng.standard_normal((3, 3, 3, 8)).astype(dtype),
    }


def numpy_matmul(x: dict[str, np.ndarray]) -> np.ndarray:
    """The matmul in float64."""
    result: np.ndarray = x["a"].astype(np.float64) @ x["b"].astype(np.float64)
    return result


def numpy_conv(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """A VALID, stride-1 NHWC convolution in float64: the textbook definition, no library."""
    windows = np.lib.stride_tricks.sliding_window_view(image.astype(np.float64), kernel.shape[:2], axis=(1, 2))
    result: np.ndarray = np.einsum("nhwcij,ijco->nhwo", windows, kernel.astype(np.float64))
    return result


def difference(got: np.ndarray, want: np.ndarray) -> tuple[float | None, float, int]:
    """(largest absolute error over the finite values, largest magnitude of the reference, non-finite values).

    JSON (and so the facts) carries no NaN: a result with NaN or inf says how many instead.
    """
    got64 = np.asarray(got, dtype=np.float64)
    finite = np.isfinite(got64)
    bad = int(got64.size - np.count_nonzero(finite))
    error = float(np.max(np.abs(got64 - want)[finite])) if bad < got64.size else None
    return error, float(np.max(np.abs(want))), bad


def reference(op: str, dtype: str) -> np.ndarray:
    """NumPy's float64 result of `op` ("matmul" or "conv2d") on the `dtype` inputs."""
    x = inputs(dtype)
    return numpy_matmul(x) if op == "matmul" else numpy_conv(x["image"], x["kernel"])


def compared(
    run: Callable[[], tuple[np.ndarray, str]], op: str, dtype: str, device: str, against: str, want: np.ndarray,
    tf32: bool,
) -> OpAgreement:
    """`run()`'s result (as float64, and where it ran) against `want`; what it raised is the observation instead."""
    try:
        got, where = run()
    except Exception as exc:  # noqa: BLE001 - the failure is the observation
        return OpAgreement(op, dtype, device, against, error=f"{type(exc).__name__}: {exc}"[:2000], tf32=tf32)
    error, scale, bad = difference(got, want)
    return OpAgreement(op, dtype, device, against, where, error, scale, tf32, non_finite=bad)
