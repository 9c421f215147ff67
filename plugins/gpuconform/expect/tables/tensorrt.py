"""matrices/tensorrt.toml (see its [meta] for sources): the TensorRT libraries each TensorFlow release dlopens for
TF-TRT, and the TensorRT it was built against.

TF-TRT loads libnvinfer.so.<major> and libnvinfer_plugin.so.<major> through the same loader as the CUDA
libraries, the major fixed when the wheel was built; a release without TF-TRT (2.18 on) loads neither. The
questions the rules ask of it: which sonames the installed release asks for, and which releases ask for the
major a host has installed (the releases a user could move to).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion
from packaging.version import Version

from gpuconform.expect.tables.reader import Reader
from gpuconform.expect.tables.reader import TableMeta
from gpuconform.expect.tables.sonames import Wanted

#: The TensorRT libraries TF-TRT dlopens, in the order it loads them (nvinfer first: the plugins need it).
TENSORRT_LIBRARIES = ("nvinfer", "nvinfer_plugin")

_SUFFIX = re.compile(r"^[0-9]+(\.[0-9]+)*$")
_RELEASE = {"tensorflow": "string", "wheels_read": "strings", "nvinfer?": "string", "built_with?": "string"}
_RELEASE |= {"source": "string", "notes?": "strings"}


@dataclass(frozen=True)
class TrtRelease:
    """One [[release]] row: the TensorRT major a range of releases dlopens (None: no TF-TRT in them)."""

    key: str  # "release[3]", for messages
    tensorflow: SpecifierSet
    wheels: tuple[str, ...]  # "tensorflow 2.10.0": the wheels the row was read from
    suffix: str | None  # libnvinfer.so.<suffix>: "7", or a full version "8.6.1"; None: the release has no TF-TRT
    built_with: Version | None  # the TensorRT the wheel was compiled against, where it was read
    source: str

    @property
    def major(self) -> int | None:
        """The TensorRT major the release dlopens; None without TF-TRT."""
        return int(self.suffix.split(".")[0]) if self.suffix is not None else None

    @property
    def full_version(self) -> Version | None:
        """The one TensorRT version a release that dlopens libnvinfer.so.<full version> accepts, else None."""
        return Version(self.suffix) if self.suffix is not None and "." in self.suffix else None

    def sonames(self) -> tuple[tuple[str, str], ...]:
        """(library, soname) of each TensorRT library the release dlopens; () without TF-TRT."""
        if self.suffix is None:
            return ()
        return tuple((name, f"lib{name}.so.{self.suffix}") for name in TENSORRT_LIBRARIES)

    def first(self) -> Version:
        """The oldest release of the row: its specifier's lower bound."""
        return min((Version(s.version) for s in self.tensorflow if s.operator in (">=", "==")), default=Version("0"))

    def last(self) -> Version | None:
        """The newest release the row names among its wheels read (its series' patches share the row)."""
        read = [Version(w.rpartition(" ")[2]) for w in self.wheels]
        return max(read) if read else None


@dataclass(frozen=True)
class TensorRT:
    """The rows of tensorrt.toml, and the questions the libraries layer asks of them."""

    meta: TableMeta
    releases: tuple[TrtRelease, ...]

    def release(self, tf_version: str | Version | None) -> TrtRelease | None:
        """The row of the installed release; None for no TensorFlow or one the table lacks."""
        if tf_version is None:
            return None
        try:
            v = tf_version if isinstance(tf_version, Version) else Version(str(tf_version))
        except InvalidVersion:
            return None
        return next((r for r in self.releases if r.tensorflow.contains(v, prereleases=True)), None)

    @property
    def newest_major(self) -> int:
        """The newest major any release dlopens: what a host without a TF-TRT release is probed for."""
        return max(r.major for r in self.releases if r.major is not None)

    def wanted(self, tf_version: str | Version | None) -> tuple[Wanted, ...]:
        """The TensorRT libraries to look for: the release's sonames, else the newest major's (a host whose
        TensorFlow has no TF-TRT still has its TensorRT recorded, under the other-soname candidates)."""
        row = self.release(tf_version)
        suffix = row.suffix if row is not None and row.suffix is not None else str(self.newest_major)
        return tuple(Wanted(name, f"lib{name}.so.{suffix}", False) for name in TENSORRT_LIBRARIES)

    def loading(self, major: int, version: Version | None = None) -> tuple[TrtRelease, ...]:
        """The rows whose releases load TensorRT `version` of `major`, oldest first: those that dlopen
        libnvinfer.so.<major>, and those that dlopen libnvinfer.so.<full version> when it is `version`."""
        rows = [r for r in self.releases if r.major == major and r.full_version in (None, version)]
        return tuple(sorted(rows, key=TrtRelease.first))


def load_tensorrt(path: Path) -> TensorRT:
    """Read and check tensorrt.toml: specifiers that do not overlap, a major per TF-TRT row, versions."""
    reader = Reader(path)
    meta = reader.meta("tensorrt", {"meta": "table", "release": "tables"})
    rows = []
    for key, row in reader.rows("release", _RELEASE):
        suffix = row.get("nvinfer")
        if suffix is not None and not _SUFFIX.match(suffix):
            raise reader.fail(f"{key}.nvinfer", f"{suffix!r} is not a soname suffix", "a string like '8' or '8.6.1'")
        built = row.get("built_with")
        if built is not None and suffix is None:
            raise reader.fail(f"{key}.built_with", "a release without TF-TRT (no nvinfer) was built with no TensorRT")
        built_with = reader.version(built, f"{key}.built_with", "7.2.2") if built is not None else None
        if built_with is not None and suffix is not None and not _provides(built_with, suffix):
            raise reader.fail(f"{key}.built_with", f"TensorRT {built_with} does not provide libnvinfer.so.{suffix}")
        reader.nonempty(row["wheels_read"], f"{key}.wheels_read", "the wheels the row was read from")
        rows.append(
            TrtRelease(
                key,
                reader.specifier(row["tensorflow"], f"{key}.tensorflow"),
                tuple(row["wheels_read"]),
                suffix,
                built_with,
                row["source"],
            )
        )
    for i, later in enumerate(rows):
        for earlier in rows[:i]:
            hit = next((w for w in later.wheels if earlier.tensorflow.contains(w.rpartition(" ")[2])), None)
            if hit is not None:
                problem = f"{hit} is also in {earlier.key}"
                raise reader.fail(f"{later.key}.tensorflow", problem, "ranges that do not overlap")
    if not any(r.major is not None for r in rows):
        raise reader.fail("release", "no row names a TensorRT major (nvinfer)")
    return TensorRT(meta, tuple(rows))


def _provides(version: Version, suffix: str) -> bool:
    """Whether TensorRT `version` ships libnvinfer.so.<suffix> (its major, or its full version)."""
    return version == Version(suffix) if "." in suffix else version.major == int(suffix)
