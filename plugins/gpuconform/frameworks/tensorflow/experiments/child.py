"""Entry point of a TensorFlow child: run named experiments, print one JSON line per result.

    python -m gpuconform.frameworks.tensorflow.experiments.child MODULE NAME [NAME ...]
    python -m gpuconform.frameworks.tensorflow.experiments.child --zygote

The second form imports TensorFlow once and then forks one child per batch the parent asks
for (`gpuconform.frameworks.forkserver`); each child answers as the first form would.

MODULE is an experiments module of this package ("framework", "memory"): recorded facts name it
so, whatever the package is called.

Lines are flushed one by one, so a crash in one experiment keeps the answers of
the experiments before it. The environment (CUDA_VISIBLE_DEVICES,
TF_FORCE_GPU_ALLOW_GROWTH, ...) is set by the parent before TensorFlow loads.
"""

from __future__ import annotations

import importlib
import json
import sys
import time
import traceback
from typing import Any

MARK = "gpuconform-result:"


def emit(name: str, payload: dict[str, Any]) -> None:
    """Print one result line, marked so TensorFlow's own stdout noise is never mistaken for it."""
    sys.stdout.write(MARK + json.dumps({"name": name, **payload}, default=repr) + "\n")
    sys.stdout.flush()


def main(argv: list[str]) -> int:
    started = time.monotonic()
    try:
        import tensorflow as tf
    except Exception as exc:  # noqa: BLE001 - any import failure is an observation
        imported: dict[str, Any] = {"ok": False, "error_type": type(exc).__name__, "error": str(exc)[:2000]}
        tf = None
    else:
        imported = {"ok": True, "value": {"version": tf.__version__, "seconds": time.monotonic() - started}}
    if argv[:1] == ["--zygote"]:
        from gpuconform.frameworks.forkserver import serve

        return serve(lambda module, names: run(tf, imported, module, names), import_switches(tf))
    run(tf, imported, argv[0], argv[1:])
    return 0


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


def import_switches(tf: Any) -> dict[str, str]:
    """The import-time switches in effect, as the values that would set them (`Framework.reported_at_import`)."""
    enabled = None if tf is None else onednn_enabled()
    return {} if enabled is None else {"TF_ENABLE_ONEDNN_OPTS": "1" if enabled else "0"}


def run(tf: Any, imported: dict[str, Any], module_name: str, names: list[str]) -> None:
    """Say how the import went, then run experiments `names` of `module_name` if it went well."""
    emit("__import__", imported)
    if tf is None:
        return
    module = importlib.import_module(f"{__package__}.{module_name}")
    for name in names:
        t0 = time.monotonic()
        try:
            value = getattr(module, name)(tf)
            emit(name, {"ok": True, "value": value, "seconds": time.monotonic() - t0})
        except Exception as exc:  # noqa: BLE001 - the error is the observation
            emit(
                name,
                {
                    "ok": False,
                    "error_type": type(exc).__name__,
                    "error": str(exc)[:4000],
                    "trace": traceback.format_exc(limit=4)[-2000:],
                    "seconds": time.monotonic() - t0,
                },
            )


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
