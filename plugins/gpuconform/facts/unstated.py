"""Values a Facts file records as not stated (`base.NOT_STATED`), in the words a check that needs them reports.

A check that needs a value the replayed facts do not state is not applicable, never a pass or a failure, and its
reason names the missing fact; a check that depends on it is then not blocked, since nothing failed. Each function
answers None where the value is known, or missing for another reason (a probe that could not read it), so that the
caller's own message for that case stands.
"""

from __future__ import annotations

from collections.abc import Iterable

from gpuconform.facts.base import NOT_STATED
from gpuconform.facts.base import ProbeError
from gpuconform.facts.model import Facts
from gpuconform.facts.model import LibraryLoad

#: Where the driver version is recorded as not stated: NVML's query, then /proc/driver/nvidia/version's.
DRIVER_VERSION = ("nvml.nvmlSystemGetDriverVersion", "proc_version")
#: Where the CUDA version the driver runs is recorded as not stated.
CUDA_DRIVER_VERSION = ("nvml.nvmlSystemGetCudaDriverVersion",)
#: The probe of a library load whose version is not stated.
LIBRARY_VERSION = "libraries"


def not_stated_text(what: str, error: ProbeError) -> str:
    """"the replayed facts do not state <what> (<what the file says of it>)"."""
    return f"the replayed facts do not state {what} ({error.message})"


def _unstated(errors: Iterable[ProbeError | None], probes: tuple[str, ...]) -> ProbeError | None:
    return next((e for e in errors if e is not None and e.kind == NOT_STATED and e.probe in probes), None)


def driver_version_not_stated(facts: Facts) -> str | None:
    """Why no driver version is known, where the facts record it as not stated: neither NVML's nor the kernel
    module's is there."""
    d = facts.driver
    if d.nvml.driver_version or d.kernel_module_version:
        return None
    error = _unstated((*d.nvml.errors, d.proc_version_error), DRIVER_VERSION)
    return not_stated_text("the driver version", error) if error is not None else None


def cuda_driver_version_not_stated(facts: Facts) -> str | None:
    """Why the CUDA version the driver runs is not known, where the facts record it as not stated."""
    nvml = facts.driver.nvml
    if nvml.cuda_driver_version:
        return None
    error = _unstated(nvml.errors, CUDA_DRIVER_VERSION)
    return not_stated_text("the CUDA version the driver runs", error) if error is not None else None


def library_version_not_stated(loads: Iterable[LibraryLoad]) -> str | None:
    """Why no version of these library loads is known, where a loaded copy's is recorded as not stated."""
    listed = tuple(loads)
    if any(ld.version for ld in listed):
        return None
    load = next((ld for ld in listed if ld.loaded and _unstated((ld.error,), (LIBRARY_VERSION,))), None)
    if load is None or load.error is None:
        return None
    return not_stated_text(f"the version of {load.path}", load.error)


def is_not_stated(error: ProbeError | None) -> bool:
    """Whether `error` records a value as not stated (not a failure to observe it)."""
    return error is not None and error.kind == NOT_STATED
