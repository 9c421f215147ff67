"""JAX, as the framework seam knows it."""

from __future__ import annotations

from gpuconform.frameworks.base import Framework

#: Read when a backend initialises (the first jax.devices()), never while jax imports; the
#: GPUCONFORM_* variables are the experiments' own. XLA parses XLA_FLAGS once, when the first
#: backend starts (jax 0.10.2: an unknown flag set after `import jax` still aborts the first
#: jax.devices() with "Unknown flag in XLA_FLAGS", parse_flags_from_env.cc).
AFTER_IMPORT = frozenset({"CUDA_VISIBLE_DEVICES", "CUDA_DEVICE_ORDER", "XLA_FLAGS"})


def after_import(name: str) -> bool:
    """Whether a child forked after `import jax` may still set `name` (XLA's client settings: at backend start)."""
    return name in AFTER_IMPORT or name.startswith(("GPUCONFORM_", "XLA_PYTHON_CLIENT_"))


def landmark(line: str) -> bool:
    """Whether a line of a JAX child's log is one its checks read (backend and plugin warnings)."""
    return "CUDA" in line or "jaxlib" in line or "plugin" in line


FRAMEWORK = Framework(
    id="jax",
    name="JAX",
    distributions=("jax",),
    experiments="gpuconform.frameworks.jax.experiments",
    landmark=landmark,
    after_import=after_import,
)
