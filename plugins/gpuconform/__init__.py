"""gpuconform: prove that a GPU host runs TensorFlow as its profile promises.

Importing this package is cheap: it never imports TensorFlow, pynvml or CUDA.
"""

from __future__ import annotations

#: The one definition of gpuconform's version: pyproject.toml reads it (dynamic version), and
#: `gpuconform --version`, result.json, facts.json and CHANGELOG.md's top entry must agree with it.
__version__ = "0.1.0"
