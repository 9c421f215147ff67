"""TensorFlow, as the framework seam knows it."""

from __future__ import annotations

from gpuconform.frameworks.base import Framework
from gpuconform.frameworks.tensorflow.log import busy
from gpuconform.frameworks.tensorflow.log import landmark

#: Read when the first GPU initialises (CUDA's cuInit, TF's GPU device factory), never at import;
#: the GPUCONFORM_* variables are the experiments' own, read when they run.
AFTER_IMPORT = frozenset({"CUDA_VISIBLE_DEVICES", "CUDA_DEVICE_ORDER", "TF_FORCE_GPU_ALLOW_GROWTH"})


def after_import(name: str) -> bool:
    """Whether a forked child may still set variable `name` (TF's log levels and oneDNN switch it may not)."""
    return name in AFTER_IMPORT or name.startswith("GPUCONFORM_")


ONEDNN_VARIABLE = "TF_ENABLE_ONEDNN_OPTS"
#: The backend of Keras 3, which TensorFlow imports from 2.16 as tf.keras: KERAS_BACKEND=jax makes tf.keras run
#: on JAX, and a TensorFlow program's Keras model on JAX (children that check TensorFlow itself pin it).
KERAS_VARIABLE = "KERAS_BACKEND"


FRAMEWORK = Framework(
    id="tensorflow",
    name="TensorFlow",
    distributions=("tensorflow", "tensorflow-cpu", "tensorflow-gpu", "tf-nightly", "tensorflow-intel"),
    experiments="gpuconform.frameworks.tensorflow.experiments",
    landmark=landmark,
    after_import=after_import,
    reported_at_import=frozenset({ONEDNN_VARIABLE, KERAS_VARIABLE}),  # experiments.child.import_switches
    busy=busy,
)
