"""PyTorch's determinism layer as the parent sees it: its children, the workspace setting, its documented refusal.

The children run `gpuconform.frameworks.torch.experiments.determinism`. With
`torch.use_deterministic_algorithms(True)`, PyTorch built for CUDA >= 10.2 refuses a cuBLAS call
unless CUBLAS_WORKSPACE_CONFIG is ":4096:8" or ":16:8" (aten/src/ATen/Context.cpp,
Context::alertCuBLASConfigNotDeterministic, which reads the variable once, at the first such call);
`REFUSAL` is the part of its message that has not changed across releases (the end names a URL
that moved from #cublasApi_reproducibility to #results-reproducibility).
"""

from __future__ import annotations

WORKSPACE = "CUBLAS_WORKSPACE_CONFIG"
DETERMINISTIC_WORKSPACE = ":4096:8"
#: The first child's experiments: everything but the refusal, which needs a child without the workspace setting.
FIRST_CHILD = ("environment", "repeat", "golden_cpu", "gpu_golden")
#: The second child's: enough to compare its outputs with the first's, bit for bit, on each device.
SECOND_CHILD = ("environment", "golden_cpu", "gpu_golden")
REFUSAL_CHILD = ("cublas_without_workspace",)
REFUSAL = (
    "Deterministic behavior was enabled with either `torch.use_deterministic_algorithms(True)` or "
    "`at::Context::setDeterministicAlgorithms(true)`, but this operation is not deterministic because it uses "
    "CuBLAS and you have CUDA >= 10.2. To enable deterministic behavior in this case, you must set an environment "
    "variable before running your PyTorch application: CUBLAS_WORKSPACE_CONFIG=:4096:8 or "
    "CUBLAS_WORKSPACE_CONFIG=:16:8."
)
SWITCH = f"torch.use_deterministic_algorithms(True) and {WORKSPACE}={DETERMINISTIC_WORKSPACE}"
#: The release these checks were run with (the +cpu wheel, on x86-64).
PIN = "pip install 'torch==2.13.*'"
FULL_FP32 = "torch.backends.cuda.matmul.allow_tf32 = False with torch.backends.cudnn.allow_tf32 = False"
