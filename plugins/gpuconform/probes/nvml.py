"""Ask NVML about the driver and the GPUs, from a child process.

The child (`gpuconform.probes.nvml_child`) loads the real libnvidia-ml through
pynvml. Loading it here would let a broken library segfault or hang the pytest
process; in a child, that becomes `NvmlFacts.init_error` with the signal or the
timeout named, and the run goes on.
"""

from __future__ import annotations

from collections.abc import Mapping

from gpuconform.facts.base import ProbeError
from gpuconform.facts.errors import DataError
from gpuconform.facts.model import NvmlFacts
from gpuconform.facts.serde import load
from gpuconform.probes.child import DEFAULT_TIMEOUT
from gpuconform.probes.child import child_env
from gpuconform.probes.child import run_python

PROBE = "nvml"
CHILD_MODULE = "gpuconform.probes.nvml_child"


def probe_nvml(
    *, timeout: float = DEFAULT_TIMEOUT, env: Mapping[str, str] | None = None
) -> NvmlFacts:
    """Run the NVML child with `env` (default: ours) and return what it saw, or why it could not."""
    result = run_python(
        ["-m", CHILD_MODULE], timeout=timeout, env=env if env is not None else child_env()
    )
    error = result.error(PROBE)
    if error is not None:
        return NvmlFacts(init_error=error)
    try:
        return load(NvmlFacts, result.json(), "NVML probe child output")
    except (DataError, ValueError) as exc:
        return NvmlFacts(init_error=ProbeError(PROBE, "invalid-output", str(exc)))
