"""What the JAX experiments observe, as frozen dataclasses shared by the child and the parent.

Importing this module never imports jax.
"""

from __future__ import annotations

from dataclasses import dataclass

#: The distributions whose versions the build experiment reads (jaxlib, the CUDA plugins, their PJRT wheels).
DISTRIBUTIONS = ("jaxlib", "jax-cuda12-plugin", "jax-cuda12-pjrt", "jax-cuda13-plugin", "jax-cuda13-pjrt")
#: What JAX logs when a GPU is there but no CUDA plugin is (jax._src.xla_bridge).
NO_CUDA_JAXLIB = "CUDA-enabled jaxlib is not installed"


@dataclass(frozen=True)
class JaxBuildInfo:
    """jaxlib's version as it says, and the installed versions of jaxlib and the CUDA plugins."""

    jaxlib: str | None = None  # jaxlib.version.__version__
    installed: tuple[tuple[str, str], ...] = ()  # (distribution, version) of DISTRIBUTIONS that are installed

    @property
    def versions(self) -> dict[str, str]:
        return dict(self.installed)

    @property
    def plugins(self) -> dict[str, str]:
        """The CUDA plugins installed (jax-cuda12-plugin, jax-cuda13-plugin), with their versions."""
        return {n: v for n, v in self.installed if n.endswith("-plugin")}


@dataclass(frozen=True)
class JaxDevice:
    """One device of one backend."""

    id: int
    platform: str  # "cpu", "gpu"
    kind: str | None = None  # device_kind: "NVIDIA H100 80GB HBM3"
    compute_capability: str | None = None  # a GPU's, "9.0"


@dataclass(frozen=True)
class JaxBackend:
    """jax.devices(platform): its devices, or what it raised."""

    platform: str  # "cpu", "gpu"
    devices: tuple[JaxDevice, ...] = ()
    error: str | None = None  # "RuntimeError: Unknown backend: 'gpu' requested, ..."


@dataclass(frozen=True)
class JaxDevices:
    """The backends JAX initialised, its default one, and what it logged while doing so."""

    default_backend: str | None
    backends: tuple[JaxBackend, ...] = ()
    warnings: tuple[str, ...] = ()  # "An NVIDIA GPU may be present on this machine, but a CUDA-enabled jaxlib ..."
    error: str | None = None  # jax.devices() itself raised
    cuda_visible_devices: str | None = None
    platforms: str | None = None  # JAX_PLATFORMS as the child had it (None: unset)

    def backend(self, platform: str) -> JaxBackend | None:
        return next((b for b in self.backends if b.platform == platform), None)

    @property
    def gpus(self) -> tuple[JaxDevice, ...]:
        gpu = self.backend("gpu")
        return () if gpu is None else gpu.devices


@dataclass(frozen=True)
class JaxPrecision:
    """The default matmul and convolution precision of a fresh JAX process (placement experiments: ``precision``)."""

    default_matmul_precision: str | None  # jax.config.jax_default_matmul_precision (None: DEFAULT)
    environment: tuple[tuple[str, str], ...] = ()  # JAX_DEFAULT_MATMUL_PRECISION, where set


@dataclass(frozen=True)
class JaxHoldReport:
    """What a JAX memory child saw of its own allocation while it held it (memory experiments)."""

    pid: int
    mode: str  # "default", "preallocate_false", "mem_fraction", "platform"
    gpus: int = 0  # len(jax.devices('gpu'))
    settings: tuple[tuple[str, str], ...] = ()  # the XLA_PYTHON_CLIENT_* / XLA_CLIENT_* variables as set
    options: tuple[tuple[str, str], ...] = ()  # what jaxlib passes the CUDA plugin for them (xla_client)
    bytes_in_use: int | None = None  # device.memory_stats()
    pool_bytes: int | None = None
    bytes_limit: int | None = None
    peak_bytes_in_use: int | None = None
    warnings: tuple[str, ...] = ()  # what JAX logged or warned starting the backend
    error: str | None = None  # why it could not allocate (no GPU): reported, then held
