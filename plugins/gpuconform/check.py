"""How a check in `suites/` says that the host does not conform, and what to do about it.

A failure carries four parts besides its one-line summary: what was expected,
what was found (and where that fact came from), why it matters, and the fix as
a command or a pin. The plugin renders them in the terminal, JUnit and HTML.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NoReturn

import pytest

NOT_APPLICABLE = "not applicable"
BLOCKED = "blocked by"


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


def not_applicable(reason: str) -> NoReturn:
    """Skip the current check because it does not apply to this host or profile."""
    __tracebackhide__ = True
    pytest.skip(f"{NOT_APPLICABLE}: {reason}")


def blocked(check_id: str, summary: str) -> NoReturn:
    """Skip the current check because a check it depends on failed."""
    __tracebackhide__ = True
    pytest.skip(f"{BLOCKED} {check_id}: {summary}")


def live_only(reason: str = "replaying recorded facts") -> NoReturn:
    """Skip a check that needs the live host while facts are replayed."""
    __tracebackhide__ = True
    pytest.skip(f"{NOT_APPLICABLE}: needs the live host ({reason})")


class CouldNotCheck(Exception):
    """Raised (in a fixture, so pytest reports an error) when a probe crashed, hung or lied."""


def could_not_check(what: str, error: object) -> NoReturn:
    """Error the current check: the fact it needs could not be observed."""
    __tracebackhide__ = True
    raise CouldNotCheck(f"could not check {what}: {error}")
