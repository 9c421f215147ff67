"""matrices/library_search.toml (see its [meta] for sources): which directories a TensorFlow release's own
dlopen reaches without the user's help.

The question the libraries layer asks of it: does the installed release reach a library copy found through
a given origin? The probe records where it found each copy in its own words ("pip", "conda", "cuda_home",
...); `PROBE_ORIGINS` maps those to the table's origins. The answers, per the table's rows:

- LD_LIBRARY_PATH, the ld cache and the default directories are reached by every release;
- ``$CONDA_PREFIX/lib`` only while libtensorflow_framework.so.2 carried DT_RPATH (<= 2.6), through a conda
  python's own DT_RPATH;
- the pip wheels' ``nvidia/<package>/lib`` only from the release whose loader's RUNPATH lists them (2.14),
  and not the packages a row names in ``not_reached`` as ``pip_nvidia (cublas, cudnn, ...)`` (2.16.1, 2.21);
- ``/usr/local/cuda/lib64`` never (only through LD_LIBRARY_PATH or the ld cache, which are other origins).

Markers the probe adds to an origin that reached a copy ("compat", "wsl", "runpath", "windows_path") are
directories the loader reached by definition, so they count as reached.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion
from packaging.version import Version

from gpuconform.expect.tables.reader import Reader
from gpuconform.expect.tables.reader import TableMeta
from gpuconform.expect.tables.sonames import LIBRARY_NAMES

#: The origins of the table's vocabulary (its header).
ORIGINS = (
    "loader_dir",
    "pip_nvidia",
    "executable_rpath",
    "conda_prefix_lib",
    "LD_LIBRARY_PATH",
    "ld_cache",
    "default_dirs",
    "usr_local_cuda",
)
#: The probe's origin names (LibraryCandidate.origin) and the table origin each one is.
PROBE_ORIGINS = {
    "pip": "pip_nvidia",
    "conda": "conda_prefix_lib",
    "LD_LIBRARY_PATH": "LD_LIBRARY_PATH",
    "ldcache": "ld_cache",
    "system": "default_dirs",
    "cuda_home": "usr_local_cuda",
}
#: Probe origins that mark a directory the loader already reached (a cuda-compat directory, WSL's driver
#: directory, a DT_RUNPATH of TensorFlow's own libraries, a directory on the Windows PATH).
REACHED_MARKERS = ("compat", "wsl", "runpath", "windows_path")
DYNAMIC_TAGS = ("DT_RPATH", "DT_RUNPATH")

_RELEASE = {
    "tensorflow": "string",
    "wheels_read": "strings",
    "dynamic_tag": "string",
    "loader_rpath": "strings",
    "pip_dirs": "strings",
    "runpath_not_on_loader?": "strings",
    "linked?": "strings",
    "order": "strings",
    "reached": "strings",
    "not_reached": "strings",
    "source": "string",
    "notes?": "strings",
}
_ORIGIN = {"name": "string", "reached": "string", "position?": "string", "source": "string", "notes?": "strings"}
_PIP_WHEEL = {
    "wheel": "string",
    "version_read": "string",
    "library": "string",
    "soname": "string",
    "runpath": "strings",
    "loads": "strings",
    "load_sonames": "strings",
    "source": "string",
    "notes?": "strings",
}
_ENTRY = re.compile(r"^(?P<origin>[A-Za-z_]+)(?: \((?P<note>[^()]+)\))?$")
_PIP_DIR = re.compile(r"^nvidia/(?P<package>[a-z0-9_]+)/lib$")
#: The site-packages directories TensorRT's wheels put libnvinfer in (tensorrt-libs: tensorrt_libs).
TENSORRT_PIP_DIRS = ("tensorrt", "tensorrt_libs")


@dataclass(frozen=True)
class ReleaseSearch:
    """One [[release]] row: what the loader of a range of releases searches."""

    key: str  # "release[3]", for messages
    tensorflow: SpecifierSet
    dynamic_tag: str  # DT_RPATH (<= 2.6) or DT_RUNPATH
    pip_dirs: tuple[str, ...]  # "nvidia/cublas/lib", relative to site-packages
    reached: frozenset[str]  # table origins, annotations dropped
    order: tuple[str, ...]  # table origins in the order the loader searches them, annotations dropped
    pip_not_reached: frozenset[str]  # pip packages ("cublas") a "pip_nvidia (...)" entry of not_reached names
    source: str
    wheels: tuple[Version, ...] = ()  # the releases whose wheels were read ("2.16.2")
    # The CUDA libraries its import links (DT_NEEDED, TF 1.x), in the order the dynamic linker maps them: the
    # first one it cannot find fails `import tensorflow`, and none after it is looked for. Empty: all dlopened.
    linked: tuple[str, ...] = ()

    def reaches_pip(self, package: str) -> bool:
        """Whether this loader reaches site-packages/nvidia/<package>/lib."""
        return "pip_nvidia" in self.reached and package not in self.pip_not_reached


@dataclass(frozen=True)
class Reach:
    """Whether a release reaches a copy through one origin, and why not."""

    reached: bool
    why: str = ""  # for an unreached origin: what the loader searches instead, with the table's source


@dataclass(frozen=True)
class PipWheel:
    """One [[pip_wheel]] row: a library of an nvidia-* wheel and the companions it loads through its own
    DT_RUNPATH, which glibc searches after LD_LIBRARY_PATH."""

    key: str  # "pip_wheel[0]", for messages
    wheel: str  # "nvidia-cublas-cu11"
    version_read: Version
    library: str  # "cublas"
    soname: str  # "libcublas.so.11"
    runpath: tuple[str, ...]
    loads: tuple[str, ...]  # the companions among the libraries the probe lists ("cublasLt")
    load_sonames: tuple[str, ...]
    source: str

    @property
    def companions_searched_after_ld_library_path(self) -> bool:
        """A DT_RUNPATH (any, here $ORIGIN) puts LD_LIBRARY_PATH ahead of the wheel's own directory."""
        return bool(self.runpath)


