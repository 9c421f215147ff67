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
