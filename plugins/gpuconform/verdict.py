"""Collect each check's outcome and reduce them to one host verdict.

The verdict is the first layer, lowest first, with a failed or errored check;
its reason is that check's one-line summary. Checks skipped as blocked or not
applicable never fail a host; checks that could not run (errors) always do.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from dataclasses import field

from gpuconform.check import BLOCKED
from gpuconform.check import NOT_APPLICABLE

#: The layers, lowest first; each is a pytest marker and one file in suites/.
LAYERS = (
    "platform",
    "driver",
    "libraries",
    "framework",
    "placement",
    "memory",
    "preprocessing",
    "determinism",
)

LAYER_HELP = {
    "platform": "is this Python/OS one the installed TensorFlow supports?",
    "driver": "is an NVIDIA GPU present, bound to the nvidia kernel module and reachable?",
    "libraries": "can the CUDA libraries TensorFlow needs be loaded, in the right versions, once?",
    "framework": "does the installed TensorFlow match the matrix and see the GPUs?",
    "placement": "do ops really run on each GPU and agree with the CPU?",
    "memory": "do memory growth and limits behave as configured?",
    "preprocessing": "do Keras image-loading paths behave as this Keras version is known to?",
    "determinism": "does inference give the same answer every time it should?",
}


@dataclass
class CheckOutcome:
    """What happened to one check."""

    check_id: str  # "driver::nvidia_gpu_on_pci_bus"
    layer: str
    outcome: str = "passed"  # passed, failed, error, skipped, xfailed, xpassed
    summary: str = ""  # one line
    message: str = ""  # full text
    fix: str = ""
    skip_reason: str = ""
    warnings: list[str] = field(default_factory=list)
    duration: float = 0.0

    @property
    def skip_kind(self) -> str:
        """'not-applicable', 'blocked' or 'other' for a skipped check."""
        if self.skip_reason.startswith(NOT_APPLICABLE):
            return "not-applicable"
        if self.skip_reason.startswith(BLOCKED):
            return "blocked"
        return "other"

    @property
    def is_problem(self) -> bool:
        """Whether this outcome makes the host fail."""
        return self.outcome in ("failed", "error", "xpassed")


@dataclass(frozen=True)
class Verdict:
    """The host verdict."""

    status: str  # "PASS", "FAIL" or "NONE" (no check ran)
    profile: str
    layer: str | None = None
    check_id: str | None = None
    reason: str = ""
    fix: str = ""
    warnings: tuple[str, ...] = ()

    def line(self) -> str:
        """The one line CI logs and people grep."""
        if self.status == "FAIL":
            return f"host verdict: FAIL at {self.layer}: {self.reason}"
        if self.status == "NONE":
            return f"host verdict: NONE (profile {self.profile}): no checks ran"
        suffix = f", {len(self.warnings)} warning(s)" if self.warnings else ""
        return f"host verdict: PASS (profile {self.profile}{suffix})"


def compute_verdict(outcomes: Iterable[CheckOutcome], profile: str, strict: bool = False) -> Verdict:
    """Reduce outcomes to a verdict; in strict mode a warning fails its layer too."""
    # Stable: within a layer, the order the checks ran (lowest prerequisite first).
    ordered = sorted(outcomes, key=lambda o: _layer_rank(o.layer))
    warnings = tuple(f"{o.check_id}: {w}" for o in ordered for w in o.warnings)
    for o in ordered:
        if o.is_problem:
            reason = o.summary or o.outcome
            if o.outcome == "error":
                reason = f"could not check {o.check_id}: {reason}"
            elif o.outcome == "xpassed":
                reason = f"{o.check_id} unexpectedly passed: a known regression changed; update the matrix or pin"
            return Verdict("FAIL", profile, o.layer, o.check_id, reason, o.fix, warnings)
        if strict and o.warnings:
            reason = f"warning treated as failure (--host-strict): {o.warnings[0]}"
            return Verdict("FAIL", profile, o.layer, o.check_id, reason, o.fix, warnings)
    if not any(o.outcome != "skipped" or o.skip_kind != "other" for o in ordered):
        return Verdict("NONE", profile)
    return Verdict("PASS", profile, warnings=warnings)


def _layer_rank(layer: str) -> int:
    return LAYERS.index(layer) if layer in LAYERS else len(LAYERS)
