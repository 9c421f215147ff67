"""What the PyTorch experiments observe, as frozen dataclasses shared by the child and the parent.

Importing this module never imports torch.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TorchBuildInfo:
    """How the imported torch was built, as it says at run time."""

    cuda: str | None = None  # torch.version.cuda: "13.0"; None for a CPU-only (or ROCm) build
    hip: str | None = None  # torch.version.hip: set on a ROCm build
    cudnn: int | None = None  # torch.backends.cudnn.version(): 91002; None without cuDNN
    cudnn_error: str | None = None  # what asking for it raised
    arch_list: tuple[str, ...] = ()  # torch.cuda.get_arch_list(): ("sm_75", ..., "sm_120"); () without CUDA
    git_version: str | None = None  # torch.version.git_version


@dataclass(frozen=True)
class TorchGpu:
    """One device torch.cuda counts."""

    index: int
    name: str | None = None  # torch.cuda.get_device_name(i)
    capability: tuple[int, int] | None = None  # torch.cuda.get_device_capability(i)
    error: str | None = None  # what asking about it raised


@dataclass(frozen=True)
class TorchDevices:
    """What torch.cuda sees, and every warning it gave on the way (the driver's complaints are warnings)."""

    is_available: bool
    device_count: int
    gpus: tuple[TorchGpu, ...] = ()
    warnings: tuple[str, ...] = ()  # "CUDA initialization: The NVIDIA driver on your system is too old ..."
    error: str | None = None  # what torch.cuda raised
    cuda_visible_devices: str | None = None


@dataclass(frozen=True)
class TorchTf32:
    """The TensorFloat-32 switches of a fresh torch process (placement experiments: ``tf32``)."""

    matmul_allow_tf32: bool  # torch.backends.cuda.matmul.allow_tf32 (cuBLAS)
    cudnn_allow_tf32: bool  # torch.backends.cudnn.allow_tf32 (cuDNN convolutions)
    float32_matmul_precision: str | None = None  # torch.get_float32_matmul_precision(): "highest"
    environment: tuple[tuple[str, str], ...] = ()  # the variables that override them, where set
    warnings: tuple[str, ...] = ()  # what reading them warned (a deprecation, in some releases)


@dataclass(frozen=True)
class TorchHoldReport:
    """What a PyTorch memory child saw of its own allocation while it held it (memory experiments)."""

    pid: int
    mode: str  # "caching", "fraction", "expandable_segments"
    device_count: int = 0
    total_bytes: int | None = None  # torch.cuda.mem_get_info()[1]
    allocated_bytes: int | None = None  # torch.cuda.memory_allocated()
    reserved_bytes: int | None = None  # torch.cuda.memory_reserved(): what the caching allocator holds
    fraction: float | None = None  # set_per_process_memory_fraction's argument (fraction mode)
    over_fraction: str | None = None  # "raised OutOfMemoryError: ..." or "succeeded" (fraction mode)
    within_fraction: str | None = None  # an allocation inside the cap: "succeeded" or what it raised
    alloc_conf: tuple[tuple[str, str], ...] = ()  # PYTORCH_ALLOC_CONF / PYTORCH_CUDA_ALLOC_CONF as set
    allocator_backend: str | None = None  # torch.cuda.get_allocator_backend(): "native", "cudaMallocAsync"
    warnings: tuple[str, ...] = ()  # what CUDA initialisation and the allocations warned
    error: str | None = None  # why it could not allocate (no GPU, a CUDA error): reported, then held
