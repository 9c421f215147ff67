"""JAX behind the framework seam: what the suites import of it, and nothing that imports jax.

The child-side `experiments` (the only code that imports jax, in child processes), the types
its children answer with (`observations`) and the framework layer's judgements (`checks`).
"""

from __future__ import annotations

from gpuconform.frameworks.jax import checks
from gpuconform.frameworks.jax.framework import FRAMEWORK
from gpuconform.frameworks.jax.observations import JaxBuildInfo
from gpuconform.frameworks.jax.observations import JaxDevices

__all__ = ["FRAMEWORK", "JaxBuildInfo", "JaxDevices", "checks"]
