"""Where a TensorFlow op ran and whether its result holds: device names, tolerances, the subset a child saw.

TensorFlow names devices `/job:localhost/replica:0/task:0/device:GPU:0`; a child started
with `CUDA_VISIBLE_DEVICES` (`gpuconform.frameworks.devices`) numbers what it sees from 0.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from gpuconform.frameworks.agreement import relative_tolerance
from gpuconform.frameworks.devices import VISIBLE
from gpuconform.frameworks.devices import Visibility
from gpuconform.frameworks.tensorflow.log import CreatedGpu
from gpuconform.frameworks.tensorflow.observations import DeviceList
from gpuconform.frameworks.tensorflow.observations import OpRun

_DEVICE = re.compile(r"(?:/job:[^/]+/replica:\d+/task:\d+)?/(?:device:)?(?P<type>[A-Z_]+):(?P<index>\d+)$")



def parse_device(name: str | None) -> tuple[str, int] | None:
    """("GPU", 1) for "/job:localhost/replica:0/task:0/device:GPU:1", "/device:GPU:1" or "/GPU:1"."""
    if not name:
        return None
    match = _DEVICE.search(name)
    return (match["type"], int(match["index"])) if match else None


def is_fully_qualified(name: str | None) -> bool:
    """Whether a tensor's device string has the job/replica/task/device form TF documents."""
    return bool(name) and bool(re.fullmatch(r"/job:[^/]+/replica:\d+/task:\d+/device:[A-Z_]+:\d+", name or ""))


def tolerance(run: OpRun) -> float:
    """The relative tolerance for an op's result (TF32 widens float32 matmul and conv on the GPU)."""
    on_gpu = parse_device(run.requested) not in (None, ("CPU", 0))
    return relative_tolerance(run.dtype, bool(run.tf32) and on_gpu)


def op_problem(run: OpRun) -> str | None:
    """Why an op run does not conform (wrong device, raised, result off), or None."""
    want = parse_device(run.requested)
    got = parse_device(run.result_device)
    label = f"{run.op} ({run.dtype}) on {run.requested}"
    if run.error is not None:
        return f"{label} raised {run.error}"
    if got != want:
        return f"{label} ran on {run.result_device or 'an unknown device'}"
    if run.max_abs_error is None or run.reference_scale is None:
        return f"{label} returned no result to compare"
    allowed = tolerance(run) * max(run.reference_scale, 1.0)
    if not run.max_abs_error <= allowed:  # `not <=` so that NaN fails too
        return (
            f"{label} differs from the {run.reference} result by {run.max_abs_error:.3g} "
            f"(allowed {allowed:.3g}: {tolerance(run):g} x max |reference| {run.reference_scale:.3g})"
        )
    return None


def subset_problem(expected: Visibility, seen: DeviceList, created: Sequence[CreatedGpu]) -> str | None:
    """Why a child started with CUDA_VISIBLE_DEVICES=`expected.value` did not see exactly those GPUs, from 0."""
    label = f"with {VISIBLE}={expected.value!r}"
    names = [g.name for g in seen.gpus]
    want_names = [f"/physical_device:GPU:{i}" for i in range(len(expected.gpus))]
    if len(names) != len(want_names):
        return f"{label} TensorFlow sees {len(names)} GPU(s) ({', '.join(names) or 'none'}), expected {len(want_names)}"
    if names != want_names:
        return f"{label} TensorFlow numbers the GPUs {', '.join(names)}, expected {', '.join(want_names)}"
    for position, gpu in enumerate(expected.gpus):
        tf_gpu = seen.gpus[position]
        if gpu.compute_capability and tf_gpu.compute_capability and gpu.compute_capability != tf_gpu.compute_capability:
            return (
                f"{label} TensorFlow's GPU:{position} has compute capability "
                f"{tf_gpu.compute_capability}, but NVML GPU {gpu.index} has {gpu.compute_capability}"
            )
        made = next((c for c in created if c.tf_index == position), None)
        if made is not None and gpu.pci_bus_id and _bus(made.pci_bus_id) != _bus(gpu.pci_bus_id):
            return (
                f"{label} TensorFlow's GPU:{position} is the device at {made.pci_bus_id}, "
                f"but the list names NVML GPU {gpu.index} at {gpu.pci_bus_id}"
            )
    return None


def _bus(text: str) -> str:
    """'00000000:00:04.0' (NVML) and '0000:00:04.0' (TF, sysfs) name one device."""
    parts = text.strip().lower().split(":")
    if len(parts) == 3 and all(parts):
        try:
            return f"{int(parts[0], 16):04x}:{parts[1]}:{parts[2]}"
        except ValueError:
            pass
    return text.strip().lower()
