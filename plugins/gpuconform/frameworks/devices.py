"""GPU visibility: which GPUs a framework child should see, by the CUDA rules every framework follows.

`CUDA_VISIBLE_DEVICES` follows the CUDA programming guide's rules
(tf-behaviors §2): unset shows every GPU; empty shows none; entries are
indices or (prefixes of) GPU UUIDs, and the first invalid entry ends the list
(``0,2,-1,1`` shows 0 and 2). Frameworks number what is visible from 0.
Indices mean NVML's order only with ``CUDA_DEVICE_ORDER=PCI_BUS_ID``, which the
children that compare orders set.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass

from gpuconform.facts.model import GpuFacts

VISIBLE = "CUDA_VISIBLE_DEVICES"
ORDER = "CUDA_DEVICE_ORDER"


@dataclass(frozen=True)
class Visibility:
    """The GPUs a CUDA_VISIBLE_DEVICES value shows, in CUDA's numbering."""

    value: str | None
    gpus: tuple[GpuFacts, ...]
    stopped_at: str | None = None  # the entry that ended the list, when one did
    resolved: bool = True  # False: an entry (a MIG identifier) cannot be matched to NVML's GPUs

    def describe(self) -> str:
        """ "CUDA_VISIBLE_DEVICES='1' shows GPU 1 (Tesla T4)", for messages."""
        if self.value is None:
            return f"{VISIBLE} is unset (every GPU visible)"
        shown = ", ".join(f"GPU {g.index} ({g.name})" for g in self.gpus) or "no GPU"
        text = f"{VISIBLE}={self.value!r} shows {shown}"
        if self.stopped_at is not None:
            text += f"; the list ends at the invalid entry {self.stopped_at!r}"
        return text


def visibility(value: str | None, gpus: Sequence[GpuFacts]) -> Visibility:
    """Which of NVML's `gpus` a child with CUDA_VISIBLE_DEVICES=`value` sees."""
    if value is None:
        return Visibility(None, tuple(gpus))
    shown: list[GpuFacts] = []
    if not value.strip():
        return Visibility(value, ())
    for raw in value.split(","):
        entry = raw.strip()
        if entry.startswith("MIG-"):
            return Visibility(value, tuple(shown), resolved=False)
        gpu = _resolve(entry, gpus)
        if gpu is None or gpu in shown:
            return Visibility(value, tuple(shown), stopped_at=entry)
        shown.append(gpu)
    return Visibility(value, tuple(shown))


def _resolve(entry: str, gpus: Sequence[GpuFacts]) -> GpuFacts | None:
    if entry.isdigit():
        return next((g for g in gpus if g.index == int(entry)), None)
    if entry.startswith("GPU-") and len(entry) > 4:
        matches = [g for g in gpus if g.uuid and g.uuid.startswith(entry)]
        return matches[0] if len(matches) == 1 else None
    return None


def pinned_env(pin: int | None) -> dict[str, str]:
    """The environment that shows a child only NVML GPU `pin` (nothing when not pinned)."""
    if pin is None:
        return {}
    return {VISIBLE: str(pin), ORDER: "PCI_BUS_ID"}


def expected_visibility(env: Mapping[str, str], gpus: Sequence[GpuFacts]) -> Visibility:
    """What TF children started with `env` should see of NVML's `gpus`."""
    return visibility(env.get(VISIBLE), gpus)


def subsets(gpus: Sequence[GpuFacts]) -> list[str]:
    """CUDA_VISIBLE_DEVICES values worth a child each: none, the last alone, the first two both ways."""
    indices = [str(g.index) for g in gpus]
    values = ["", indices[-1]] if indices else [""]
    if len(indices) >= 2:
        values += [f"{indices[0]},{indices[1]}", f"{indices[1]},{indices[0]}"]
    return values
