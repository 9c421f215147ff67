"""PyTorch behind the framework seam: what the suites import of it, and nothing that imports torch.

The child-side `experiments` (the only code that imports torch, in child processes), the types
its children answer with (`observations`) and the framework layer's judgements (`checks`).
"""

from __future__ import annotations

from gpuconform.frameworks.torch import checks
from gpuconform.frameworks.torch.framework import FRAMEWORK
from gpuconform.frameworks.torch.observations import TorchBuildInfo
from gpuconform.frameworks.torch.observations import TorchDevices

__all__ = ["FRAMEWORK", "TorchBuildInfo", "TorchDevices", "checks"]
