"""matrices/xla_toolchain.toml (see its [meta] for sources): the ptxas and libdevice XLA needs, where it looks,
what it prints when it cannot find them, and the fixes.

The questions the rules ask of it: which ptxas versions can compile for a GPU (the first CUDA that
targets its sm_XY, and the last one that still does); where a release looks for ptxas and libdevice;
where the pip wheels put them; which of TensorFlow's log lines name a toolchain problem; and which
releases retry a failing ptxas for every kernel.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.specifiers import SpecifierSet
from packaging.version import Version

from gpuconform.expect.tables.reader import CC
from gpuconform.expect.tables.reader import Reader
from gpuconform.expect.tables.reader import TableMeta

TOOLS = ("ptxas", "libdevice")
SEVERITIES = ("error", "warning")

_FLOOR = {"tensorflow": "string", "min_ptxas": "string", "severity": "string", "message": "string"}
_FLOOR |= {"source": "string", "notes?": "strings"}
_ARCH = {"cc": "string", "min_ptxas?": "string", "max_ptxas?": "string", "source": "string", "notes?": "strings"}
_SEARCH = {"tool": "string", "tensorflow": "string", "order": "strings", "file?": "string", "source": "string"}
_SEARCH |= {"notes?": "strings"}
_PIP = {"cuda_major": "integer", "ptxas": "string", "libdevice": "string", "package": "string", "source": "string"}
_MESSAGE = {"cause": "string", "match": "string", "text": "string", "fix": "string", "source": "string"}
_MESSAGE |= {"notes?": "strings"}
_UNCACHED = {"tensorflow": "string", "fixed_by": "string", "fix": "string", "source": "string", "notes?": "strings"}


@dataclass(frozen=True)
class PtxasFloor:
    """A ptxas version below which a release warns or refuses, whatever the GPU."""

    tensorflow: SpecifierSet | None  # None: the releases are unconfirmed (the row says so)
    min_ptxas: Version
    severity: str  # "error" or "warning"
    message: str


@dataclass(frozen=True)
class PtxasArch:
    """The ptxas versions that accept one compute capability (or a range of them)."""

    low: CC
    high: CC
    min_ptxas: Version | None
    max_ptxas: Version | None


@dataclass(frozen=True)
class SearchOrder:
    """Where a range of releases looks for one tool, in order (as the sources describe each place)."""

    tool: str
    tensorflow: SpecifierSet
    order: tuple[str, ...]


@dataclass(frozen=True)
class PipLocation:
    """Where NVIDIA's pip wheels of one CUDA major put ptxas and libdevice."""

    cuda_major: int
    ptxas: str
    libdevice: str
    package: str


@dataclass(frozen=True)
class ToolchainMessage:
    """A line TensorFlow prints about its toolchain, the cause it names, and the fix."""

    cause: str
    match: re.Pattern[str]
    text: str
    fix: str
    source: str


@dataclass(frozen=True)
class UncachedFailure:
    """Releases that do not cache a failed ptxas: every kernel retries it (minutes at start-up)."""

    tensorflow: SpecifierSet
    fixed_by: str
    fix: str


@dataclass(frozen=True)
class XlaToolchain:
    """The rows of xla_toolchain.toml, and the questions the rules ask of them."""

    meta: TableMeta
    floors: tuple[PtxasFloor, ...]
    archs: tuple[PtxasArch, ...]
    searches: tuple[SearchOrder, ...]
    pip_locations: tuple[PipLocation, ...]
    messages: tuple[ToolchainMessage, ...]
    uncached: tuple[UncachedFailure, ...]

    def ptxas_range(self, cc: CC) -> tuple[Version | None, Version | None]:
        """(oldest, newest) ptxas that accepts sm_XY of `cc`, from the rows that name it; None where unknown."""
        low = high = None
        for row in self.archs:
            if row.low <= tuple(cc) <= row.high:
                low = row.min_ptxas or low
                high = row.max_ptxas or high
        return low, high

    def search(self, tool: str, tf_version: str | Version) -> SearchOrder | None:
        v = Version(str(tf_version))
        return next((s for s in self.searches if s.tool == tool and s.tensorflow.contains(v, prereleases=True)), None)

    def pip_location(self, cuda_major: int) -> PipLocation | None:
        return next((p for p in self.pip_locations if p.cuda_major == cuda_major), None)

    def messages_in(self, log: str) -> list[tuple[ToolchainMessage, str]]:
        """Every (message row, log line) pair where a line of `log` matches a row, in log order, each cause once."""
        found: list[tuple[ToolchainMessage, str]] = []
        seen: set[str] = set()
        for line in log.splitlines():
            for row in self.messages:
                if row.cause not in seen and row.match.search(line):
                    found.append((row, line.strip()))
                    seen.add(row.cause)
        return found

    def uncached_failure(self, tf_version: str | Version) -> UncachedFailure | None:
        v = Version(str(tf_version))
        return next((u for u in self.uncached if u.tensorflow.contains(v, prereleases=True)), None)

    def floors_for(self, tf_version: str | Version) -> tuple[PtxasFloor, ...]:
        v = Version(str(tf_version))
        return tuple(f for f in self.floors if f.tensorflow is not None and f.tensorflow.contains(v, prereleases=True))


