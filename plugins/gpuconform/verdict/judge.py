"""Collect each check's outcome and reduce them to one host verdict.

The verdict is the first layer, lowest first, with a failed or errored check;
its root is that check, its reason that check's one-line summary and its fix
that check's remediation. Checks skipped because the root (or a check blocked
by it) failed are listed as blocked by it, not as more problems. Checks skipped
as not applicable never fail a host; checks that could not run (errors) always do.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field

from gpuconform.verdict.check import BLOCKED
from gpuconform.verdict.check import NOT_APPLICABLE
from gpuconform.verdict.check import Finding
from gpuconform.verdict.check import blocked_reason

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

#: The honest outcome classes of a check, as result.json and the HTML name them.
OUTCOMES = ("passed", "failed", "error", "blocked", "not-applicable", "xfailed", "xpassed")
#: The classes that make a host fail.
PROBLEMS = ("failed", "error", "xpassed")
#: A layer's status, worst first.
LAYER_STATUSES = ("fail", "error", "warn", "pass", "blocked", "not-applicable", "not-run")

_BLOCKED_BY = re.compile(rf"^{BLOCKED} (\S+): ")


@dataclass
class CheckOutcome:
    """What happened to one check."""

    check_id: str  # "driver::nvidia_gpu_on_pci_bus"
    layer: str
    outcome: str = "passed"  # pytest's: passed, failed, error, skipped, xfailed, xpassed
    summary: str = ""  # one line
    message: str = ""  # full text
    fix: str = ""
    skip_reason: str = ""
    warnings: list[Finding] = field(default_factory=list)  # plain strings are accepted too
    duration: float = 0.0
    finding: Finding | None = None  # the four parts of a failure or an error
    nodeid: str = ""
    depends_on: tuple[str, ...] = ()  # the check ids of its depends_on marks

    def __post_init__(self) -> None:
        self.warnings = [w if isinstance(w, Finding) else Finding(str(w)) for w in self.warnings]

    def block(self, reason: str) -> None:
        """Become a check skipped as blocked (`reason`: "blocked by <check>: ..."), whatever it did."""
        self.outcome, self.skip_reason = "skipped", reason
        self.summary = self.message = self.fix = ""
        self.finding, self.warnings = None, []

    @property
    def skip_kind(self) -> str:
        """'not-applicable', 'blocked' or 'other' for a skipped check."""
        if self.skip_reason.startswith(NOT_APPLICABLE):
            return "not-applicable"
        if self.skip_reason.startswith(BLOCKED):
            return "blocked"
        return "other"

    @property
    def kind(self) -> str:
        """The honest class (one of OUTCOMES): a skip is 'blocked' or 'not-applicable', or else an error."""
        if self.outcome != "skipped":
            return self.outcome
        kind = self.skip_kind
        return "error" if kind == "other" else kind

    @property
    def blocked_by(self) -> str | None:
        """The check id this one was blocked by, if it was."""
        match = _BLOCKED_BY.match(self.skip_reason) if self.outcome == "skipped" else None
        return match.group(1) if match else None

    @property
    def is_problem(self) -> bool:
        """Whether this outcome makes the host fail."""
        return self.kind in PROBLEMS

    @property
    def reason(self) -> str:
        """One line: the failure's summary, or why the check was skipped."""
        return self.summary or self.skip_reason


@dataclass(frozen=True)
class Verdict:
    """The host verdict."""

    status: str  # "PASS", "FAIL" or "NONE" (no check ran)
    profile: str
    layer: str | None = None
    check_id: str | None = None  # the root check
    reason: str = ""
    fix: str = ""
    warnings: tuple[str, ...] = ()
    finding: Finding | None = None  # the root check's four parts
    blocked: tuple[str, ...] = ()  # checks blocked, directly or not, by the root
    also: tuple[tuple[str, str], ...] = ()  # other problems: (check id, reason)

    def line(self) -> str:
        """The one line CI logs and people grep."""
        if self.status == "FAIL":
            return f"host verdict: FAIL at {self.layer}: {self.reason}"
        if self.status == "NONE":
            return f"host verdict: NONE (profile {self.profile}): no checks ran"
        suffix = f", {len(self.warnings)} warning(s)" if self.warnings else ""
        return f"host verdict: PASS (profile {self.profile}{suffix})"


