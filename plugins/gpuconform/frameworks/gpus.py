"""The GPUs a framework's checks judge against: each distinct compute capability, how many a child should
see, and how messages name them and a framework's complaint about them.

NVML's answers first (what the host has), the profile's when NVML lists none (a replayed or
described host, or one whose driver layer failed). Shared by every framework's checks.
"""

from __future__ import annotations

from gpuconform.expect.expectations import Expectations
from gpuconform.facts.model import Facts
from gpuconform.facts.model import GpuFacts
from gpuconform.facts.versions import parse_cc
from gpuconform.verdict.check import not_applicable

#: (GPU name, compute capability, where it came from)
GpuCc = tuple[str, tuple[int, int], str]


def gpus_with_cc(facts: Facts, expect: Expectations) -> list[GpuCc]:
    """Each distinct GPU's compute capability: NVML's, else the profile's (not applicable when neither knows)."""
    seen: dict[tuple[str, tuple[int, int]], str] = {}
    for gpu in facts.driver.nvml.gpus:
        if gpu.compute_capability is not None:
            seen.setdefault((gpu.name, gpu.compute_capability), "NVML (nvmlDeviceGetCudaComputeCapability)")
    if seen:
        return [(name, cc, source) for (name, cc), source in seen.items()]
    profile = expect.profile
    text = profile.gpus.compute_capability
    if text is None and expect.gpu_model is not None:
        return [(expect.gpu_model.names[0], expect.gpu_model.compute_capability, "matrices/gpus.toml")]
    if text is None:
        not_applicable("no compute capability is known: NVML lists no GPU and the profile names none")
    return [(profile.gpus.model or "the profile's GPU", parse_cc(text), f"profile {profile.name!r}")]


def expected_gpus(facts: Facts, expect: Expectations, pin: int | None) -> tuple[GpuFacts, ...]:
    """The GPUs a child should see: the pinned one, else the profile's count of NVML's GPUs."""
    gpus = facts.driver.nvml.gpus
    if pin is not None:
        return tuple(g for g in gpus if g.index == pin)
    count = expect.profile.gpus.count
    if len(gpus) >= count:
        return tuple(gpus[:count])
    # NVML shows fewer (the driver layer fails for that); still expect the profile's count.
    filler = GpuFacts(index=-1, name=expect.gpu_model.names[0] if expect.gpu_model else "GPU")
    return tuple(gpus) + (filler,) * (count - len(gpus))


def describe_gpus(gpus: tuple[GpuFacts, ...]) -> str:
    """'2 GPU(s): GPU 0 (NVIDIA H100 80GB HBM3), GPU 1 (...)', for messages."""
    listed = ", ".join(f"GPU {g.index} ({g.name})" if g.index >= 0 else g.name for g in gpus)
    return f"{len(gpus)} GPU(s)" + (f": {listed}" if listed else "")


def first_sentence(text: str) -> str:
    """A message's first line up to its first full stop: the cause, without the advice that follows."""
    line = text.splitlines()[0] if text else ""
    end = line.find(". ")
    return line if end < 0 else line[: end + 1]
