"""Entry point of a Keras 3 child: run named experiments under the backend KERAS_BACKEND names.

    python -m gpuconform.frameworks.keras.experiments.child MODULE NAME [NAME ...]
    python -m gpuconform.frameworks.keras.experiments.child --zygote

See `gpuconform.frameworks.child_main`. Like every child, it runs with a private KERAS_HOME
holding a copy of the user's keras.json (`gpuconform.probes.child.private_keras_home`), so
Keras reads the user's configuration and writes nothing of theirs.
"""

from __future__ import annotations

import sys
from typing import Any

from gpuconform.frameworks.child_main import main

BACKEND_VARIABLE = "KERAS_BACKEND"  # gpuconform.frameworks.keras.framework.BACKEND_VARIABLE


def import_switches(keras: Any) -> dict[str, str]:
    """The backend this zygote's keras runs on, as the value of KERAS_BACKEND that would choose it."""
    if keras is None:
        return {}
    return {BACKEND_VARIABLE: str(keras.backend.backend())}


if __name__ == "__main__":
    raise SystemExit(
        main(sys.argv[1:], "keras", __package__ or "gpuconform.frameworks.keras.experiments", import_switches)
    )
