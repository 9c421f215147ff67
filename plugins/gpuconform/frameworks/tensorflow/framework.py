"""TensorFlow, as the framework seam knows it."""

from __future__ import annotations

from gpuconform.frameworks.base import Framework
from gpuconform.frameworks.tensorflow.log import landmark

FRAMEWORK = Framework(
    id="tensorflow",
    name="TensorFlow",
    distributions=("tensorflow", "tensorflow-cpu", "tensorflow-gpu", "tf-nightly", "tensorflow-intel"),
    experiments="gpuconform.frameworks.tensorflow.experiments",
    landmark=landmark,
)
