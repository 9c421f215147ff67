"""PyTorch's TensorFloat-32 switches judged against what its documentation says a fresh process starts with.

torch.toml's [runtime] holds the documented defaults (matmul off, cuDNN on, since 1.12) and the
variable that turns the cuBLAS switch on behind the code's back; the op agreement itself is
judged by `gpuconform.frameworks.placement_findings`, with TF32's tolerance where the switch of
the op's library allowed it.
"""

from __future__ import annotations

from gpuconform.expect.tables.torch import TorchRuntime
from gpuconform.frameworks.torch.observations import TorchTf32
from gpuconform.verdict.check import Finding

MATRIX = "matrices/torch.toml [runtime]"
SWITCHES = (
    ("torch.backends.cuda.matmul.allow_tf32", "matmul_allow_tf32", "float32 matmuls (cuBLAS)"),
    ("torch.backends.cudnn.allow_tf32", "cudnn_allow_tf32", "float32 convolutions (cuDNN)"),
)


def tf32_finding(version: str, state: TorchTf32, runtime: TorchRuntime, source: str) -> Finding | None:
    """The TF32 switches of a fresh process are the documented defaults."""
    for name, attribute, what in SWITCHES:
        got, want = getattr(state, attribute), getattr(runtime, attribute)
        if got == want:
            continue
        env = dict(state.environment)
        override = runtime.tf32_override_variable
        if attribute == "matmul_allow_tf32" and env.get(override):
            cause = f"{override}={env[override]} is set in the environment"
            fix = f"unset {override} (it turns TF32 on for every cuBLAS float32 matmul of every torch process)"
        else:
            cause = "something run at interpreter start (sitecustomize, a .pth file) sets it"
            fix = (
                "find it: python -I -c 'import torch; print(torch.backends.cuda.matmul.allow_tf32, "
                "torch.backends.cudnn.allow_tf32)' skips site customisation; compare with python -c ..."
            )
        return Finding(
            f"torch {version} starts with {name} = {got} (documented default {want}): {cause}",
            expected=f"{name} = {want} in a fresh process ({MATRIX}; {runtime.sources[0]})",
            found=f"matmul.allow_tf32 = {state.matmul_allow_tf32}, cudnn.allow_tf32 = {state.cudnn_allow_tf32}, "
            f"float32_matmul_precision = {state.float32_matmul_precision!r}"
            + (f"; environment: {', '.join(f'{k}={v}' for k, v in state.environment)}" if state.environment else ""),
            source=source,
            why=f"{what} on Ampere and newer GPUs then round their inputs to TF32's 10 mantissa bits "
            "(errors near 1e-3 instead of 1e-6) in every program, or lose TF32's speed, without the code asking",
            fix=fix,
        )
    return None
