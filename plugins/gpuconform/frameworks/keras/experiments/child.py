"""Entry point of a Keras 3 child: run named experiments under the backend KERAS_BACKEND names.

    python -m gpuconform.frameworks.keras.experiments.child MODULE NAME [NAME ...]
    python -m gpuconform.frameworks.keras.experiments.child --zygote

See `gpuconform.frameworks.child_main`. Like every child, it runs with a private KERAS_HOME
holding a copy of the user's keras.json (`gpuconform.probes.child.private_keras_home`), so
Keras reads the user's configuration and writes nothing of theirs.

Where TensorFlow is installed, Keras children are forked from TensorFlow's zygote instead, as
guests (`import_as_guest`): from 2.16 `import tensorflow` imports Keras 3 (tf.keras is keras),
under the backend the host's settings choose, so a child asking for that backend has nothing
left to import, and one asking for another imports keras again under it.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

from gpuconform.frameworks.child_main import Declined
from gpuconform.frameworks.child_main import main

BACKEND_VARIABLE = "KERAS_BACKEND"  # gpuconform.frameworks.keras.framework.BACKEND_VARIABLE


def import_switches(keras: Any) -> dict[str, str]:
    """The backend this zygote's keras runs on, as the value of KERAS_BACKEND that would choose it."""
    if keras is None:
        return {}
    return {BACKEND_VARIABLE: str(keras.backend.backend())}


def import_as_guest(at_start: frozenset[str]) -> Any:
    """keras as a fresh child with this environment's KERAS_BACKEND would import it, in another framework's child.

    A keras imported already (TensorFlow imports it) under the backend asked for, or under the host's
    own settings where none is asked for, is that one. Under another backend, keras is imported
    again with KERAS_BACKEND set, as `keras.config.set_backend` switches (it drops every keras module
    and imports keras anew: keras/src/utils/backend_utils.py), so its backend is chosen as at a first
    import (keras/src/backend/config.py: keras.json, then KERAS_BACKEND; for a backend other than
    TensorFlow it also sets TF_FORCE_GPU_ALLOW_GROWTH, which TensorFlow, imported but with no device
    initialised yet, still reads when its first GPU initialises). A keras imported when the
    interpreter started (a sitecustomize or .pth file), before any of ours, cannot be replayed so:
    declined, and the parent runs the batch in a Keras zygote of its own.
    """
    requested = os.environ.get(BACKEND_VARIABLE) or None
    keras = sys.modules.get("keras")
    if keras is not None:
        if requested is None or _backend(keras) == requested:
            return keras
        if "keras" in at_start:
            raise Declined("keras was imported when the interpreter started, under another backend")
        for name in [name for name in sys.modules if name == "keras" or name.startswith("keras.")]:
            del sys.modules[name]
    return importlib.import_module("keras")


def _backend(keras: Any) -> str | None:
    try:
        return str(keras.backend.backend())
    except Exception:  # noqa: BLE001 - a keras without backends (Keras 2) or half imported: not the one asked for
        return None


if __name__ == "__main__":
    raise SystemExit(
        main(sys.argv[1:], "keras", __package__ or "gpuconform.frameworks.keras.experiments", import_switches)
    )
