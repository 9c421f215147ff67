"""matrices/tf_platforms.toml (see its [meta] for sources): TensorFlow distributions, platforms and installs by era.

The questions the rules ask of it: is this distribution of this version a CUDA build (before 2.1 the
plain `tensorflow` was the CPU build and `tensorflow-gpu` the GPU one); which distribution is the
GPU build of a release; are two installed distributions one install (Windows' `tensorflow` shim and
its `tensorflow-intel`) or two TensorFlows shadowing each other; does this OS run that release on an
NVIDIA GPU; which CPU instructions its wheels need; which pins of its [and-cuda] extra cannot be
installed for a Python; and how TensorFlow's own guide said to install a release with its CUDA.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

from gpuconform.expect.tables.reader import Reader
from gpuconform.expect.tables.reader import TableMeta

PLATFORMS = ("windows_native", "wsl2", "macos", "linux_aarch64")
METHODS = ("system", "conda", "conda+pip", "pip")

_DISTRIBUTION = {
    "name": "string",
    "tensorflow": "string",
    "linux_gpu": "boolean",
    "installable?": "boolean",
    "error?": "string",
    "installed_by?": "string",
    "gpu_distribution?": "string",
    "first_release?": "string",
    "last_release?": "string",
    "source": "string",
    "notes?": "strings",
}
_PLATFORM = {
    "name": "string",
    "tensorflow": "string",
    "gpu": "any",
    "install?": "string",
    "fix?": "string",
    "requires?": "string",
    "source": "string",
    "notes?": "strings",
}
_CPU = {"tensorflow": "string", "machine": "string", "flags": "strings", "fix": "string", "source": "string"}
_CPU |= {"notes?": "strings"}
_PIN = {
    "requirement": "string",
    "pinned_by": "string",
    "python?": "string",
    "available?": "boolean",
    "fix": "string",
    "source": "string",
    "notes?": "strings",
}
_GUIDE = {"tensorflow": "string", "method": "string", "command": "string", "source": "string", "notes?": "strings"}


@dataclass(frozen=True)
class DistributionRow:
    """One PyPI distribution of TensorFlow over a range of releases."""

    name: str  # canonical: "tensorflow-gpu"; "tensorflow[and-cuda]" keeps its extra
    tensorflow: SpecifierSet
    linux_gpu: bool  # a CUDA build
    installable: bool = True
    error: str | None = None  # what installing it says, when it cannot be installed
    installed_by: str | None = None  # the distribution that pulls this one in as its build (a shim)
    gpu_distribution: str | None = None  # for a CPU row: the GPU build's name in the same era
    source: str = ""


@dataclass(frozen=True)
class PlatformRow:
    """Whether an OS runs a range of releases on an NVIDIA GPU, and what to do."""

    name: str  # one of PLATFORMS
    tensorflow: SpecifierSet
    gpu: bool | None  # None: unconfirmed
    install: str | None
    fix: str | None
    requires: str | None
    source: str


@dataclass(frozen=True)
class CpuRequirement:
    """The CPU instruction-set extensions a range of official wheels is compiled to need."""

    tensorflow: SpecifierSet
    machine: str
    flags: tuple[str, ...]
    fix: str
    source: str


@dataclass(frozen=True)
class PinRow:
    """A pin of a release's [and-cuda] extra that is not installable everywhere."""

    requirement: Requirement  # tensorrt==8.5.3.1
    pinned_by: SpecifierSet  # the TensorFlow releases whose extra pins it
    python: SpecifierSet | None  # the Pythons it has distributions for; None: not restricted by Python
    available: bool  # False: no longer on PyPI at all
    fix: str
    source: str

    def installable_on(self, python: str | Version) -> bool:
        if not self.available:
            return False
        return self.python is None or self.python.contains(Version(str(python)), prereleases=True)


@dataclass(frozen=True)
class InstallGuide:
    """How TensorFlow's own install guide said to get a release range and its CUDA (Linux)."""

    tensorflow: SpecifierSet
    method: str  # one of METHODS
    command: str
    source: str