@dataclass(frozen=True)
class LayerSummary:
    """How one layer went: its status and how many checks ended in each class."""

    layer: str
    status: str  # one of LAYER_STATUSES
    counts: dict[str, int]  # every class of OUTCOMES, zero included
    warnings: int = 0

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def compute_verdict(outcomes: Iterable[CheckOutcome], profile: str, strict: bool = False) -> Verdict:
    """Reduce outcomes to a verdict; in strict mode a warning fails its layer too."""
    # Stable: within a layer, the order the checks ran (lowest prerequisite first).
    ordered = sorted(outcomes, key=lambda o: layer_rank(o.layer))
    warnings = tuple(f"{o.check_id}: {w.summary}" for o in ordered for w in o.warnings)
    root: CheckOutcome | None = None
    reason = ""
    for o in ordered:
        if o.is_problem:
            root, reason = o, o.summary or o.skip_reason or o.outcome
            if o.kind == "error" and not reason.startswith("could not check"):
                reason = f"could not check {o.check_id}: {reason}"
            elif o.kind == "xpassed":
                reason = f"{o.check_id} unexpectedly passed: a known regression changed; update the matrix or pin"
            break
        if strict and o.warnings:
            root, reason = o, f"warning treated as failure (--host-strict): {o.warnings[0].summary}"
            break
    if root is not None:
        finding = root.finding if root.is_problem else root.warnings[0]
        fix = root.fix if root.is_problem else root.warnings[0].fix
        blocked = blocked_by_root(ordered, root.check_id)
        also = tuple(
            (o.check_id, o.reason) for o in ordered if o.is_problem and o is not root and o.check_id not in blocked
        )
        return Verdict("FAIL", profile, root.layer, root.check_id, reason, fix, warnings, finding, blocked, also)
    if not any(o.kind != "not-applicable" for o in ordered):
        return Verdict("NONE", profile)
    return Verdict("PASS", profile, warnings=warnings)


def blocking_reason(check_id: str, prerequisite: CheckOutcome | None) -> str | None:
    """Why a check that depends on `check_id` is blocked, given how that check went (None: it ran no
    problem, or has not run): the reason of what blocked it, so a chain names its root once and never
    reads "blocked by A: blocked by B: ...", else its own failure."""
    if prerequisite is None:
        return None
    if prerequisite.blocked_by:
        return prerequisite.skip_reason
    if prerequisite.is_problem:
        return blocked_reason(check_id, prerequisite.summary or prerequisite.skip_reason or prerequisite.outcome)
    return None


def block_dependents(outcomes: Mapping[str, CheckOutcome]) -> list[str]:
    """Block, after the fact, each check whose depends_on prerequisite failed or was blocked where the
    check could not know it when it started: under pytest-xdist the prerequisite ran on another worker
    (or after it). A serial run blocks such a check before it starts; this makes every run end the same.
    Returns the ids of the checks it blocked, in order."""
    changed: list[str] = []
    for _ in range(len(outcomes) + 1):  # a chain settles in as many passes as it is long; a cycle stops here
        settled = True
        for o in outcomes.values():
            reason = next(filter(None, (blocking_reason(d, outcomes.get(d)) for d in o.depends_on)), None)
            if reason is not None and (o.outcome, o.skip_reason) != ("skipped", reason):
                o.block(reason)
                changed.append(o.check_id)
                settled = False
        if settled:
            break
    return list(dict.fromkeys(changed))


def blocked_by_root(outcomes: Iterable[CheckOutcome], root: str) -> tuple[str, ...]:
    """The checks blocked by `root`, directly or through other blocked checks, in order."""
    parent = {o.check_id: o.blocked_by for o in outcomes if o.blocked_by}
    found = []
    for check_id in parent:
        seen = {check_id}
        cause = parent[check_id]
        while cause in parent and cause not in seen:  # a cycle is a bug in the marks; stop there
            seen.add(cause)
            cause = parent[cause]
        if cause == root:
            found.append(check_id)
    return tuple(found)


def layer_summaries(outcomes: Iterable[CheckOutcome], strict: bool = False) -> list[LayerSummary]:
    """One summary per layer, lowest first (layers no check ran in are 'not-run')."""
    by_layer: dict[str, list[CheckOutcome]] = {layer: [] for layer in LAYERS}
    for o in outcomes:
        by_layer.setdefault(o.layer, []).append(o)
    summaries = []
    for layer, items in by_layer.items():
        counts = Counter({kind: 0 for kind in OUTCOMES})
        counts.update(o.kind for o in items)
        warned = sum(len(o.warnings) for o in items)
        summaries.append(LayerSummary(layer, layer_status(counts, warned, strict), dict(counts), warned))
    return summaries


def layer_status(counts: dict[str, int], warnings: int = 0, strict: bool = False) -> str:
    """The status of a layer from its counts by class: the worst class present wins, except
    that passes vouch for a layer only when they outnumber its blocked checks.

    A layer without a problem or a warning is 'blocked' when more of its checks were blocked
    than passed (an xfailed check, a known regression, counts as passed): two passes cannot
    stand for a layer whose other six checks never ran (the t4 memory layer on a host whose
    GPU TensorFlow cannot see). Not-applicable checks count on neither side.
    """
    if counts.get("failed") or counts.get("xpassed") or (strict and warnings):
        return "fail"
    if counts.get("error"):
        return "error"
    if warnings:
        return "warn"
    passed = counts.get("passed", 0) + counts.get("xfailed", 0)
    if counts.get("blocked", 0) > passed:
        return "blocked"
    if passed:
        return "pass"
    if counts.get("not-applicable"):
        return "not-applicable"
    return "not-run"


def layer_rank(layer: str) -> int:
    """A layer's position, lowest first; unknown layers sort after the known ones."""
    return LAYERS.index(layer) if layer in LAYERS else len(LAYERS)
