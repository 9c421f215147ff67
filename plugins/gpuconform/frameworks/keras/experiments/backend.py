"""The backend experiment: which backend Keras runs on in this child, and what chose it.

Keras 3 decides its backend once, while it imports (keras/src/backend/config.py): keras.json's
"backend" key (in KERAS_HOME, else ~/.keras), then KERAS_BACKEND over it when set and not empty;
`keras.backend.backend()` says what it decided. The child's KERAS_HOME holds a copy of the user's
keras.json (`gpuconform.probes.child.private_keras_home`), so its "backend" is the user's.
"""

from __future__ import annotations

import json
import os
from typing import Any

from gpuconform.facts.serde import dump
from gpuconform.frameworks.keras.experiments.child import BACKEND_VARIABLE
from gpuconform.frameworks.keras.observations import KerasBackend


def backend(keras: Any) -> Any:
    """keras.backend.backend(), KERAS_BACKEND as this child has it, and keras.json's "backend"."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    config_backend = None
    try:
        with open(os.path.join(home, "keras.json"), encoding="utf-8") as handle:
            found = json.load(handle)
        if isinstance(found, dict) and "backend" in found:
            config_backend = str(found["backend"])
    except (OSError, ValueError):
        config_backend = None  # no file, or one Keras ignores too (it reads a bad one as {})
    return dump(
        KerasBackend(
            version=str(keras.__version__),
            backend=str(keras.backend.backend()),
            requested=os.environ.get(BACKEND_VARIABLE),
            config_backend=config_backend,
            image_data_format=str(keras.config.image_data_format()),
            floatx=str(keras.config.floatx()),
        )
    )