@dataclass(frozen=True)
class TfPlatforms:
    """The rows of tf_platforms.toml, and the questions the rules ask of them."""

    meta: TableMeta
    distributions: tuple[DistributionRow, ...]
    platforms: tuple[PlatformRow, ...]
    cpu_requirements: tuple[CpuRequirement, ...]
    pins: tuple[PinRow, ...]
    install_guides: tuple[InstallGuide, ...]

    def distribution(self, name: str, version: str | Version) -> DistributionRow | None:
        """The row of distribution `name` at `version`, or None when the table does not know it."""
        wanted, v = canonicalize_name(name), Version(str(version))
        return next(
            (d for d in self.distributions if d.name == wanted and d.tensorflow.contains(v, prereleases=True)), None
        )

    def is_cuda_build(self, name: str, version: str | Version) -> bool | None:
        """Whether distribution `name` of `version` is a CUDA build; None when the table has no row for it."""
        row = self.distribution(name, version)
        return None if row is None else row.linux_gpu

    def gpu_distribution(self, version: str | Version) -> str:
        """The name under which release `version` was published as a CUDA build ("tensorflow-gpu" before 2.1)."""
        row = self.distribution("tensorflow", version)
        if row is not None and not row.linux_gpu and row.gpu_distribution:
            return row.gpu_distribution
        return "tensorflow"

    def one_install(self, first: tuple[str, str], other: tuple[str, str]) -> bool:
        """Whether two installed (name, version) distributions are one install: a shim and the build it pulls."""
        for a, b in ((first, other), (other, first)):
            row = self.distribution(b[0], b[1])
            if row is not None and row.installed_by == canonicalize_name(a[0]) and Version(a[1]) == Version(b[1]):
                return True
        return False

    def platform(self, name: str, version: str | Version) -> PlatformRow | None:
        v = Version(str(version))
        return next((p for p in self.platforms if p.name == name and p.tensorflow.contains(v, prereleases=True)), None)

    def last_gpu_release(self, name: str) -> SpecifierSet | None:
        """The releases platform `name` runs on a GPU ("<2.11" for native Windows), or None."""
        return next((p.tensorflow for p in self.platforms if p.name == name and p.gpu is True), None)

    def cpu_requirement(self, version: str | Version, machine: str) -> CpuRequirement | None:
        v = Version(str(version))
        arch = _machine(machine)
        return next(
            (c for c in self.cpu_requirements if c.machine == arch and c.tensorflow.contains(v, prereleases=True)),
            None,
        )

    def pin(self, name: str, version: str | Version | None = None) -> PinRow | None:
        """The row of pinned requirement `name` (the version pinned, when given, must match)."""
        wanted = canonicalize_name(name)
        for p in self.pins:
            if canonicalize_name(p.requirement.name) != wanted:
                continue
            if version is None or p.requirement.specifier.contains(str(version), prereleases=True):
                return p
        return None

    def uninstallable_pins(self, tf_version: str | Version, python: str | Version) -> tuple[PinRow, ...]:
        """The pins of release `tf_version`'s [and-cuda] extra that have no distribution for `python`."""
        v = Version(str(tf_version))
        return tuple(p for p in self.pins if p.pinned_by.contains(v, prereleases=True) and not p.installable_on(python))

    def install_guide(self, version: str | Version) -> InstallGuide | None:
        v = Version(str(version))
        return next((g for g in self.install_guides if g.tensorflow.contains(v, prereleases=True)), None)

    def gpu_install(self, version: Version, *, and_cuda: bool, cuda: str, cudnn: str, system: str = "Linux") -> str:
        """The install of release `version` with its CUDA, valid for that release: `[and-cuda]` only from
        2.14, `tensorflow-gpu` before 2.1, and TensorFlow's own guide for the CUDA/cuDNN of older ones."""
        series = ".".join(str(p) for p in version.release[:2])
        pin = f"=={version}" if version.is_prerelease else f"=={series}.*"
        if and_cuda and system == "Linux":
            return f"pip install 'tensorflow[and-cuda]{pin}'"
        dist = self.gpu_distribution(version)
        command = f"pip install '{dist}{pin}' with CUDA {cuda} and cuDNN {cudnn}"
        if system == "Windows":
            return command + " on %PATH%"
        guide = self.install_guide(version)
        if guide is None:
            return command + " installed"
        where = f"TensorFlow's guide for {guide.tensorflow}"
        # The guide's own TensorFlow install, pinned to this release ("tensorflow==<version>" in the table).
        pattern = r"\btensorflow(?:-gpu)?(?:==<[^>]*>|==\S+)?(?=[\s;&]|$)"
        if re.search(pattern, guide.command):
            pinned = re.sub(pattern, lambda _: f"'{dist}{pin}'", guide.command)
            return f"{pinned} ({where}, CUDA {cuda}, cuDNN {cudnn})"
        return f"{command} ({where}: {guide.command})"


def _machine(machine: str) -> str:
    return {"amd64": "x86_64", "x64": "x86_64", "arm64": "aarch64"}.get(machine.lower(), machine.lower())