@dataclass(frozen=True)
class LibrarySearch:
    """The rows of library_search.toml, and the questions the libraries layer asks of them."""

    meta: TableMeta
    releases: tuple[ReleaseSearch, ...]
    origin_notes: dict[str, str]  # table origin -> its [[origin]] row's `reached` text
    pip_wheels: tuple[PipWheel, ...] = ()

    def pip_wheel(self, library: str, soname: str) -> PipWheel | None:
        """The [[pip_wheel]] row of the wheel library with this soname ("cublas", "libcublas.so.11"), if read."""
        return next((w for w in self.pip_wheels if w.library == library and w.soname == soname), None)

    def ld_library_path_first(self, tf_version: str | Version | None) -> ReleaseSearch | None:
        """The row of a release whose own loader searches LD_LIBRARY_PATH before the pip wheels' directories
        (both in its `order`, LD_LIBRARY_PATH first); None when it does not, or for no row."""
        row = self.release(tf_version) if tf_version is not None else None
        if row is None or "pip_nvidia" not in row.order or "LD_LIBRARY_PATH" not in row.order:
            return None
        return row if row.order.index("LD_LIBRARY_PATH") < row.order.index("pip_nvidia") else None

    def release(self, tf_version: str | Version) -> ReleaseSearch | None:
        """The row of the installed release, or None when the table has none (unknown release)."""
        try:
            v = tf_version if isinstance(tf_version, Version) else Version(str(tf_version))
        except InvalidVersion:
            return None
        return next((r for r in self.releases if r.tensorflow.contains(v, prereleases=True)), None)

    def reach(self, tf_version: str | Version | None, origin: str, pip_package: str | None = None) -> Reach:
        """Whether release `tf_version` reaches a copy the probe found through `origin`.

        `pip_package` is the wheel directory of a "pip" copy (``cublas`` for nvidia/cublas/lib). Without a
        release (no TensorFlow, or one the table lacks) the release-dependent origins count as reached: only
        /usr/local/cuda, which no dlopen searches, is unreachable then.
        """
        if origin in REACHED_MARKERS:
            return Reach(True)
        table_origin = PROBE_ORIGINS.get(origin)
        if table_origin is None:
            return Reach(True)  # an origin this table does not judge
        if table_origin == "usr_local_cuda":
            return Reach(False, self.origin_notes.get(table_origin, "dlopen never searches /usr/local/cuda"))
        row = self._row_for(tf_version)
        if row is None or table_origin in ("LD_LIBRARY_PATH", "ld_cache", "default_dirs"):
            return Reach(True)
        if table_origin == "conda_prefix_lib":
            if table_origin in row.reached:
                return Reach(True)
            return Reach(
                False,
                f"from 2.7 libtensorflow_framework.so.2 carries {row.dynamic_tag}, and glibc then ignores the conda "
                "python's DT_RPATH ($ORIGIN/../lib = $CONDA_PREFIX/lib) (library_search.toml "
                f"{row.key}: {row.source.split('. ')[0]})",
            )
        if pip_package in TENSORRT_PIP_DIRS:
            # TensorRT's wheels are not nvidia/<x>/lib: reached where the RUNPATH lists the directory itself.
            if pip_package in row.pip_dirs:
                return Reach(True)
            return Reach(
                False,
                f"the RUNPATH of its libtensorflow_framework.so.2 does not list site-packages/{pip_package} "
                f"(library_search.toml {row.key}, read from the wheel)",
            )
        if row.reaches_pip(pip_package or ""):
            return Reach(True)
        listed = [d for d in row.pip_dirs if _PIP_DIR.match(d)]
        if "pip_nvidia" not in row.reached:
            searched = "no site-packages/nvidia/*/lib directory (pip libraries are searched from TensorFlow 2.14)"
        else:
            searched = "only " + ", ".join(listed) + " of the pip directories"
        return Reach(
            False,
            f"the RUNPATH of its libtensorflow_framework.so.2 (which dlopens the CUDA libraries) lists {searched}, "
            f"not nvidia/{pip_package}/lib (library_search.toml {row.key}, read from the wheel)",
        )

    def _row_for(self, tf_version: str | Version | None) -> ReleaseSearch | None:
        """The release's row; for a release newer than every row, the newest row without its per-package
        exceptions (those are one wheel's bugs); None for no release or an older unknown one."""
        if tf_version is None:
            return None
        row = self.release(tf_version)
        if row is not None or not self.releases:
            return row
        try:
            v = Version(str(tf_version))
        except InvalidVersion:
            return None
        newest = max(self.releases, key=lambda r: max(r.wheels, default=Version("0")))
        if _overlap(newest.tensorflow, SpecifierSet(f"<{v}")) is None:
            return None  # older than every row (TF 1.x): not read
        return dataclasses.replace(newest, pip_not_reached=frozenset())

    def linked(self, tf_version: str | Version | None) -> tuple[str, ...]:
        """The libraries the release's import links, in the dynamic linker's order; () where it dlopens them."""
        row = self.release(tf_version) if tf_version is not None else None
        return row.linked if row is not None else ()

    def patch_release_reaching_pip(self, tf_version: str | Version, package: str) -> Version | None:
        """The first later release of the same series, among the wheels read, whose loader reaches
        site-packages/nvidia/<package>/lib (2.16.2 for a 2.16.1 that does not); None when there is none."""
        try:
            v = Version(str(tf_version))
        except InvalidVersion:
            return None
        later = sorted(
            w
            for r in self.releases
            if r.reaches_pip(package)
            for w in r.wheels
            if w > v and w.release[:2] == v.release[:2]
        )
        return later[0] if later else None

    def releases_reaching_pip(self, package: str) -> tuple[SpecifierSet, ...]:
        """The release ranges whose loader reaches site-packages/nvidia/<package>/lib."""
        return tuple(r.tensorflow for r in self.releases if r.reaches_pip(package))


