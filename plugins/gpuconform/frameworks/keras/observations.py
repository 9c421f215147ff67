"""What a Keras child answers about its backend (`gpuconform.frameworks.keras.experiments.backend`)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class KerasBackend:
    """The backend Keras runs on in a child, and where its choice came from."""

    version: str  # keras.__version__
    backend: str  # keras.backend.backend()
    requested: str | None  # KERAS_BACKEND as the child's environment had it (None: unset)
    config_backend: str | None  # the "backend" key of the user's keras.json (None: no file, or no key)
    image_data_format: str  # keras.config.image_data_format(), which keras.json may also set
    floatx: str
