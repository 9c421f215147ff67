"""Keras 3, as the framework seam knows it: TensorFlow's guest, else one zygote per backend, `KERAS_BACKEND` pinned."""

from __future__ import annotations

from collections.abc import Mapping

from packaging.version import InvalidVersion
from packaging.version import Version

from gpuconform.facts.model import PackageInfo
from gpuconform.frameworks.base import Framework

#: The backends whose Keras behaviours the preprocessing layer runs: the frameworks gpuconform checks
#: (keras/src/backend/__init__.py also has "numpy" and "openvino", which run no training).
BACKENDS = ("tensorflow", "torch", "jax")
#: Keras reads it once, in keras/src/backend/config.py while keras imports (after ~/.keras/keras.json,
#: which it overrides): a forked child cannot change it, so each value has a zygote of its own.
BACKEND_VARIABLE = "KERAS_BACKEND"
#: TensorFlow's switch of tf.keras to tf-keras, Keras 2 (tensorflow/__init__.py, from 2.16: "true", "True", "1").
LEGACY_VARIABLE = "TF_USE_LEGACY_KERAS"
#: Read when the backend's first device initialises, never while keras imports.
AFTER_IMPORT = frozenset({"CUDA_VISIBLE_DEVICES", "CUDA_DEVICE_ORDER", "TF_FORCE_GPU_ALLOW_GROWTH"})


def after_import(name: str) -> bool:
    """Whether a child forked after `import keras` may still set variable `name` (KERAS_BACKEND it may not)."""
    return name in AFTER_IMPORT or name.startswith("GPUCONFORM_")


def landmark(line: str) -> bool:
    """Whether a line of a Keras child's log is one its checks read (none: they read the answers)."""
    return "KERAS_BACKEND" in line or "keras.json" in line


FRAMEWORK = Framework(
    id="keras",
    name="Keras",
    distributions=("keras", "keras-nightly"),
    experiments="gpuconform.frameworks.keras.experiments",
    landmark=landmark,
    after_import=after_import,
    # The zygote without a pin says which backend the host's own settings chose
    # (experiments.child.import_switches): a batch pinning that one is forked from it.
    reported_at_import=frozenset({BACKEND_VARIABLE}),
    # From 2.16 `import tensorflow` imports Keras 3 (tf.keras is keras): its children are TensorFlow's
    # guests, one import fewer each (experiments.child.import_as_guest).
    hosts=("tensorflow",),
)


def keras_3(installed: PackageInfo | None) -> bool:
    """Whether this keras distribution is Keras 3 (the one with backends; Keras 2 runs on TensorFlow alone)."""
    if installed is None:
        return False
    try:
        return Version(installed.version).major >= 3
    except InvalidVersion:
        return False


def tf_keras_is_keras_3(
    tensorflow: PackageInfo | None, keras: PackageInfo | None, environment: Mapping[str, str]
) -> bool:
    """Whether tf.keras is this Keras 3, on the backend KERAS_BACKEND or keras.json chooses for every program.

    From TensorFlow 2.16 tf.keras is the keras distribution, unless TF_USE_LEGACY_KERAS turns it to tf-keras;
    before, it is Keras 2 (the keras distribution, or TensorFlow's own), which runs on TensorFlow alone.
    """
    if tensorflow is None or not keras_3(keras):
        return False
    try:
        newer = Version(tensorflow.version).release[:2] >= (2, 16)
    except InvalidVersion:
        return False
    return newer and environment.get(LEGACY_VARIABLE) not in ("true", "True", "1")