def pip_package(path: str) -> str | None:
    """The wheel directory of a file below site-packages/nvidia/<package>/lib ("cublas"), or None."""
    match = re.search(r"/nvidia/([A-Za-z0-9_]+)/lib/[^/]+$", path.replace("\\", "/"))
    return match.group(1) if match else None


def load_library_search(path: Path) -> LibrarySearch:
    """Read and check library_search.toml: origins of its vocabulary, specifiers that do not overlap."""
    reader = Reader(path)
    top = {"meta": "table", "release?": "tables", "origin?": "tables", "pip_wheel?": "tables"}
    meta = reader.meta("library_search", top)
    releases = [_release(reader, key, row) for key, row in _rows(reader, "release", _RELEASE)]
    for i, later in enumerate(releases):
        for earlier in releases[:i]:
            clash = _overlap(earlier.tensorflow, later.tensorflow)
            if clash is not None:
                raise reader.fail(
                    f"{later.key}.tensorflow", f"{later.tensorflow} overlaps {earlier.key} ({earlier.tensorflow}) at "
                    f"{clash}"
                )
    notes = {}
    for key, row in _rows(reader, "origin", _ORIGIN):
        notes[reader.choice(row["name"], f"{key}.name", ORIGINS)] = row["reached"]
    wheels = tuple(_pip_wheel(reader, key, row) for key, row in _rows(reader, "pip_wheel", _PIP_WHEEL))
    return LibrarySearch(meta, tuple(releases), notes, wheels)


