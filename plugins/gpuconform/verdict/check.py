"""How a check in `suites/` says that the host does not conform, and what to do about it.

A failure carries four parts besides its one-line summary: what was expected,
what was found (and where that fact came from), why it matters, and the fix as
a command or a pin. The plugin renders them in the terminal, JUnit, HTML and
result.json; `Finding.missing_parts()` lets the self-tests insist on all four.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from dataclasses import dataclass
from typing import Any
from typing import NoReturn

import pytest

from gpuconform.facts.text import headline
from gpuconform.facts.text import plain

NOT_APPLICABLE = "not applicable"
BLOCKED = "blocked by"

#: The parts every failure must fill, in the order people read them.
PARTS = ("expected", "found", "source", "why", "fix")


@dataclass(frozen=True)
class Finding:
    """A non-conformance or a warning, in the four parts users act on."""

    summary: str
    expected: str = ""
    found: str = ""
    source: str = ""
    why: str = ""
    fix: str = ""

    def render(self) -> str:
        """The multi-line text shown to people."""
        lines = [self.summary]
        for label, value in (
            ("expected", self.expected),
            ("found", f"{self.found} (from {self.source})" if self.source else self.found),
            ("why", self.why),
            ("fix", self.fix),
        ):
            if value:
                lines.append(f"  {label + ':':<9} {value}")
        return "\n".join(lines)

    def missing_parts(self) -> list[str]:
        """The parts left empty (a complete failure message has none)."""
        return [part for part in PARTS if not getattr(self, part).strip()]

    def to_json(self) -> str:
        """One line of JSON: how a finding travels in user_properties (and so across xdist)."""
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Finding:
        """The inverse of `to_json`; text that is not a finding becomes its summary."""
        try:
            data: Any = json.loads(text)
        except ValueError:
            return cls(summary=text)
        if not isinstance(data, dict):
            return cls(summary=text)
        return cls(**{k: str(data.get(k) or "") for k in ("summary", *PARTS)})


def same_fix(check_id: str, fix: str, given: dict[str, str]) -> str:
    """`fix`, or "same fix as <check>" when an earlier failure gave it; `given` maps fix to check id.

    Two failures with one cause (a driver too old for two libraries) carry one fix: printing it
    twice reads as two things to do.
    """
    if not fix:
        return fix
    first = given.setdefault(fix, check_id)
    return fix if first == check_id else f"same fix as {first}"


class NonConformance(AssertionError):
    """Raised by a check when the host does not conform; carries the Finding."""

    def __init__(self, finding: Finding) -> None:
        super().__init__(finding.render())
        self.finding = finding


def fail(
    summary: str,
    *,
    expected: str = "",
    found: str = "",
    source: str = "",
    why: str = "",
    fix: str = "",
) -> NoReturn:
    """Fail the current check with a four-part message."""
    __tracebackhide__ = True
    raise NonConformance(Finding(summary, expected, found, source, why, fix))


def fail_with(finding: Finding) -> NoReturn:
    """Fail the current check with a finding already made (a rule table's, a framework's)."""
    __tracebackhide__ = True
    raise NonConformance(finding)


def not_applicable(reason: str) -> NoReturn:
    """Skip the current check because it does not apply to this host or profile."""
    __tracebackhide__ = True
    pytest.skip(f"{NOT_APPLICABLE}: {reason}")


def blocked_reason(check_id: str, summary: str) -> str:
    """The skip reason of a check blocked by `check_id`, whose failure `summary` says."""
    return f"{BLOCKED} {check_id}: {summary}"


def blocked(check_id: str, summary: str) -> NoReturn:
    """Skip the current check because a check it depends on failed."""
    __tracebackhide__ = True
    pytest.skip(blocked_reason(check_id, summary))


def live_only(reason: str = "replaying recorded facts") -> NoReturn:
    """Skip a check that needs the live host while facts are replayed."""
    __tracebackhide__ = True
    pytest.skip(f"{NOT_APPLICABLE}: needs the live host ({reason})")


#: Why an error (could not check) counts against the gate, in every error's finding.
COULD_NOT_CHECK_WHY = (
    "a fact that could not be observed cannot vouch for the host: the check counts as an error, "
    "never as a pass or a quiet skip"
)
COULD_NOT_CHECK_FIX = (
    "re-run with a longer --host-probe-timeout (e.g. 60) to tell a slow probe from a hung one; "
    "if it still fails, the same crash or hang will hit the host's own programs: see the error above"
)
#: The fix of an experiment that raised: it ran as the host's programs run (its environment, its settings).
RAISED_FIX = (
    "the framework raised this under this host's environment and settings, as a program of the host making the "
    "same call would: the error names the cause (a variable set in the environment, a package version); "
    "the full text is in this check's report"
)


def experiment_raised(what: str, error_type: str | None, error: str | None, *, source: str = "") -> NoReturn:
    """Error the current check: the experiment it needs raised `error_type: error` in its child."""
    __tracebackhide__ = True
    could_not_check(what, f"the experiment raised {error_type}: {error}", source=source, fix=RAISED_FIX)


class CouldNotCheck(Exception):
    """Raised (in a fixture, so pytest reports an error) when a probe crashed, hung or lied."""

    def __init__(self, message: str, finding: Finding | None = None) -> None:
        super().__init__(message)
        self.finding = finding or Finding(message)


def could_not_check(what: str, error: object, *, source: str = "", fix: str = "") -> NoReturn:
    """Error the current check: the fact it needs could not be observed."""
    __tracebackhide__ = True
    found = plain(str(error))
    message = f"could not check {what}: {headline(found)}"
    finding = Finding(
        summary=message,
        expected=f"{what} observed by its probe",
        found=found,
        source=source or "the probe's child process",
        why=COULD_NOT_CHECK_WHY,
        fix=fix or COULD_NOT_CHECK_FIX,
    )
    raise CouldNotCheck(message, finding)