def load_tf_platforms(path: Path) -> TfPlatforms:
    """Read and check tf_platforms.toml: specifiers, names and requirements well-formed, no overlapping rows."""
    reader = Reader(path)
    arrays = ("distribution", "platform", "cpu_requirement", "pin", "install_guide")
    meta = reader.meta("tf_platforms", {"meta": "table", **{f"{a}?": "tables" for a in arrays}})

    def rows(name: str, schema: dict[str, str]) -> list[tuple[str, dict[str, Any]]]:
        return _rows(reader, name, schema)

    distributions = [
        DistributionRow(
            name=_distribution_name(reader, row["name"], f"{key}.name"),
            tensorflow=reader.specifier(row["tensorflow"], f"{key}.tensorflow"),
            linux_gpu=row["linux_gpu"],
            installable=row.get("installable", True),
            error=row.get("error"),
            installed_by=canonicalize_name(row["installed_by"]) if "installed_by" in row else None,
            gpu_distribution=row.get("gpu_distribution"),
            source=row["source"],
        )
        for key, row in rows("distribution", _DISTRIBUTION)
    ]
    _no_overlap(reader, "distribution", [(d.name, d.tensorflow) for d in distributions])
    platforms = []
    for key, row in rows("platform", _PLATFORM):
        gpu = row["gpu"]
        if gpu != "unconfirmed" and not isinstance(gpu, bool):
            raise reader.fail(f"{key}.gpu", f"{gpu!r} is not accepted", "true, false or 'unconfirmed'")
        platforms.append(
            PlatformRow(
                name=reader.choice(row["name"], f"{key}.name", PLATFORMS),
                tensorflow=reader.specifier(row["tensorflow"], f"{key}.tensorflow"),
                gpu=gpu if isinstance(gpu, bool) else None,
                install=row.get("install"),
                fix=row.get("fix"),
                requires=row.get("requires"),
                source=row["source"],
            )
        )
        if gpu is False and "fix" not in row:
            raise reader.fail(f"{key}.fix", "a platform without GPU support needs the fix to give", "a string")
    _no_overlap(reader, "platform", [(p.name, p.tensorflow) for p in platforms])
    cpus = []
    for key, row in rows("cpu_requirement", _CPU):
        reader.nonempty(row["flags"], f"{key}.flags", "CPU flags as /proc/cpuinfo spells them, e.g. 'avx'")
        cpus.append(
            CpuRequirement(
                reader.specifier(row["tensorflow"], f"{key}.tensorflow"),
                row["machine"],
                tuple(f.lower() for f in row["flags"]),
                row["fix"],
                row["source"],
            )
        )
    pins = []
    for key, row in rows("pin", _PIN):
        try:
            requirement = Requirement(row["requirement"])
        except InvalidRequirement as exc:
            raise reader.fail(f"{key}.requirement", str(exc), "a requirement like 'tensorrt==8.5.3.1'") from None
        python = reader.specifier(row["python"], f"{key}.python") if "python" in row else None
        available = row.get("available", True)
        if available and python is None:
            raise reader.fail(f"{key}.python", "a pin that is available needs the Pythons it is available for")
        pins.append(
            PinRow(
                requirement,
                reader.specifier(row["pinned_by"], f"{key}.pinned_by"),
                python,
                available,
                row["fix"],
                row["source"],
            )
        )
    guides = [
        InstallGuide(
            reader.specifier(row["tensorflow"], f"{key}.tensorflow"),
            reader.choice(row["method"], f"{key}.method", METHODS),
            row["command"],
            row["source"],
        )
        for key, row in rows("install_guide", _GUIDE)
    ]
    return TfPlatforms(meta, tuple(distributions), tuple(platforms), tuple(cpus), tuple(pins), tuple(guides))


def _rows(reader: Reader, name: str, schema: dict[str, str]) -> list[tuple[str, dict[str, Any]]]:
    """The rows of array `name` checked against `schema`; a key of kind "any" is only required (or
    optional, with "?"), its value left to the loader (a platform's gpu is a boolean or 'unconfirmed')."""
    if name not in reader.data:
        return []
    loose = {k.rstrip("?") for k, v in schema.items() if v == "any"}
    strict = {k: v for k, v in schema.items() if v != "any"}
    out = []
    for i, row in enumerate(reader.data[name]):
        key = f"{name}[{i}]"
        reader.check(row, "table", key)
        for k in loose:
            if k not in row and f"{k}?" not in schema:
                raise reader.fail(f"{key}.{k}", "required key is missing")
        checked = reader.table({k: v for k, v in row.items() if k not in loose}, key, strict)
        out.append((key, {**checked, **{k: row[k] for k in loose if k in row}}))
    return out


def _distribution_name(reader: Reader, text: str, key: str) -> str:
    base, bracket, extra = text.partition("[")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", base) or (bracket and not extra.endswith("]")):
        raise reader.fail(key, f"{text!r} is not a distribution name", "e.g. 'tensorflow-gpu'")
    return canonicalize_name(base) + (f"[{extra}" if bracket else "")


def _no_overlap(reader: Reader, array: str, rows: list[tuple[str, SpecifierSet]]) -> None:
    """Two rows of one name must not both claim a release: each release's answer is one row."""
    probes = [Version(f"{a}.{b}.{c}") for a in (0, 1, 2, 3) for b in range(30) for c in range(6)]
    for i, (name, spec) in enumerate(rows):
        for j in range(i):
            other_name, other = rows[j]
            if other_name != name:
                continue
            clash = next((v for v in probes if spec.contains(v) and other.contains(v)), None)
            if clash is not None:
                raise reader.fail(
                    f"{array}[{i}].tensorflow", f"{spec} overlaps {other} of {array}[{j}] ({name} {clash})"
                )