def _pip_wheel(reader: Reader, key: str, row: dict[str, Any]) -> PipWheel:
    library = reader.choice(row["library"], f"{key}.library", LIBRARY_NAMES)
    loads = tuple(reader.choice(n, f"{key}.loads[{i}]", LIBRARY_NAMES) for i, n in enumerate(row["loads"]))
    return PipWheel(
        key=key,
        wheel=row["wheel"],
        version_read=reader.version(row["version_read"], f"{key}.version_read", "11.10.3.66"),
        library=library,
        soname=row["soname"],
        runpath=tuple(row["runpath"]),
        loads=loads,
        load_sonames=tuple(row["load_sonames"]),
        source=row["source"],
    )


def _rows(reader: Reader, name: str, schema: dict[str, str]) -> list[tuple[str, dict[str, Any]]]:
    return reader.rows(name, schema) if name in reader.data else []


def _release(reader: Reader, key: str, row: dict[str, Any]) -> ReleaseSearch:
    tag = reader.choice(row["dynamic_tag"], f"{key}.dynamic_tag", DYNAMIC_TAGS)
    for i, directory in enumerate(row["pip_dirs"]):
        if directory != "tensorrt" and not _PIP_DIR.match(directory):
            raise reader.fail(f"{key}.pip_dirs[{i}]", f"{directory!r} is not a pip directory", "'nvidia/<package>/lib'")
    reached = {_origin(reader, f"{key}.reached[{i}]", e)[0] for i, e in enumerate(row["reached"])}
    order = tuple(_origin(reader, f"{key}.order[{i}]", entry)[0] for i, entry in enumerate(row["order"]))
    pip_not: set[str] = set()
    for i, entry in enumerate(row["not_reached"]):
        origin, note = _origin(reader, f"{key}.not_reached[{i}]", entry)
        if origin == "pip_nvidia" and note:
            pip_not |= {p.strip() for p in note.split(",")}
        elif origin in reached:
            raise reader.fail(f"{key}.not_reached[{i}]", f"{origin} is also in reached", "an origin in one list only")
    if pip_not and "pip_nvidia" not in reached:
        raise reader.fail(f"{key}.not_reached", "names pip packages not reached, but pip_nvidia is not reached at all")
    listed = {m.group("package") for d in row["pip_dirs"] if (m := _PIP_DIR.match(d))}
    if "pip_nvidia" in reached and not listed:
        raise reader.fail(f"{key}.pip_dirs", "pip_nvidia is reached but no nvidia/<package>/lib is listed")
    if listed & pip_not:
        clash = ", ".join(sorted(listed & pip_not))
        raise reader.fail(f"{key}.not_reached", f"{clash} is both on pip_dirs and not reached")
    linked = row.get("linked", ())
    return ReleaseSearch(
        key=key,
        tensorflow=reader.specifier(row["tensorflow"], f"{key}.tensorflow"),
        dynamic_tag=tag,
        pip_dirs=tuple(row["pip_dirs"]),
        reached=frozenset(reached),
        order=order,
        pip_not_reached=frozenset(pip_not),
        source=row["source"],
        wheels=tuple(_wheel(reader, f"{key}.wheels_read[{i}]", w) for i, w in enumerate(row["wheels_read"])),
        linked=tuple(reader.choice(n, f"{key}.linked[{i}]", LIBRARY_NAMES) for i, n in enumerate(linked)),
    )


def _wheel(reader: Reader, key: str, text: str) -> Version:
    """A wheels_read entry: "2.16.2", or "<distribution> <version>"."""
    return reader.version(text.rpartition(" ")[2], key, "2.16.2")


def _origin(reader: Reader, key: str, entry: str) -> tuple[str, str | None]:
    """An entry "origin" or "origin (note)": the origin, checked against the vocabulary, and the note."""
    match = _ENTRY.match(entry)
    if match is None or match["origin"] not in ORIGINS:
        name = match["origin"] if match else entry
        raise reader.fail(key, f"{name!r} is not an origin of the table", ", ".join(ORIGINS))
    return match["origin"], match["note"]


def _overlap(a: SpecifierSet, b: SpecifierSet) -> Version | None:
    probes = [Version(f"{major}.{minor}.{patch}") for major in (1, 2) for minor in range(40) for patch in (0, 1, 2, 5)]
    return next((v for v in probes if a.contains(v) and b.contains(v)), None)
