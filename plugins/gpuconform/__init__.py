"""gpuconform: prove that a GPU host runs TensorFlow as its profile promises.

Importing this package is cheap: it never imports TensorFlow, pynvml or CUDA.
"""

from __future__ import annotations

__version__ = "0.1.0"
