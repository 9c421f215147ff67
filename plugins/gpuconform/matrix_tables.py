"""The rows of the compatibility matrices (`matrices/*.toml`) and the code that reads them.

Each row is checked against a schema (types, required and unknown keys) and then
converted: text becomes `packaging` versions and specifiers and compute capabilities, and
what a schema cannot express is checked too (duplicates, ranges, one GA row per CUDA
series). Every problem is a DataError naming the file, the dotted key path
(``release[3].cuda``) and what is accepted. The queries live in `gpuconform.matrix`.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from typing import TypeVar

from packaging.specifiers import SpecifierSet
from packaging.version import Version

from gpuconform.errors import DataError
from gpuconform.errors import did_you_mean
from gpuconform.errors import join_choices
from gpuconform.tomlio import read_toml
from gpuconform.versions import DriverVersion
from gpuconform.versions import WrittenSpecifierSet
from gpuconform.versions import format_cc
from gpuconform.versions import parse_cc
from gpuconform.versions import parse_driver_version
from gpuconform.versions import release_series

T = TypeVar("T")
CC = tuple[int, int]

#: The matrix files, by the table name used in `Matrices.as_of` and in messages.
#: The rule tables (gpuconform.tables): sourced data the diagnosis rules read.
RULE_TABLE_FILES = {
    "architectures": "architectures.toml",
    "container_runtimes": "container_runtimes.toml",
    "forward_compat": "forward_compat.toml",
    "kernel_module_errors": "kernel_module_errors.toml",
    "library_search": "library_search.toml",
    "tf_platforms": "tf_platforms.toml",
    "xid": "xid.toml",
    "xla_toolchain": "xla_toolchain.toml",
}
TABLE_FILES = {
    "tensorflow": "tensorflow.toml",
    "cuda_drivers": "cuda_drivers.toml",
    "gpus": "gpus.toml",
    "kernels": "kernels.toml",
    "and_cuda": "and_cuda.toml",
    **RULE_TABLE_FILES,
}

TF_PACKAGES = ("tensorflow", "tensorflow-gpu")
TOOLKIT_RELEASES = ("ga", "update", "rc")
WHEEL_SUFFIXES = ("cu11", "cu12", "cu13")
# PEP 508 distribution names (the "NAME" production), e.g. "nvidia-cudnn-cu12".
_DIST_NAME_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?")


# --- rows, as the rest of gpuconform sees them -------------------------------------------------


@dataclass(frozen=True)
class TableMeta:
    """The `[meta]` table of one matrix file."""

    name: str  # "tensorflow"
    source: str  # the file it was read from
    title: str
    as_of: datetime.date
    sources: tuple[str, ...]
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class TfRelease:
    """One TensorFlow release and the configuration it was built and tested with."""

    version: Version
    python: SpecifierSet
    cuda: Version  # as the wheel's cuda_config.h says: "12.5.1", "12.3", "11.2"
    cudnn: Version
    package: str  # "tensorflow", or "tensorflow-gpu" for 2.0.0
    keras_major: int
    glibc: str | None = None  # the floor of the Linux wheel's manylinux tag, "2.17"
    notes: tuple[str, ...] = ()
    prerelease: bool = False  # a release candidate ("2.22.0rc0"): flagged in the file, shown where it is used

    @property
    def cudnn_major(self) -> int:
        """The cuDNN major the wheel links against (the soname's number)."""
        return self.cudnn.release[0]

    @property
    def series(self) -> str:
        """The release series, "2.19" for 2.19.0."""
        return release_series(self.version)


@dataclass(frozen=True)
class Toolkit:
    """One row of NVIDIA's "CUDA Toolkit and Corresponding Driver Versions" table."""

    label: str  # "CUDA 12.5 Update 1", as NVIDIA writes it
    version: Version  # "12.5.1"
    release: str  # "ga", "update" or "rc"
    linux_min_driver: DriverVersion
    windows_min_driver: DriverVersion | None = None
    third_party: bool = False  # read only from third-party quotes of NVIDIA's notes
    notes: tuple[str, ...] = ()
    driver_bundled: bool = True  # False from CUDA 13.4: linux_min_driver is then the major's floor

    @property
    def series(self) -> tuple[int, int]:
        """(12, 5) for 12.5.1."""
        major, minor = (list(self.version.release) + [0])[:2]
        return (major, minor)


@dataclass(frozen=True)
class MinorCompat:
    """The minimum driver for CUDA minor-version compatibility across one CUDA major."""

    major: int
    linux_min_driver: DriverVersion
    windows_min_driver: DriverVersion | None = None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class DriverBranch:
    """A driver branch and the CUDA version its nvidia-smi reports (the newest it runs)."""

    branch: int
    cuda: Version
    third_party: bool = False
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class GpuModel:
    """One GPU model: how NVML and the PCI bus name it, and what it can run."""

    key: str  # "t4", "a100-40gb"
    names: tuple[str, ...]  # exact NVML product names, current form first
    pci_device_ids: tuple[int, ...]
    compute_capability: CC
    architecture: str
    memory_mib: tuple[int, ...] = ()  # totals NVML reported in observed outputs
    memory_gb: int | None = None  # the marketed size
    last_driver_branch: int | None = None  # None: still supported by new branches
    min_driver_branch: int | None = None  # None: no constraint recorded
    notes: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """The current NVML product name."""
        return self.names[0]

    @property
    def family(self) -> str:
        """What a profile may name instead of the key: "a100" for "a100-40gb"."""
        return self.key.split("-")[0]

    def answers_to(self, profile_model: str) -> bool:
        """Whether a profile's `gpus.model` ("a100", or the exact "a100-40gb") means this model."""
        return profile_model in (self.key, self.family)

    @property
    def compute_capability_text(self) -> str:
        """The compute capability as text, "7.5"."""
        return format_cc(self.compute_capability)

    @property
    def min_driver(self) -> Version | None:
        """The first driver of `min_driver_branch` (Version("570") sorts below every 570.x)."""
        return None if self.min_driver_branch is None else Version(str(self.min_driver_branch))


@dataclass(frozen=True)
class KernelRelease:
    """The CUDA code compiled into the wheels of some TensorFlow release series."""

    tf: tuple[str, ...]  # release series: ("2.17", "2.18", "2.19")
    sass: tuple[CC, ...]  # SASS in every fatbin that has SASS
    sass_partial: tuple[CC, ...]  # SASS in only some fatbins
    ptx: tuple[CC, ...]
    build_info_caps: tuple[str, ...]  # get_build_info()["cuda_compute_capabilities"], verbatim
    ptx_only_fatbins: int = 0
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class AndCudaRelease:
    """The pins of `tensorflow[and-cuda]` shared by some TensorFlow releases."""

    tf: tuple[Version, ...]
    suffix: str  # "cu11", "cu12"
    pins: tuple[tuple[str, str], ...]  # (distribution, specifier), in file order
    notes: tuple[str, ...] = ()


# --- schemas: key -> kind; a trailing "?" marks an optional key --------------------------------

Schema = dict[str, str]

# fmt: off
_META: Schema = {"title": "string", "as_of": "date", "sources": "strings", "notes?": "strings"}
_TF_FILE: Schema = {"meta": "table", "release": "tables"}
_TF_ROW: Schema = {
    "version": "string", "python": "string", "cuda": "string", "cudnn": "string",
    "package": "string", "keras_major": "integer", "glibc?": "string", "prerelease?": "boolean",
    "notes?": "strings",
}
_DRIVERS_FILE: Schema = {
    "meta": "table", "toolkit": "tables", "minor_compat": "tables", "branch": "tables",
}
_TOOLKIT_ROW: Schema = {
    "label": "string", "version": "string", "release": "string", "linux_min_driver": "string",
    "windows_min_driver?": "string", "third_party?": "boolean", "driver_bundled?": "boolean",
    "notes?": "strings",
}
_COMPAT_ROW: Schema = {
    "major": "integer", "linux_min_driver": "string", "windows_min_driver?": "string",
    "notes?": "strings",
}
_BRANCH_ROW: Schema = {
    "branch": "integer", "cuda": "string", "third_party?": "boolean", "notes?": "strings",
}
_GPUS_FILE: Schema = {"meta": "table", "gpu": "tables"}
_GPU_ROW: Schema = {
    "key": "string", "names": "strings", "pci_device_ids": "integers",
    "compute_capability": "string", "architecture": "string", "memory_mib?": "integers",
    "memory_gb?": "integer", "last_driver_branch?": "integer", "min_driver_branch?": "integer",
    "notes?": "strings",
}
_KERNELS_FILE: Schema = {"meta": "table", "release": "tables"}
_KERNEL_ROW: Schema = {
    "tf": "strings", "sass": "strings", "sass_partial": "strings", "ptx": "strings",
    "build_info_caps": "strings", "ptx_only_fatbins?": "integer", "notes?": "strings",
}
_AND_CUDA_FILE: Schema = {"meta": "table", "release": "tables"}
_AND_CUDA_ROW: Schema = {"tf": "strings", "suffix": "string", "pins": "table", "notes?": "strings"}

_KIND_NAMES: dict[type, str] = {
    bool: "boolean", int: "integer", float: "number", str: "string", dict: "table", list: "list",
    datetime.date: "date", datetime.datetime: "datetime", datetime.time: "time",
}
# fmt: on

# A list kind and the kind of its items.
_ITEMS = {"strings": "string", "integers": "integer", "tables": "table"}
_ARTICLE = {"integer": "an integer", "table": "a table", "date": "a date like 2026-03-11"}


def _kind(value: object) -> str:
    # type() rather than isinstance(): a datetime is a date and a bool is an int.
    return _KIND_NAMES.get(type(value), type(value).__name__)


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _show(value: object) -> str:
    if isinstance(value, tuple) and len(value) == 2 and all(isinstance(p, int) for p in value):
        return format_cc((value[0], value[1]))
    return repr(str(value)) if isinstance(value, (str, Version)) else str(value)


# --- the reader of one file --------------------------------------------------------------------


class _Reader:
    """Checks and converts the values of one file; every problem is a DataError naming it."""

    def __init__(self, path: Path) -> None:
        self.source = str(path)
        self.data = self.table(read_toml(path), "", {})

    def fail(self, key: str, problem: str, accepted: str | None = None) -> DataError:
        return DataError(self.source, key, problem, accepted)

    # shape

    def table(self, value: Any, key: str, schema: Schema) -> dict[str, Any]:
        """`value` as a table with exactly the keys of `schema` (all when the schema is {})."""
        self.check(value, "table", key or "(top level)")
        if not schema:
            return dict(value)
        kinds = {name.rstrip("?"): kind for name, kind in schema.items()}
        for name in value:
            if name not in kinds:
                raise self.fail(
                    _join(key, name), "unknown key" + did_you_mean(name, kinds), join_choices(kinds)
                )
        for name, kind in schema.items():
            if not name.endswith("?") and name not in value:
                raise self.fail(_join(key, name), "required key is missing", _describe(kind))
        for name, item in value.items():
            self.check(item, kinds[name], _join(key, name))
        return dict(value)

    def check(self, value: Any, kind: str, key: str) -> None:
        if kind in _ITEMS:
            if not isinstance(value, list):
                raise self.fail(key, f"expected {_describe(kind)}, got {_kind(value)}")
            for i, item in enumerate(value):
                self.check(item, _ITEMS[kind], f"{key}[{i}]")
        elif _kind(value) != kind:
            raise self.fail(key, f"expected {_describe(kind)}, got {_kind(value)} {_short(value)}")

    def rows(self, name: str, schema: Schema) -> list[tuple[str, dict[str, Any]]]:
        """The (key path, row) pairs of the array of tables `name`."""
        rows = self.data[name]
        return [
            (f"{name}[{i}]", self.table(row, f"{name}[{i}]", schema)) for i, row in enumerate(rows)
        ]

    def meta(self, name: str, schema: Schema) -> TableMeta:
        """Check the whole file against `schema`, then return its [meta] table."""
        self.data = self.table(self.data, "", schema)
        meta = self.table(self.data["meta"], "meta", _META)
        if not meta["sources"]:
            raise self.fail("meta.sources", "is empty", "a list of URLs or repo@commit strings")
        notes = tuple(meta.get("notes", ()))
        return TableMeta(
            name, self.source, meta["title"], meta["as_of"], tuple(meta["sources"]), notes
        )

    # values

    def version(self, text: str, key: str, example: str) -> Version:
        try:
            return Version(text)
        except ValueError:  # InvalidVersion, or a number too long for int()
            raise self.fail(key, f"{_short(text)} is not a version", f"a version like {example!r}") from None

    def driver(self, text: str, key: str) -> DriverVersion:
        try:
            return parse_driver_version(text)
        except ValueError as exc:
            raise self.fail(key, str(exc), "a driver version like '550.54.15'") from None

    def optional_driver(self, row: dict[str, Any], name: str, key: str) -> DriverVersion | None:
        return self.driver(row[name], f"{key}.{name}") if name in row else None

    def specifier(self, text: str, key: str) -> SpecifierSet:
        accepted = "a PEP 440 specifier like '>=3.9,<3.13'"
        try:
            spec = WrittenSpecifierSet(text)
        except ValueError:  # InvalidSpecifier, or a number too long for int()
            raise self.fail(key, f"{text!r} is not a version specifier", accepted) from None
        if not str(spec):
            raise self.fail(key, "is empty", accepted)
        return spec

    def cc(self, text: str, key: str) -> CC:
        try:
            return parse_cc(text)
        except ValueError as exc:
            raise self.fail(key, str(exc), "a compute capability like '7.5'") from None

    def ccs(self, texts: list[str], key: str) -> tuple[CC, ...]:
        ccs = tuple(self.cc(t, f"{key}[{i}]") for i, t in enumerate(texts))
        self.unique(((f"{key}[{i}]", c) for i, c in enumerate(ccs)), "compute capability")
        return ccs

    def choice(self, value: str, key: str, choices: Iterable[str]) -> str:
        options = tuple(choices)
        if value not in options:
            raise self.fail(key, f"{value!r} is not accepted", ", ".join(options))
        return value

    def int_range(self, value: int, key: str, low: int, high: int) -> int:
        if not low <= value <= high:
            raise self.fail(key, f"{value} is out of range", f"{low} to {high}")
        return value

    def nonempty(self, values: list[Any], key: str, accepted: str) -> None:
        if not values:
            raise self.fail(key, "is empty", accepted)

    def unique(self, items: Iterable[tuple[str, T]], what: str) -> None:
        """Refuse a value that appears twice; `items` are (key path, value) pairs."""
        seen: dict[T, str] = {}
        for key, value in items:
            if value in seen:
                raise self.fail(key, f"duplicate {what} {_show(value)}, already at {seen[value]}")
            seen[value] = key


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _describe(kind: str) -> str:
    if kind in _ITEMS:
        return f"a list of {kind}"
    return _ARTICLE.get(kind, f"a {kind}")


def _notes(row: dict[str, Any]) -> tuple[str, ...]:
    return tuple(row.get("notes", ()))


# --- one loader per file -----------------------------------------------------------------------


def load_tensorflow(path: Path) -> tuple[TableMeta, tuple[TfRelease, ...]]:
    """Read tensorflow.toml; the releases in file order."""
    r = _Reader(path)
    meta = r.meta("tensorflow", _TF_FILE)
    releases = []
    for key, row in r.rows("release", _TF_ROW):
        if "glibc" in row:
            r.version(row["glibc"], f"{key}.glibc", "2.17")
        version = r.version(row["version"], f"{key}.version", "2.21.0")
        # A release candidate must say so, so that no one reads its row as a final release's.
        flagged = row.get("prerelease", False)
        if version.is_prerelease != flagged:
            problem = f"{version} is {'a pre-release' if version.is_prerelease else 'a final release'}"
            raise r.fail(f"{key}.prerelease", problem, f"prerelease = {str(version.is_prerelease).lower()}")
        releases.append(
            TfRelease(
                version=version,
                python=r.specifier(row["python"], f"{key}.python"),
                cuda=r.version(row["cuda"], f"{key}.cuda", "12.5.1"),
                cudnn=r.version(row["cudnn"], f"{key}.cudnn", "9.3.0"),
                package=r.choice(row["package"], f"{key}.package", TF_PACKAGES),
                keras_major=r.int_range(row["keras_major"], f"{key}.keras_major", 2, 3),
                glibc=row.get("glibc"),
                notes=_notes(row),
                prerelease=flagged,
            )
        )
    r.nonempty(releases, "release", "one [[release]] per TensorFlow release")
    r.unique(((f"release[{i}].version", t.series) for i, t in enumerate(releases)), "series")
    return meta, tuple(releases)


def load_cuda_drivers(
    path: Path,
) -> tuple[TableMeta, tuple[Toolkit, ...], tuple[MinorCompat, ...], tuple[DriverBranch, ...]]:
    """Read cuda_drivers.toml."""
    r = _Reader(path)
    meta = r.meta("cuda_drivers", _DRIVERS_FILE)
    toolkits = []
    for key, row in r.rows("toolkit", _TOOLKIT_ROW):
        toolkits.append(
            Toolkit(
                label=row["label"],
                version=r.version(row["version"], f"{key}.version", "12.5.1"),
                release=r.choice(row["release"], f"{key}.release", TOOLKIT_RELEASES),
                linux_min_driver=r.driver(row["linux_min_driver"], f"{key}.linux_min_driver"),
                windows_min_driver=r.optional_driver(row, "windows_min_driver", key),
                third_party=row.get("third_party", False),
                notes=_notes(row),
                driver_bundled=row.get("driver_bundled", True),
            )
        )
    r.unique(((f"toolkit[{i}].version", t.version) for i, t in enumerate(toolkits)), "version")
    r.unique(((f"toolkit[{i}].label", t.label) for i, t in enumerate(toolkits)), "label")
    ga = [(f"toolkit[{i}].release", t.series) for i, t in enumerate(toolkits) if t.release == "ga"]
    r.unique(ga, "GA row for CUDA series")
    with_ga = {series for _, series in ga}
    for i, t in enumerate(toolkits):
        if t.series not in with_ga:
            raise r.fail(
                f"toolkit[{i}].version",
                f'CUDA {t.series[0]}.{t.series[1]} has no row with release = "ga"',
                "one GA row per CUDA major.minor",
            )

    compat = [
        MinorCompat(
            major=r.int_range(row["major"], f"{key}.major", 1, 99),
            linux_min_driver=r.driver(row["linux_min_driver"], f"{key}.linux_min_driver"),
            windows_min_driver=r.optional_driver(row, "windows_min_driver", key),
            notes=_notes(row),
        )
        for key, row in r.rows("minor_compat", _COMPAT_ROW)
    ]
    r.unique(((f"minor_compat[{i}].major", c.major) for i, c in enumerate(compat)), "major")

    branches = [
        DriverBranch(
            branch=r.int_range(row["branch"], f"{key}.branch", 1, 9999),
            cuda=r.version(row["cuda"], f"{key}.cuda", "12.4"),
            third_party=row.get("third_party", False),
            notes=_notes(row),
        )
        for key, row in r.rows("branch", _BRANCH_ROW)
    ]
    r.unique(((f"branch[{i}].branch", b.branch) for i, b in enumerate(branches)), "branch")
    branches.sort(key=lambda b: b.branch)
    # A newer branch reporting an older CUDA would make "newest CUDA for this driver" wrong.
    for older, newer in zip(branches, branches[1:]):
        if newer.cuda < older.cuda:
            raise r.fail(
                "branch",
                f"branch {newer.branch} reports CUDA {newer.cuda}, older than "
                f"CUDA {older.cuda} of branch {older.branch}",
                "CUDA versions that never decrease as branches increase",
            )
    toolkits.sort(key=lambda t: t.version, reverse=True)
    compat.sort(key=lambda c: c.major)
    return meta, tuple(toolkits), tuple(compat), tuple(branches)


def load_gpus(path: Path) -> tuple[TableMeta, tuple[GpuModel, ...]]:
    """Read gpus.toml."""
    r = _Reader(path)
    meta = r.meta("gpus", _GPUS_FILE)
    models = []
    for key, g in r.rows("gpu", _GPU_ROW):
        if not re.fullmatch(r"[a-z0-9]+(?:-[a-z0-9]+)*", g["key"]):
            raise r.fail(
                f"{key}.key", f"{g['key']!r} is not a key", "lower-case words joined by '-'"
            )
        r.nonempty(g["names"], f"{key}.names", "at least one NVML product name")
        r.nonempty(g["pci_device_ids"], f"{key}.pci_device_ids", "at least one PCI device id")
        for i, dev in enumerate(g["pci_device_ids"]):
            r.int_range(dev, f"{key}.pci_device_ids[{i}]", 0, 0xFFFF)
        for i, mib in enumerate(g.get("memory_mib", ())):
            r.int_range(mib, f"{key}.memory_mib[{i}]", 1, 10**7)
        for name, high in (("memory_gb", 10**4), ("last_driver_branch", 9999)):
            if name in g:
                r.int_range(g[name], f"{key}.{name}", 1, high)
        if "min_driver_branch" in g:
            r.int_range(g["min_driver_branch"], f"{key}.min_driver_branch", 1, 9999)
        models.append(
            GpuModel(
                key=g["key"],
                names=tuple(g["names"]),
                pci_device_ids=tuple(g["pci_device_ids"]),
                compute_capability=r.cc(g["compute_capability"], f"{key}.compute_capability"),
                architecture=g["architecture"],
                memory_mib=tuple(g.get("memory_mib", ())),
                memory_gb=g.get("memory_gb"),
                last_driver_branch=g.get("last_driver_branch"),
                min_driver_branch=g.get("min_driver_branch"),
                notes=_notes(g),
            )
        )
    r.unique(((f"gpu[{i}].key", m.key) for i, m in enumerate(models)), "key")
    # One model may list a name with and without "NVIDIA "; two models may not share one.
    names = {
        (i, normalise_gpu_name(n)): j for i, m in enumerate(models) for j, n in enumerate(m.names)
    }
    r.unique(((f"gpu[{i}].names[{j}]", n) for (i, n), j in names.items()), "GPU name")
    ids = [(i, j, d) for i, m in enumerate(models) for j, d in enumerate(m.pci_device_ids)]
    r.unique(((f"gpu[{i}].pci_device_ids[{j}]", f"0x{d:04x}") for i, j, d in ids), "PCI id")
    return meta, tuple(models)


def load_kernels(path: Path) -> tuple[TableMeta, tuple[KernelRelease, ...]]:
    """Read kernels.toml."""
    r = _Reader(path)
    meta = r.meta("kernels", _KERNELS_FILE)
    groups = []
    for key, k in r.rows("release", _KERNEL_ROW):
        r.nonempty(k["tf"], f"{key}.tf", "TensorFlow release series like '2.17'")
        for i, text in enumerate(k["tf"]):
            if release_series(r.version(text, f"{key}.tf[{i}]", "2.17")) != text:
                raise r.fail(f"{key}.tf[{i}]", f"{text!r} is not a release series", "'2.17'")
        sass = r.ccs(k["sass"], f"{key}.sass")
        partial = r.ccs(k["sass_partial"], f"{key}.sass_partial")
        ptx = r.ccs(k["ptx"], f"{key}.ptx")
        for i, cc in enumerate(partial):
            if cc in sass:
                raise r.fail(f"{key}.sass_partial[{i}]", f"{format_cc(cc)} is also in sass")
        _check_caps(r, k["build_info_caps"], f"{key}.build_info_caps", sass + partial, ptx)
        fatbins = r.int_range(k.get("ptx_only_fatbins", 0), f"{key}.ptx_only_fatbins", 0, 10**6)
        groups.append(
            KernelRelease(
                tf=tuple(k["tf"]),
                sass=sass,
                sass_partial=partial,
                ptx=ptx,
                build_info_caps=tuple(k["build_info_caps"]),
                ptx_only_fatbins=fatbins,
                notes=_notes(k),
            )
        )
    series = [
        (f"release[{i}].tf[{j}]", s) for i, g in enumerate(groups) for j, s in enumerate(g.tf)
    ]
    r.unique(series, "TensorFlow series")
    return meta, tuple(groups)


def _check_caps(
    r: _Reader, caps: list[str], key: str, sass: tuple[CC, ...], ptx: tuple[CC, ...]
) -> None:
    # build_info is a third reading of the same wheel: an sm_XY it lists must have SASS, a
    # compute_XY must have PTX. A mismatch is a typo in one of the lists.
    for i, cap in enumerate(caps):
        kind = cap.split("_")[0]
        if kind not in ("sm", "compute"):
            raise r.fail(f"{key}[{i}]", f"{cap!r} is not an arch name", "'sm_XY' or 'compute_XY'")
        listed, where = (sass, "sass or sass_partial") if kind == "sm" else (ptx, "ptx")
        if r.cc(cap, f"{key}[{i}]") not in listed:
            raise r.fail(f"{key}[{i}]", f"{cap} is not in {where}", f"archs listed in {where}")


def load_and_cuda(path: Path) -> tuple[TableMeta, tuple[AndCudaRelease, ...]]:
    """Read and_cuda.toml."""
    r = _Reader(path)
    meta = r.meta("and_cuda", _AND_CUDA_FILE)
    groups = []
    for key, a in r.rows("release", _AND_CUDA_ROW):
        r.nonempty(a["tf"], f"{key}.tf", "TensorFlow versions like '2.18.0'")
        r.nonempty(list(a["pins"]), f"{key}.pins", "distribution = specifier")
        for name, spec in a["pins"].items():
            pin = f"{key}.pins.{name}"
            if not _DIST_NAME_RE.fullmatch(name):
                raise r.fail(pin, f"{name!r} is not a distribution name", "'nvidia-cudnn-cu12'")
            r.check(spec, "string", pin)
            r.specifier(spec, pin)
        groups.append(
            AndCudaRelease(
                tf=tuple(r.version(t, f"{key}.tf[{i}]", "2.18.0") for i, t in enumerate(a["tf"])),
                suffix=r.choice(a["suffix"], f"{key}.suffix", WHEEL_SUFFIXES),
                pins=tuple(a["pins"].items()),
                notes=_notes(a),
            )
        )
    versions = [
        (f"release[{i}].tf[{j}]", v) for i, g in enumerate(groups) for j, v in enumerate(g.tf)
    ]
    r.unique(versions, "TensorFlow version")
    return meta, tuple(groups)


def normalise_gpu_name(name: str) -> str:
    """The form GPU names are compared in: case-folded, spaces collapsed, no "NVIDIA " prefix.

    Older drivers print "GeForce RTX 2080 Ti" where newer ones print "NVIDIA GeForce RTX 2080 Ti".
    """
    folded = " ".join(name.split()).casefold()
    return folded[len("nvidia ") :] if folded.startswith("nvidia ") else folded
