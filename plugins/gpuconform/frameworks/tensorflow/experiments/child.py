"""Entry point of a TensorFlow child: run named experiments, print one JSON line per result.

    python -m gpuconform.frameworks.tensorflow.experiments.child MODULE NAME [NAME ...]
    python -m gpuconform.frameworks.tensorflow.experiments.child --zygote

The second form imports TensorFlow once and then forks one child per batch the parent asks
for (`gpuconform.frameworks.forkserver`); each child answers as the first form would.

MODULE is an experiments module of this package ("framework", "memory"): recorded facts name it
so, whatever the package is called.

The loop is every framework's (`gpuconform.frameworks.child_main`): lines are flushed one by
one, so a crash in one experiment keeps the answers of the experiments before it. The environment (CUDA_VISIBLE_DEVICES,
TF_FORCE_GPU_ALLOW_GROWTH, ...) is set by the parent before TensorFlow loads.
"""

from __future__ import annotations

import sys
from typing import Any

from gpuconform.frameworks.child_main import main


def onednn_enabled() -> bool | None:
    """Whether TensorFlow's oneDNN kernels are on in this process (None where the release cannot say).

    TF reads TF_ENABLE_ONEDNN_OPTS once, defaulting to on only for CPUs with AVX512_VNNI,
    AVX512_BF16, AVX_VNNI or AMX; `IsMklEnabled()` is what it decided.
    """
    try:
        from tensorflow.python.util import _pywrap_util_port

        return bool(_pywrap_util_port.IsMklEnabled())
    except Exception:  # noqa: BLE001 - a release without it cannot say
        return None


def keras_backend() -> str | None:
    """The backend tf.keras runs on, as the KERAS_BACKEND that would choose it (None where it cannot say).

    From 2.16 `import tensorflow` imports Keras 3 under KERAS_BACKEND (else keras.json); a keras not imported
    yet (Keras 2 and tf-keras load when tf.keras is first used, and run on TensorFlow alone) is chosen by the
    child's own KERAS_BACKEND, as tensorflow would be, unless an import of it failed in the zygote.
    """
    keras = sys.modules.get("keras")
    if keras is None:  # an import that failed (KERAS_BACKEND=numpy without scipy) leaves its submodules behind
        return None if any(name.startswith("keras.") for name in sys.modules) else "tensorflow"
    try:
        return str(keras.backend.backend())
    except Exception:  # noqa: BLE001 - half imported: a child pinning it gets a zygote of its own
        return None


def import_switches(tf: Any) -> dict[str, str]:
    """The import-time switches in effect, as the values that would set them (`Framework.reported_at_import`)."""
    if tf is None:
        return {}
    enabled, backend = onednn_enabled(), keras_backend()
    return {
        **({} if enabled is None else {"TF_ENABLE_ONEDNN_OPTS": "1" if enabled else "0"}),
        **({} if backend is None else {"KERAS_BACKEND": backend}),
    }


if __name__ == "__main__":
    package = __package__ or "gpuconform.frameworks.tensorflow.experiments"
    raise SystemExit(main(sys.argv[1:], "tensorflow", package, import_switches))
