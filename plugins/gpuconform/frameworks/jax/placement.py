"""JAX's default matmul precision judged against what its documentation says: DEFAULT, TF32 on Ampere and newer.

jax.toml's [runtime] lists the precisions that keep float32 in float32; the default (None, the
DEFAULT precision) may use TensorFloat-32 and the placement layer's float32 tolerance follows it.
A default set below TF32 (bfloat16, float16 or float8 passes) makes every float32 matmul and
convolution coarser than any float32 tolerance; that is the failure.
"""

from __future__ import annotations

from gpuconform.expect.tables.jax import JaxRuntime
from gpuconform.frameworks.jax.observations import JaxPrecision
from gpuconform.verdict.check import Finding

MATRIX = "matrices/jax.toml [runtime]"
VARIABLE = "JAX_DEFAULT_MATMUL_PRECISION"
#: Default precisions no coarser than TensorFloat-32 (besides the full-float32 ones of the matrix).
TF32_OR_BETTER = frozenset({"default", "high", "tensorfloat32", "TF32_TF32_F32", "TF32_TF32_F32_X3"})


def precision_finding(version: str, state: JaxPrecision, runtime: JaxRuntime, source: str) -> Finding | None:
    """A fresh process's default matmul precision keeps float32 at TF32 or better."""
    value = state.default_matmul_precision
    if value is None or value in TF32_OR_BETTER or value in runtime.full_float32_precisions:
        return None
    env = dict(state.environment)
    cause = f"{VARIABLE}={env[VARIABLE]} is set in the environment" if VARIABLE in env else "code run at start sets it"
    return Finding(
        f"jax {version} starts with jax_default_matmul_precision = {value!r}, below TensorFloat-32: {cause}",
        expected=f"None (DEFAULT: TF32 on Ampere and newer GPUs) or a precision at least as fine ({MATRIX})",
        found=f"jax_default_matmul_precision = {value!r}"
        + (f"; environment: {', '.join(f'{k}={v}' for k, v in state.environment)}" if state.environment else ""),
        source=source,
        why="every float32 matmul and convolution on the GPU then runs at that lower precision in every program",
        fix=f"unset {VARIABLE}, or set it to 'highest' where float32 accuracy is needed",
    )


def precision_label(state: JaxPrecision) -> str:
    """'None (DEFAULT)' or the value, for the measured properties."""
    return "None (DEFAULT)" if state.default_matmul_precision is None else state.default_matmul_precision
