"""What a platform check needs to judge an install: the release that was asked for, what pip refused, a Python.

A host where `pip install tensorflow` failed has no TensorFlow to judge, but the install that was
attempted (`PackagesFacts.failed_install`: what was asked for and what the installer said) names the
release it wanted; the platform layer judges that release as it would an installed one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from packaging.requirements import InvalidRequirement
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from gpuconform.expect.matrix import Matrices
from gpuconform.expect.tables.tensorflow import TfRelease
from gpuconform.facts.model import FailedInstall

#: Python minors to suggest from (newest that fits first).
PYTHONS = tuple(f"3.{minor}" for minor in range(5, 16))
#: What pip says about a requirement it cannot satisfy (both lines name it).
_UNSATISFIED = re.compile(
    r"(?:Could not find a version that satisfies the requirement|No matching distribution found for)\s+"
    r"(?P<req>[A-Za-z0-9][A-Za-z0-9._\-\[\],]*\s*(?:[<>=!~]=?[^\s;()]+)?)"
)


@dataclass(frozen=True)
class Requested:
    """The TensorFlow an install asked for, and the matrix row that answers for it."""

    text: str  # as asked: "tensorflow[and-cuda]==2.14.0"
    name: str  # "tensorflow"
    extras: frozenset[str]
    specifier: SpecifierSet
    release: TfRelease | None  # the newest matrix row the request allows; None: none does
    version: Version | None  # the exact version asked for, when the request pins one (==2.14.0)


def requested(failed: FailedInstall, matrices: Matrices) -> Requested | None:
    """The release `failed` asked for, or None when its request is not a requirement."""
    try:
        req = Requirement(failed.requested)
    except InvalidRequirement:
        return None
    rows = [r for r in matrices.tf_releases if req.specifier.contains(r.version, prereleases=r.prerelease)]
    exact = _pinned(req.specifier)
    return Requested(failed.requested, req.name, frozenset(req.extras), req.specifier, rows[0] if rows else None, exact)


def unsatisfied(failed: FailedInstall) -> Requirement | None:
    """The requirement the installer could not satisfy ("tensorrt==8.5.3.1"), from its log."""
    for line in failed.log:
        match = _UNSATISFIED.search(line)
        if match:
            try:
                return Requirement(match.group("req").strip())
            except InvalidRequirement:
                continue
    return None


def python_in(spec: SpecifierSet) -> str | None:
    """The newest Python minor inside `spec` ("3.12" for ">=3.9,<3.13"), to suggest."""
    fitting = [p for p in PYTHONS if spec.contains(Version(p), prereleases=True)]
    return fitting[-1] if fitting else None


def venv_hint(spec: SpecifierSet) -> str:
    """"use a Python in >=3.9,<3.13, e.g. python3.12 -m venv .venv"."""
    newest = python_in(spec)
    return f"use a Python in {spec}" + (f", e.g. python{newest} -m venv .venv" if newest else "")


def _pinned(spec: SpecifierSet) -> Version | None:
    pins = [s.version for s in spec if s.operator in ("==", "===") and "*" not in s.version]
    try:
        return Version(pins[0]) if len(pins) == 1 else None
    except ValueError:
        return None
