"""Framework experiments: which jax imports, which jaxlib and CUDA plugins are installed, what JAX sees.

Run as one child, in this order: ``identity``, ``build_info``, ``devices``, ``maps``. Only
``devices`` initialises the backends (jax.devices()); what JAX logs while it does (the CUDA plugin's
failure, or "An NVIDIA GPU may be present on this machine, but a CUDA-enabled jaxlib is not
installed. Falling back to cpu.") is recorded with the answer. ``maps`` runs a matmul on the
first GPU where there is one, then reads the child's own /proc/self/maps for the libraries layer
(`gpuconform.frameworks.own_copies`): the CUDA plugin preloads its pip libraries when the
backends initialise.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import logging
import os
from typing import Any

from gpuconform.facts.serde import dump
from gpuconform.frameworks.identity import identify
from gpuconform.frameworks.jax.observations import DISTRIBUTIONS
from gpuconform.frameworks.jax.observations import JaxBackend
from gpuconform.frameworks.jax.observations import JaxBuildInfo
from gpuconform.frameworks.jax.observations import JaxDevice
from gpuconform.frameworks.jax.observations import JaxDevices
from gpuconform.frameworks.maps import read_mapped

PLATFORMS = ("cpu", "gpu")


def identity(jax: Any) -> Any:
    """jax.__version__ and the distribution whose files were imported."""
    return dump(identify(jax, "jax"))


def build_info(jax: Any) -> Any:
    """jaxlib's own version and the installed versions of jaxlib, the CUDA plugins and their PJRT wheels."""
    installed = []
    for name in DISTRIBUTIONS:
        try:
            installed.append((name, importlib.metadata.version(name)))
        except importlib.metadata.PackageNotFoundError:
            continue
    jaxlib = importlib.import_module("jaxlib.version")
    return dump(JaxBuildInfo(jaxlib=str(jaxlib.__version__), installed=tuple(installed)))


class _Caught(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage()[:2000])


def devices(jax: Any) -> Any:
    """jax.devices() of each platform, the default backend, and the warnings JAX logged while starting them."""
    caught = _Caught()
    logger = logging.getLogger("jax")
    logger.addHandler(caught)
    error, default = None, None
    backends = []
    try:
        try:
            jax.devices()
            default = str(jax.default_backend())
        except Exception as exc:  # noqa: BLE001 - no backend at all is the observation
            error = f"{type(exc).__name__}: {exc}"[:2000]
        for platform in PLATFORMS:
            backends.append(_backend(jax, platform))
    finally:
        logger.removeHandler(caught)
    return dump(
        JaxDevices(
            default_backend=default,
            backends=tuple(backends),
            warnings=tuple(dict.fromkeys(caught.messages)),
            error=error,
            cuda_visible_devices=os.environ.get("CUDA_VISIBLE_DEVICES"),
            platforms=os.environ.get("JAX_PLATFORMS"),
        )
    )


def maps(jax: Any) -> Any:
    """The shared objects this child mapped after import, backend start and, where there is a GPU, a matmul on it."""
    ran, error = False, None
    try:
        gpus = jax.devices("gpu")
    except Exception:  # noqa: BLE001 - no GPU backend: the maps after the CPU's start are the observation
        gpus = []
    try:
        if gpus:
            x = jax.device_put(jax.numpy.ones((16, 16)), gpus[0])
            (x @ x).block_until_ready()
            ran = True
    except Exception as exc:  # noqa: BLE001 - what running on the GPU raised is the observation
        error = f"{type(exc).__name__}: {exc}"[:2000]
    return dump(read_mapped(ran, error))


def _backend(jax: Any, platform: str) -> JaxBackend:
    try:
        found = jax.devices(platform)
    except Exception as exc:  # noqa: BLE001 - a platform that is not there says why
        return JaxBackend(platform, error=f"{type(exc).__name__}: {exc}"[:2000])
    return JaxBackend(platform, tuple(_device(d, platform) for d in found))


def _device(device: Any, platform: str) -> JaxDevice:
    cc = getattr(device, "compute_capability", None)
    kind = getattr(device, "device_kind", None)
    return JaxDevice(int(device.id), platform, None if kind is None else str(kind), None if cc is None else str(cc))
