"""Rows of the fault and bad-input catalogues that live beside the tests proving them.

docs/faults.md and docs/bad-input.md list every case the suite survives or refuses, each row
one test. The first sections of each come from tests/test_faults.py and tests/test_bad_input.py;
the sections after them come from the modules in MODULES, each of which declares its rows as
`Row`s and runs one test per row through `@catalogued(ROWS)`, so a row cannot exist without its
test, and the docs are regenerated from what the tests run.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from typing import TypeVar

import pytest

#: The modules whose rows extend the catalogues, in the order their sections appear.
MODULES = (
    "tests.test_invocations",
    "tests.test_bounded_reading",
    "tests.test_report_writing",
    "tests.test_signals",
    "tests.test_redaction",
    "tests.test_fleet_inputs",
    "tests.test_environment_settings",
    "tests.test_replay_profile",
    "tests.test_profile_capture",
)

F = TypeVar("F", bound=Callable[..., Any])
HEADER = "| # | case | enters through | what holds | test |"


@dataclass(frozen=True)
class Row:
    """One catalogued case: what is wrong, where it enters, and what the user gets."""

    catalogue: str  # "faults" or "bad-input"
    section: str  # the class of cases, a heading of the catalogue
    case: str  # what is wrong, in a few words
    seam: str  # where it enters: the option, file, variable or signal
    expect: str  # what holds: the exit code and the words the user reads
    id: str  # the test parameter id (unique within its module)
    test: list[str] = field(default_factory=list, compare=False, hash=False)  # filled by @catalogued


def catalogued(rows: Sequence[Row]) -> Callable[[F], F]:
    """Parametrize a test over `rows`, one test per row, and record the test each row is."""

    def decorate(fn: F) -> F:
        for row in rows:
            row.test.append(f"{fn.__module__.replace('.', '/')}.py::{fn.__name__}[{row.id}]")
        marked: F = pytest.mark.parametrize("row", rows, ids=[r.id for r in rows])(fn)
        return marked

    return decorate


def rows(catalogue: str) -> list[Row]:
    """Every row of one catalogue from MODULES, in module then declaration order."""
    found: list[Row] = []
    for name in MODULES:
        module = importlib.import_module(name)
        found += [r for r in getattr(module, "CATALOGUE", ()) if r.catalogue == catalogue]
    return found


def render(catalogue: str, first_number: int) -> list[str]:
    """The Markdown sections of one catalogue's rows, numbered on from `first_number`."""
    lines: list[str] = []
    section = None
    for number, row in enumerate(rows(catalogue), first_number):
        if row.section != section:
            section = row.section
            lines += ["", f"## {section}", "", HEADER, "|---|---|---|---|---|"]
        tests = ", ".join(f"`{t}`" for t in row.test) or "(no test)"
        lines.append(f"| {number} | {_cell(row.case)} | {_cell(row.seam)} | {_cell(row.expect)} | {tests} |")
    return lines


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def untested() -> list[Row]:
    """Rows of MODULES that no test runs (each row must be one)."""
    return [r for c in ("faults", "bad-input") for r in rows(c) if not r.test]
