"""The framework seam: each framework one folder here, behind the small interface the suites call.

Which frameworks a run knows (`framework(id)`), and beside them the framework-neutral machinery
for child processes (`children`, `hold`), their recording and replay (`replay`), GPU pinning
and locking (`devices`, `live`) and the shared objects of a framework's process (`maps`).
A new framework is a new folder plus a line in `FRAMEWORKS`; nothing else is edited.
"""

from __future__ import annotations

import importlib

from gpuconform.frameworks.base import Framework

#: framework id -> the module whose FRAMEWORK it is.
FRAMEWORKS = {
    "tensorflow": "gpuconform.frameworks.tensorflow.framework",
    "torch": "gpuconform.frameworks.torch.framework",
    "jax": "gpuconform.frameworks.jax.framework",
    "keras": "gpuconform.frameworks.keras.framework",  # Keras 3 under each backend (the preprocessing layer)
}


def framework(framework_id: str) -> Framework:
    """The framework with this id (imported on first use: importing the seam imports no framework)."""
    module = importlib.import_module(FRAMEWORKS[framework_id])
    found: Framework = module.FRAMEWORK
    return found
