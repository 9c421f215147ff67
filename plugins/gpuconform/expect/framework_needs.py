"""Which ML frameworks a host profile requires, which it checks only because they are installed,
and whether an installed version satisfies the profile: the neutral answers every framework's
checks start from.

A profile's `[frameworks]` table names what the host must run, each with a PEP 440 specifier
(`torch = ">=2.6"`), `"*"` for any version, or `"auto"`: required when installed. A framework
the table does not name but that is installed is checked too, as optional: its failures are
warnings. A profile without the table means TensorFlow, as it always has (`[tensorflow]`
`required` and `version`); the `auto` profile requires whatever is installed. What is installed
is what the environment's distribution metadata says (`facts.packages`, read with
importlib.metadata), never an import of the framework.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from packaging.specifiers import InvalidSpecifier
from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion
from packaging.version import Version

from gpuconform.facts.errors import DataError
from gpuconform.facts.errors import did_you_mean
from gpuconform.facts.errors import join_choices
from gpuconform.facts.model import PackageInfo
from gpuconform.facts.model import PackagesFacts

#: Each framework a profile can name, and the distributions that install it.
FRAMEWORKS: dict[str, tuple[str, ...]] = {
    "tensorflow": ("tensorflow", "tensorflow-cpu", "tensorflow-gpu", "tf-nightly", "tensorflow-intel"),
    "torch": ("torch",),
    "jax": ("jax",),
}
ANY = "*"
AUTO = "auto"  # required when installed, at any version
SPECIFIER_HELP = (
    f"a PEP 440 specifier such as '>=2.6,<2.12', {ANY!r} for any version, or {AUTO!r} (required when installed)"
)

#: (framework, specifier as written), in FRAMEWORKS order.
FrameworkTable = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class FrameworkNeed:
    """One framework this host's checks look at, and why."""

    name: str  # "torch"
    required: bool  # False: installed, not required; its failures are warnings
    specifier: str  # as the profile wrote it ("*" for an optional framework)
    installed: PackageInfo | None  # the distribution found, or None
    source: str  # where the requirement comes from: "frameworks.torch in h100.toml"

    @property
    def failure_level(self) -> str:
        """How a failing check of this framework counts: "failure" if required, else "warning"."""
        return "failure" if self.required else "warning"

    @property
    def satisfied(self) -> bool | None:
        """Whether the installed version satisfies the specifier; None when it is not installed."""
        return None if self.installed is None else version_satisfies(self.specifier, self.installed.version)


def parse_frameworks(value: Any, source: str) -> FrameworkTable:
    """A profile's `[frameworks]` table, checked: known names, string values, valid specifiers."""
    if not isinstance(value, dict):
        example = "[frameworks] with lines like torch = \">=2.6\""
        raise DataError(source, "frameworks", f"expected a table, got {type(value).__name__}", example)
    for name, text in value.items():
        key = f"frameworks.{name}"
        if name not in FRAMEWORKS:
            problem = f"unknown framework {name!r}{did_you_mean(name, FRAMEWORKS)}"
            raise DataError(source, key, problem, join_choices(FRAMEWORKS))
        if not isinstance(text, str):
            raise DataError(source, key, f"expected a string, got {type(text).__name__} {text!r}", SPECIFIER_HELP)
        if not valid_specifier(text):
            raise DataError(source, key, f"{text!r} is not a version specifier", SPECIFIER_HELP)
    return tuple((name, value[name]) for name in FRAMEWORKS if name in value)


def valid_specifier(text: str) -> bool:
    if text.strip() in (ANY, AUTO):
        return True
    try:
        return bool(str(SpecifierSet(text)))
    except InvalidSpecifier:
        return False


def version_satisfies(specifier: str, version: str | Version) -> bool:
    """Whether an installed version meets a profile's specifier ("*" and "auto" take any version).

    A pre-release or dev build is judged by its version ("2.8.0rc1" meets ">=2.6"); a local
    label ("+cu128") is ignored, as PEP 440 says.
    """
    if specifier.strip() in (ANY, AUTO):
        return True
    try:
        v = version if isinstance(version, Version) else Version(version)
    except InvalidVersion:
        return False
    return SpecifierSet(specifier).contains(v, prereleases=True)


def installed_frameworks(packages: PackagesFacts) -> dict[str, PackageInfo]:
    """The frameworks the environment has, by name, from its distribution metadata."""
    found: dict[str, PackageInfo] = {}
    if packages.tensorflow is not None:
        found["tensorflow"] = packages.tensorflow
    for info in packages.others:
        for name, distributions in FRAMEWORKS.items():
            if name not in found and info.name in distributions:
                found[name] = info
    return {name: found[name] for name in FRAMEWORKS if name in found}


def framework_needs(table: FrameworkTable, packages: PackagesFacts, source: str) -> tuple[FrameworkNeed, ...]:
    """Every framework the checks look at: the required ones (installed or not) and the installed rest.

    `table` is the profile's resolved framework table (`Profile.frameworks`), `source` the
    file it came from, as messages name it.
    """
    installed = installed_frameworks(packages)
    named: Mapping[str, str] = dict(table)
    needs = []
    for name in FRAMEWORKS:
        found = installed.get(name)
        if name in named:
            spec = named[name]
            required = spec != AUTO or found is not None
            if required or found is not None:
                needs.append(FrameworkNeed(name, required, spec, found, f"frameworks.{name} in {source}"))
        elif found is not None:
            needs.append(FrameworkNeed(name, False, ANY, found, f"installed, not required by {source}"))
    return tuple(needs)
