"""Memory experiments: PyTorch children that allocate on their GPU and hold it while the parent measures with NVML.

One child per experiment, each run under `gpuconform.frameworks.hold` (the parent shows it one
GPU, measures it from outside, then releases it):

- ``hold_caching``: a 256 MiB tensor and a matmul through the caching allocator; the child says
  what `memory_allocated` and `memory_reserved` are while it holds them (also the child of the
  two-processes check, twice at once);
- ``hold_fraction``: `set_per_process_memory_fraction` capping the process at
  ``GPUCONFORM_TORCH_CAP_MIB``; an allocation inside the cap, then one 256 MiB beyond it, which
  must raise `torch.OutOfMemoryError`;
- ``hold_expandable``: the same allocation with the allocator configuration the parent set
  (``PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True``), every warning recorded.

Without a GPU each says so in its report (``error``) and holds anyway, as a broken GPU would.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

from gpuconform.facts.serde import dump
from gpuconform.frameworks.hold import ready_then_hold
from gpuconform.frameworks.torch.observations import TorchHoldReport

CAP_ENV = "GPUCONFORM_TORCH_CAP_MIB"
#: The variables torch reads its allocator configuration from, the first preferred where it reads both.
ALLOC_CONF = ("PYTORCH_ALLOC_CONF", "PYTORCH_CUDA_ALLOC_CONF")
HELD_MIB = 256
#: How far beyond the fraction's cap the fraction child asks.
OVER_MIB = 256
MIB = 1 << 20


def _hold(torch: Any, mode: str, allocate: Any) -> Any:
    report: dict[str, Any] = {
        "pid": os.getpid(),
        "mode": mode,
        "alloc_conf": tuple((k, os.environ[k]) for k in ALLOC_CONF if k in os.environ),
    }
    keep: list[Any] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            if not torch.cuda.is_available():
                raise RuntimeError("torch.cuda.is_available() is False: torch sees no GPU")
            report["device_count"] = int(torch.cuda.device_count())
            report["total_bytes"] = int(torch.cuda.mem_get_info(0)[1])
            report["allocator_backend"] = str(torch.cuda.get_allocator_backend())
            report.update(allocate(torch, keep, report["total_bytes"]))
            torch.cuda.synchronize()
            report["allocated_bytes"] = int(torch.cuda.memory_allocated(0))
            report["reserved_bytes"] = int(torch.cuda.memory_reserved(0))
        except Exception as exc:  # noqa: BLE001 - reported, then held anyway: the parent still measures
            report["error"] = f"{type(exc).__name__}: {exc}"[:2000]
    report["warnings"] = tuple(dict.fromkeys(str(w.message)[:1000] for w in caught))
    return ready_then_hold(dump(TorchHoldReport(**report)))


def _tensor(torch: Any, mib: int) -> Any:
    return torch.empty(mib * MIB // 4, dtype=torch.float32, device="cuda:0").fill_(1.0)


def _held(torch: Any, keep: list[Any], total: int) -> dict[str, Any]:
    keep.append(_tensor(torch, HELD_MIB))
    a = torch.ones((512, 512), device="cuda:0")
    keep.append(a @ a)
    return {}


def _attempt(torch: Any, mib: int, keep: list[Any] | None) -> str:
    try:
        tensor = _tensor(torch, mib)
    except torch.OutOfMemoryError as exc:
        return f"raised OutOfMemoryError: {str(exc).splitlines()[0][:300]}"
    except Exception as exc:  # noqa: BLE001 - another error is not the documented one
        return f"raised {type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
    if keep is not None:
        keep.append(tensor)
    return "succeeded"


def _capped(torch: Any, keep: list[Any], total: int) -> dict[str, Any]:
    cap_mib = int(os.environ[CAP_ENV])
    fraction = cap_mib * MIB / total
    torch.cuda.set_per_process_memory_fraction(fraction, 0)
    within = _attempt(torch, cap_mib // 4, keep)
    over = _attempt(torch, cap_mib + OVER_MIB, None)
    return {"fraction": fraction, "within_fraction": within, "over_fraction": over}


def hold_caching(torch: Any) -> Any:
    """A 256 MiB tensor and a small matmul, held; memory_allocated and memory_reserved reported."""
    return _hold(torch, "caching", _held)


def hold_fraction(torch: Any) -> Any:
    """set_per_process_memory_fraction to the parent's cap, then allocations inside and beyond it."""
    return _hold(torch, "fraction", _capped)


def hold_expandable(torch: Any) -> Any:
    """The caching child's allocation under the allocator configuration the parent set."""
    return _hold(torch, "expandable_segments", _held)
