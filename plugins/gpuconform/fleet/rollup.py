"""Group failing hosts by root cause and count the fleet by verdict and by layer.

Two hosts share a cause when their verdicts name the same root check and the same
reason once the host-specific parts are masked: PCI addresses, GPU indices and UUIDs,
file paths (down to their file name), driver versions (down to their branch) and other
versions (down to major.minor). So "driver 470.82.01 is too old for tensorflow 2.21.0"
and "driver 470.57.02 is too old for tensorflow 2.21.1" make one group of two:
"driver 470.* is too old for tensorflow 2.21".
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from dataclasses import field

from gpuconform.fleet.inputs import HostResult
from gpuconform.fleet.inputs import Skipped
from gpuconform.verdict.judge import layer_rank

_MASKS = (
    (re.compile(r"\b[0-9a-fA-F]{4,8}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]\b"), "<pci>"),
    (re.compile(r"\b(?:GPU|MIG)-[0-9a-fA-F-]{8,}\b"), "<uuid>"),
    (re.compile(r"\bGPU \d+\b"), "GPU #"),
    (re.compile(r"(?<![\w.])(?:/[\w.+@-]+)+/([\w.+@-]+)"), r".../\1"),
    (re.compile(r"\b([1-9]\d{2})\.\d+(?:\.\d+)?\b"), r"\1.*"),  # driver versions: keep the branch
    (re.compile(r"\b(\d+\.\d+)\.\d+\b"), r"\1"),  # other versions: keep major.minor
)


def cause_text(reason: str) -> str:
    """The reason with its host-specific parts masked (see the module docstring)."""
    for pattern, replacement in _MASKS:
        reason = pattern.sub(replacement, reason)
    return reason


@dataclass
class Cause:
    """One root cause and the hosts it fails."""

    check_id: str
    layer: str
    title: str  # the masked reason
    hosts: list[str] = field(default_factory=list)  # their labels (Fleet.label): hostnames, made unique
    fixes: Counter[str] = field(default_factory=Counter)
    example: str = ""  # one unmasked reason, as a host printed it

    @property
    def fix(self) -> str:
        """The most common remediation among the hosts."""
        return self.fixes.most_common(1)[0][0] if self.fixes else ""

    @property
    def key(self) -> str:
        return f"{self.check_id} | {self.title}"


@dataclass(frozen=True)
class Duplicate:
    """One hostname in more than one result: every one of them is shown and counted."""

    hostname: str
    results: tuple[HostResult, ...]  # oldest first

    def __str__(self) -> str:
        paths = ", ".join(h.path for h in self.results)
        return (
            f"hostname {self.hostname!r} is in {len(self.results)} results: {paths} "
            f"(newest: {self.results[-1].path}); all are shown and counted: "
            "two hosts with one name, or one host that reported twice"
        )


@dataclass
class Fleet:
    """The roll-up: every host, the causes, and counts by verdict and by layer."""

    hosts: list[HostResult] = field(default_factory=list)
    causes: dict[str, Cause] = field(default_factory=dict)
    status: Counter[str] = field(default_factory=Counter)
    layers: dict[str, Counter[str]] = field(default_factory=dict)  # layer -> status -> hosts
    outcomes: Counter[str] = field(default_factory=Counter)  # check outcome class -> checks
    skipped: list[Skipped] = field(default_factory=list)  # inputs that could not be merged, and why
    duplicates: list[Duplicate] = field(default_factory=list)  # hostnames sent by more than one result
    labels: dict[str, str] = field(default_factory=dict)  # result path -> how its host is named on the page
    expected: int | None = None  # how many hosts should have reported (--expect)
    expected_names: tuple[str, ...] = ()  # which ones, when a host list was given

    @property
    def warnings(self) -> list[str]:
        """The skipped inputs, each as "<input>: <reason>"."""
        return [str(s) for s in self.skipped]

    @property
    def notes(self) -> list[str]:
        """What was merged but needs a look: the hostnames sent by more than one result."""
        return [str(d) for d in self.duplicates]

    @property
    def missing(self) -> list[str]:
        """The expected hosts (by name) that sent no usable result."""
        seen = {h.hostname for h in self.hosts}
        return [name for name in self.expected_names if name not in seen]

    @property
    def missing_count(self) -> int:
        """How many expected hosts sent no usable result (named or not); a name sent twice counts once."""
        return max(len(self.missing), (self.expected or 0) - len({h.hostname for h in self.hosts}))

    def label(self, host: HostResult) -> str:
        """The host's name on the page and in JUnit: its hostname, with its result's path if the name is not unique."""
        return self.labels.get(host.path, host.hostname)

    def add_all(self, hosts: list[HostResult]) -> None:
        """Add every host; a hostname in more than one result is a Duplicate, and each of its hosts is labelled."""
        by_name: dict[str, list[HostResult]] = {}
        for host in hosts:
            by_name.setdefault(host.hostname, []).append(host)
        for name, same in by_name.items():
            if len(same) > 1:
                ordered = tuple(sorted(same, key=lambda h: (h.finished_at, h.path)))
                self.duplicates.append(Duplicate(name, ordered))
                self.labels.update((h.path, f"{name} ({h.path})") for h in ordered)
        for host in hosts:
            self.add(host)

    def add(self, host: HostResult) -> None:
        self.hosts.append(host)
        self.status[host.status] += 1
        for layer, status in host.layers:
            self.layers.setdefault(layer, Counter())[status] += 1
        self.outcomes.update(dict(host.counts))
        if host.status == "PASS":
            return
        check_id = host.check_id or "(none)"
        title = cause_text(host.reason) if host.status == "FAIL" else "no checks ran"
        key = f"{check_id} | {title}"
        cause = self.causes.get(key)
        if cause is None:
            cause = self.causes[key] = Cause(check_id, host.layer or "-", title, example=host.reason)
        cause.hosts.append(self.label(host))
        if host.fix:
            cause.fixes[host.fix] += 1

    def ranked_causes(self) -> list[Cause]:
        """Causes by layer (lowest first), then by how many hosts they fail."""
        return sorted(self.causes.values(), key=lambda c: (layer_rank(c.layer), -len(c.hosts), c.title))

    def sorted_hosts(self) -> list[HostResult]:
        """Failing hosts first (lowest failing layer first), then by name."""
        order = {"FAIL": 0, "NONE": 1, "PASS": 2}
        return sorted(
            self.hosts, key=lambda h: (order.get(h.status, 3), layer_rank(h.layer or ""), h.hostname, h.path)
        )

    def layer_names(self) -> list[str]:
        """The layers any host reported, in the suite's order (unknown ones last)."""
        return sorted(self.layers, key=layer_rank)

    @property
    def ok(self) -> bool:
        """Whether every expected host sent a result, every input was usable, and every host passed."""
        every_host_passed = bool(self.hosts) and self.status["PASS"] == len(self.hosts)
        return every_host_passed and not self.skipped and not self.missing_count

    def line(self) -> str:
        """The one line a CI log shows for the fleet."""
        total = len(self.hosts)
        text = f"fleet verdict: {'PASS' if self.ok else 'FAIL'}: {self.status['PASS']} of {total} host(s) pass"
        if self.status["FAIL"]:
            worst = self.ranked_causes()[0]
            text += f"; {self.status['FAIL']} fail (first: {len(worst.hosts)} at {worst.layer}: {worst.title})"
        if self.status["NONE"]:
            text += f"; {self.status['NONE']} ran no checks"
        if self.missing_count:
            text += f"; {self.missing_count} expected host(s) sent no result"
        if self.skipped:
            text += f"; {len(self.skipped)} input(s) skipped (see warnings)"
        if self.duplicates:
            text += f"; {len(self.duplicates)} hostname(s) in more than one result (see warnings)"
        return text

