"""Memory experiments: a JAX child that starts its GPU backend, computes, and holds while the parent measures.

One experiment, ``hold``, run under `gpuconform.frameworks.hold` once per mode; the parent sets
the mode's variables (none for JAX's default preallocation, XLA_PYTHON_CLIENT_PREALLOCATE=false,
XLA_PYTHON_CLIENT_MEM_FRACTION, XLA_PYTHON_CLIENT_ALLOCATOR=platform) and clears the others.
The child puts a 64 MiB array on the first GPU and reduces it (the first operation is when JAX
preallocates), then reports what the device says of its memory (`Device.memory_stats()`), the
variables as it saw them, and the options jaxlib derived from them for the CUDA plugin
(`jaxlib.xla_client.generate_pjrt_gpu_plugin_options`, where this jaxlib has it: that is where
an unknown allocator name is refused). Two copies at once are the two-processes check. Without
a GPU it says so in its report (``error``) and holds anyway.
"""

from __future__ import annotations

import importlib
import logging
import os
import warnings
from typing import Any

from gpuconform.facts.serde import dump
from gpuconform.frameworks.hold import ready_then_hold
from gpuconform.frameworks.jax.observations import JaxHoldReport

#: The variables of JAX's GPU memory allocation (jaxlib/xla_client.py reads them when the CUDA backend starts).
SETTINGS = (
    "XLA_PYTHON_CLIENT_PREALLOCATE",
    "XLA_CLIENT_MEM_FRACTION",
    "XLA_PYTHON_CLIENT_MEM_FRACTION",
    "XLA_PYTHON_CLIENT_ALLOCATOR",
)
MODE_ENV = "GPUCONFORM_JAX_MEMORY_MODE"
HELD_MIB = 64
STATS = ("bytes_in_use", "pool_bytes", "bytes_limit", "peak_bytes_in_use")


class _Caught(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage()[:1000])


def _options() -> tuple[tuple[str, str], ...]:
    client = importlib.import_module("jaxlib.xla_client")
    generate = getattr(client, "generate_pjrt_gpu_plugin_options", None)
    if generate is None:
        return ()
    return tuple(sorted((str(k), str(v)) for k, v in generate().items()))


def hold(jax: Any) -> Any:
    """Start the GPU backend, compute on a 64 MiB array, and hold; memory_stats() and the settings reported."""
    report: dict[str, Any] = {
        "pid": os.getpid(),
        "mode": os.environ.get(MODE_ENV, "default"),
        "settings": tuple((k, os.environ[k]) for k in SETTINGS if k in os.environ),
    }
    caught = _Caught()
    logger = logging.getLogger("jax")
    logger.addHandler(caught)
    keep: list[Any] = []
    with warnings.catch_warnings(record=True) as warned:
        warnings.simplefilter("always")
        try:
            try:
                report["options"] = _options()
            except Exception as exc:  # noqa: BLE001 - jaxlib refused the settings: the finding
                raise RuntimeError(f"jaxlib refused the settings: {type(exc).__name__}: {exc}") from exc
            try:
                gpus = jax.devices("gpu")
            except Exception as exc:  # noqa: BLE001 - no GPU backend
                raise RuntimeError(f"JAX has no GPU backend: {type(exc).__name__}: {exc}") from exc
            report["gpus"] = len(gpus)
            array = jax.device_put(jax.numpy.ones((HELD_MIB << 18,), dtype="float32"), gpus[0])
            keep.append(array)
            keep.append(jax.numpy.sum(array).block_until_ready())
            stats = gpus[0].memory_stats() or {}
            report.update({name: int(stats[name]) for name in STATS if name in stats})
        except Exception as exc:  # noqa: BLE001 - reported, then held anyway: the parent still measures
            report["error"] = f"{type(exc).__name__}: {exc}"[:2000]
        finally:
            logger.removeHandler(caught)
    said = [*caught.messages, *(str(w.message)[:1000] for w in warned)]
    report["warnings"] = tuple(dict.fromkeys(said))
    return ready_then_hold(dump(JaxHoldReport(**report)))
