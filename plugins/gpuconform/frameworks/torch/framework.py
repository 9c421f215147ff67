"""PyTorch, as the framework seam knows it."""

from __future__ import annotations

from gpuconform.frameworks.base import Framework

#: Read when CUDA initialises (the first torch.cuda call), never while torch imports; the
#: GPUCONFORM_* variables are the experiments' own. CUBLAS_WORKSPACE_CONFIG is read when cuBLAS
#: first runs (PyTorch's own check, Context::checkCuBLASConfigDeterministic in aten/src/ATen/Context.cpp,
#: reads it once, at the first cuBLAS call under determinism).
AFTER_IMPORT = frozenset(
    {"CUDA_VISIBLE_DEVICES", "CUDA_DEVICE_ORDER", "PYTORCH_CUDA_ALLOC_CONF", "CUBLAS_WORKSPACE_CONFIG"}
)


def after_import(name: str) -> bool:
    """Whether a child forked after `import torch` may still set variable `name`."""
    return name in AFTER_IMPORT or name.startswith("GPUCONFORM_")


def landmark(line: str) -> bool:
    """Whether a line of a PyTorch child's log is one its checks read (CUDA's and the driver's warnings)."""
    return "CUDA" in line or "driver" in line


FRAMEWORK = Framework(
    id="torch",
    name="PyTorch",
    distributions=("torch",),
    experiments="gpuconform.frameworks.torch.experiments",
    landmark=landmark,
    after_import=after_import,
)
