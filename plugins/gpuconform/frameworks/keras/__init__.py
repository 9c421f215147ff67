"""Keras 3 behind the framework seam: its children under each backend, and nothing that imports keras.

Keras 3 runs on TensorFlow, PyTorch or JAX, chosen by `KERAS_BACKEND` when keras is first
imported. Its children (`experiments`, the only code that imports keras) run one backend each:
forked from TensorFlow's zygote where TensorFlow is installed (its import imports keras; another
backend imports keras again, `experiments.child.import_as_guest`), else from a zygote per backend
(`framework.FRAMEWORK` pins the variable at import); the suites judge
what they answer (`observations`) with the preprocessing matrix, as TensorFlow's own children.
"""

from __future__ import annotations

from gpuconform.frameworks.keras.framework import BACKENDS
from gpuconform.frameworks.keras.framework import FRAMEWORK
from gpuconform.frameworks.keras.framework import keras_3
from gpuconform.frameworks.keras.framework import tf_keras_is_keras_3
from gpuconform.frameworks.keras.observations import KerasBackend

__all__ = ["BACKENDS", "FRAMEWORK", "KerasBackend", "keras_3", "tf_keras_is_keras_3"]