def load_xla_toolchain(path: Path) -> XlaToolchain:
    """Read and check xla_toolchain.toml: versions, compute capabilities, specifiers and regexes well-formed."""
    reader = Reader(path)
    arrays = ("ptxas_floor", "ptxas_arch", "search", "pip_location", "message", "uncached_ptxas_failure")
    meta = reader.meta("xla_toolchain", {"meta": "table", **{f"{a}?": "tables" for a in arrays}})

    def rows(name: str, schema: dict[str, str]) -> list[tuple[str, dict[str, Any]]]:
        return reader.rows(name, schema) if name in reader.data else []

    floors = []
    for key, row in rows("ptxas_floor", _FLOOR):
        spec = _maybe_specifier(reader, row["tensorflow"], f"{key}.tensorflow")
        floors.append(
            PtxasFloor(
                spec,
                reader.version(row["min_ptxas"], f"{key}.min_ptxas", "11.1"),
                reader.choice(row["severity"], f"{key}.severity", SEVERITIES),
                row["message"],
            )
        )
    archs = []
    for key, row in rows("ptxas_arch", _ARCH):
        low_text, _, high_text = row["cc"].partition("-")
        low = reader.cc(low_text, f"{key}.cc")
        high = reader.cc(high_text, f"{key}.cc") if high_text else low
        if high < low:
            raise reader.fail(f"{key}.cc", f"{row['cc']!r} is an empty range", "e.g. '5.0-7.2'")
        if "min_ptxas" not in row and "max_ptxas" not in row:
            raise reader.fail(key, "names neither min_ptxas nor max_ptxas")
        mn = reader.version(row["min_ptxas"], f"{key}.min_ptxas", "11.1") if "min_ptxas" in row else None
        mx = reader.version(row["max_ptxas"], f"{key}.max_ptxas", "12.9") if "max_ptxas" in row else None
        archs.append(PtxasArch(low, high, mn, mx))
    searches = [
        SearchOrder(
            reader.choice(row["tool"], f"{key}.tool", TOOLS),
            reader.specifier(row["tensorflow"], f"{key}.tensorflow"),
            tuple(row["order"]),
        )
        for key, row in rows("search", _SEARCH)
    ]
    pips = [
        PipLocation(
            reader.int_range(row["cuda_major"], f"{key}.cuda_major", 10, 99),
            row["ptxas"],
            row["libdevice"],
            row["package"],
        )
        for key, row in rows("pip_location", _PIP)
    ]
    reader.unique(((f"pip_location[{i}].cuda_major", p.cuda_major) for i, p in enumerate(pips)), "CUDA major")
    messages = []
    for key, row in rows("message", _MESSAGE):
        try:
            pattern = re.compile(row["match"])
        except re.error as exc:
            raise reader.fail(f"{key}.match", f"not a regular expression: {exc}") from None
        messages.append(ToolchainMessage(row["cause"], pattern, row["text"], row["fix"], row["source"]))
    uncached = [
        UncachedFailure(reader.specifier(row["tensorflow"], f"{key}.tensorflow"), row["fixed_by"], row["fix"])
        for key, row in rows("uncached_ptxas_failure", _UNCACHED)
    ]
    return XlaToolchain(
        meta, tuple(floors), tuple(archs), tuple(searches), tuple(pips), tuple(messages), tuple(uncached)
    )


def _maybe_specifier(reader: Reader, text: str, key: str) -> SpecifierSet | None:
    """A release range, or None where the row says the range is unconfirmed ("==2.16.2 (other releases
    unconfirmed)" keeps its specifier, "unconfirmed range (...)" has none)."""
    head = text.split(" (", 1)[0].strip()
    if head.startswith(("<", ">", "=", "!", "~")):
        return reader.specifier(head, key)
    if "unconfirmed" in text:
        return None
    raise reader.fail(key, f"{text!r} is neither a version specifier nor marked unconfirmed", "e.g. '>=2.13,<2.22'")
