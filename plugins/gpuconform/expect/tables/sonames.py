"""The sonames TensorFlow dlopens for a CUDA / cuDNN pair, read from `matrices/sonames.toml`.

The table is data (see that file for its sources); this module only validates it
and answers "which files would TF open for CUDA 12.5.1 and cuDNN 9?", on Linux (sonames)
or native Windows (the DLL names of each row's [cuda.windows]).
"""

from __future__ import annotations

import datetime
import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from packaging.specifiers import InvalidSpecifier
from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion
from packaging.version import Version

from gpuconform.facts.errors import DataError
from gpuconform.facts.errors import did_you_mean
from gpuconform.facts.errors import join_choices
from gpuconform.facts.tomlio import read_toml

#: Every library a [[cuda]] row may name, in the order the Facts list them.
TOOLKIT_LIBRARIES = (
    "cudart",
    "cublas",
    "cublasLt",
    "cufft",
    "curand",
    "cusolver",
    "cusparse",
    "nccl",
)

#: Every library the libraries layer names, in its order: the driver's (libcuda is "cuda"), the toolkit's, cuDNN.
LIBRARY_NAMES = ("cuda", "cudart", "cublas", "cublasLt", "cufft", "curand", "cusolver", "cusparse", "cudnn", "nccl")

_TOP_KEYS = ("meta", "defaults", "driver", "cudnn", "toolkit", "cuda")
_SUFFIX = re.compile(r"^[0-9]+(\.[0-9]+)?$")
#: platform.system() of a host whose TF loads DLLs by their Windows names.
WINDOWS = "Windows"


@dataclass(frozen=True)
class Wanted:
    """One library TF would dlopen, under the one soname it would ask for."""

    name: str  # "cudart", "cudnn", "cuda" (the driver)
    soname: str  # "libcudart.so.12"
    required: bool  # GPU registration fails without it


@dataclass(frozen=True)
class SonameRow:
    """One [[cuda]] row: a CUDA specifier and each library's soname suffix."""

    key: str  # "cuda[0]", for messages
    cuda: SpecifierSet
    suffixes: tuple[tuple[str, str], ...]  # (library, suffix) in TOOLKIT_LIBRARIES order
    windows: tuple[tuple[str, str], ...] = ()  # (library, DLL name) of native Windows; no NCCL there

    def file_names(self, system: str = "Linux") -> tuple[tuple[str, str], ...]:
        """(library, file name) of each library of the row: lib<name>.so.<suffix>, or its DLL on Windows."""
        if system == WINDOWS:
            return self.windows
        return tuple((name, f"lib{name}.so.{suffix}") for name, suffix in self.suffixes)


@dataclass(frozen=True)
class SonameTable:
    """The validated contents of sonames.toml."""

    source: str
    rows: tuple[SonameRow, ...]
    required: frozenset[str]  # toolkit libraries GPU registration needs
    driver: Wanted
    cudnn_name: str
    cudnn_prefix: str  # "libcudnn.so."
    cudnn_majors: tuple[int, ...]
    cudnn_required: bool
    default_cuda: Version
    default_cudnn_major: int
    as_of: datetime.date
    driver_windows: str = "nvcuda.dll"
    cudnn_windows_prefix: str = "cudnn64_"  # cudnn64_8.dll

    def driver_for(self, system: str = "Linux") -> Wanted:
        """The driver library: libcuda.so.1, or nvcuda.dll on Windows."""
        if system == WINDOWS:
            return Wanted(self.driver.name, self.driver_windows, self.driver.required)
        return self.driver

    def cudnn_file(self, major: int, system: str = "Linux") -> str:
        """libcudnn.so.<major>, or cudnn64_<major>.dll on Windows."""
        if system == WINDOWS:
            return f"{self.cudnn_windows_prefix}{major}.dll"
        return f"{self.cudnn_prefix}{major}"

    def row_for(self, cuda: Version) -> SonameRow | None:
        """The row whose specifier holds `cuda`, None when no row does."""
        found = [row for row in self.rows if row.cuda.contains(cuda, prereleases=True)]
        if len(found) > 1:
            keys = " and ".join(row.key for row in found)
            raise DataError(self.source, keys, f"both match CUDA {cuda}; rows must not overlap")
        return found[0] if found else None

    def wanted(
        self, cuda: Version, cudnn_major: int, system: str = "Linux"
    ) -> tuple[Wanted, ...] | None:
        """Driver, required toolkit libraries, cuDNN, then optional ones; None for unknown CUDA.

        `system` is platform.system(): on "Windows" the names are the DLLs TF's Windows build loads.
        """
        row = self.row_for(cuda)
        if row is None:
            return None
        toolkit = [
            Wanted(name, filename, name in self.required)
            for name, filename in row.file_names(system)
        ]
        cudnn = Wanted(self.cudnn_name, self.cudnn_file(cudnn_major, system), self.cudnn_required)
        return (
            self.driver_for(system),
            *[w for w in toolkit if w.required],
            cudnn,
            *[w for w in toolkit if not w.required],
        )

    def is_other_soname(self, name: str, wanted: str, filename: str) -> bool:
        """Whether `filename` is `name` under a soname other than `wanted`.

        Other sonames are any the table names for the library (libcudart.so.11.0) plus any
        `lib<name>.so.<integer>`, which also catches a major newer than the table. Full
        versions (libcudnn.so.9.3.0) are the files behind soname links, not sonames.
        """
        if filename == wanted:
            return False
        if name == self.driver.name:
            return False  # libcuda.so.1 has had one soname since CUDA 3
        if wanted.endswith(".dll"):
            # Windows: <name>64_<digits>.dll (cudart64_102.dll beside the wanted cudart64_101.dll)
            prefix = self.cudnn_windows_prefix if name == self.cudnn_name else f"{name}64_"
            middle = filename[len(prefix) : -len(".dll")] if filename.endswith(".dll") else ""
            return filename.startswith(prefix) and middle.isdigit()
        prefix = self.cudnn_prefix if name == self.cudnn_name else f"lib{name}.so."
        if not filename.startswith(prefix):
            return False
        suffix = filename[len(prefix) :]
        return suffix.isdigit() or suffix in self._known_suffixes(name)

    def _known_suffixes(self, name: str) -> frozenset[str]:
        if name == self.cudnn_name:
            return frozenset(str(m) for m in self.cudnn_majors)
        return frozenset(s for row in self.rows for n, s in row.suffixes if n == name)


def default_path() -> Path:
    """Where the shipped sonames.toml lives (inside the installed package)."""
    return Path(str(resources.files("gpuconform.matrices").joinpath("sonames.toml")))


@functools.lru_cache(maxsize=4)
def load_sonames(path: Path | None = None) -> SonameTable:
    """Read and validate the soname table, raising DataError naming the file and key."""
    path = path or default_path()
    return parse_sonames(read_toml(path), str(path))


def parse_sonames(data: Mapping[str, Any], source: str) -> SonameTable:
    """Validate the parsed TOML of a soname table."""
    _only_keys(data, _TOP_KEYS, source, "")
    meta = _table(data, "meta", source)
    _only_keys(meta, ("title", "as_of", "sources"), source, "meta")
    _string(meta, "title", source, "meta")
    as_of = meta.get("as_of")
    # type() rather than isinstance(): a TOML datetime is a date too, and every matrix writes a plain date.
    if type(as_of) is not datetime.date:
        found = f"{type(as_of).__name__} {as_of!r}" if as_of is not None else "nothing"
        accepted = "a date like 2026-03-11 (no quotes)"
        raise DataError(source, "meta.as_of", f"expected a TOML date, got {found}", accepted)
    sources = meta.get("sources")
    if (
        not isinstance(sources, list)
        or not sources
        or not all(isinstance(s, str) and s for s in sources)
    ):
        raise DataError(source, "meta.sources", "must be a non-empty list of strings")

    toolkit = _table(data, "toolkit", source)
    _only_keys(toolkit, ("required", "optional"), source, "toolkit")
    required = _names(toolkit, "required", source)
    optional = _names(toolkit, "optional", source)
    if required & optional:
        raise DataError(
            source, "toolkit", f"{join_choices(required & optional)} both required and optional"
        )
    unlisted = set(TOOLKIT_LIBRARIES) - required - optional
    if unlisted:
        raise DataError(
            source, "toolkit", f"does not say whether {join_choices(unlisted)} are required"
        )

    driver_t = _table(data, "driver", source)
    _only_keys(driver_t, ("name", "soname", "windows", "required"), source, "driver")
    driver = Wanted(
        _string(driver_t, "name", source, "driver"),
        _string(driver_t, "soname", source, "driver"),
        _bool(driver_t, "required", source, "driver"),
    )

    cudnn = _table(data, "cudnn", source)
    _only_keys(cudnn, ("name", "soname_prefix", "windows_prefix", "majors", "required"), source, "cudnn")
    majors = cudnn.get("majors")
    if not isinstance(majors, list) or not majors or not all(_positive_int(m) for m in majors):
        raise DataError(source, "cudnn.majors", "must be a non-empty list of positive integers")

    rows = tuple(_row(raw, i, source) for i, raw in enumerate(_rows(data, source)))

    defaults = _table(data, "defaults", source)
    _only_keys(defaults, ("cuda", "cudnn_major"), source, "defaults")
    default_cuda = _string(defaults, "cuda", source, "defaults")
    try:
        cuda_version = Version(default_cuda)
    except InvalidVersion:
        raise DataError(source, "defaults.cuda", f"{default_cuda!r} is not a version") from None
    default_major = defaults.get("cudnn_major")
    if not isinstance(default_major, int) or default_major not in majors:
        raise DataError(
            source,
            "defaults.cudnn_major",
            f"{default_major!r} is not one of cudnn.majors",
            str(majors),
        )

    table = SonameTable(
        source=source,
        rows=rows,
        required=frozenset(required),
        driver=driver,
        cudnn_name=_string(cudnn, "name", source, "cudnn"),
        cudnn_prefix=_string(cudnn, "soname_prefix", source, "cudnn"),
        cudnn_majors=tuple(majors),
        cudnn_required=_bool(cudnn, "required", source, "cudnn"),
        default_cuda=cuda_version,
        default_cudnn_major=default_major,
        as_of=as_of,
        driver_windows=_dll(driver_t, "windows", source, "driver"),
        cudnn_windows_prefix=_string(cudnn, "windows_prefix", source, "cudnn"),
    )
    # Rows are ranges; two overlap exactly when one's bound lies in both, so check every bound.
    for row in rows:
        for spec in row.cuda:
            try:
                table.row_for(Version(spec.version))
            except InvalidVersion:
                continue  # a wildcard like "==11.*" has no single bound to check
    if table.row_for(cuda_version) is None:
        raise DataError(source, "defaults.cuda", f"{default_cuda!r} matches no [[cuda]] row")
    return table


# ---- validation helpers -------------------------------------------------------------


def _rows(data: Mapping[str, Any], source: str) -> list[Mapping[str, Any]]:
    rows = data.get("cuda")
    if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) for r in rows):
        raise DataError(source, "cuda", "must be a non-empty array of tables ([[cuda]])")
    return rows


def _row(raw: Mapping[str, Any], index: int, source: str) -> SonameRow:
    key = f"cuda[{index}]"
    _only_keys(raw, ("cuda", "windows", *TOOLKIT_LIBRARIES), source, key)
    spec_text = _string(raw, "cuda", source, key)
    try:
        spec = SpecifierSet(spec_text)
    except InvalidSpecifier:
        raise DataError(
            source, f"{key}.cuda", f"{spec_text!r} is not a version specifier", '">=12,<13"'
        ) from None
    if not str(spec):
        raise DataError(source, f"{key}.cuda", "is empty; it would match every CUDA version")
    suffixes = []
    for name in TOOLKIT_LIBRARIES:
        if name not in raw:
            continue
        suffix = raw[name]
        if not isinstance(suffix, str) or not _SUFFIX.match(suffix):
            raise DataError(
                source,
                f"{key}.{name}",
                f"{suffix!r} is not a soname suffix",
                'a string like "12" or "11.0"',
            )
        suffixes.append((name, suffix))
    return SonameRow(key, spec, tuple(suffixes), _windows(raw, dict(suffixes), source, key))


def _windows(
    raw: Mapping[str, Any], suffixes: Mapping[str, str], source: str, key: str
) -> tuple[tuple[str, str], ...]:
    """A row's [cuda.windows]: one DLL per library of the row but NCCL, each as TF's Windows loader names it
    (name + "64_" + the Linux suffix without its dots + ".dll")."""
    table = raw.get("windows")
    if table is None:
        return ()
    if not isinstance(table, dict):
        raise DataError(source, f"{key}.windows", "must be a table of library = DLL name")
    names = tuple(n for n in TOOLKIT_LIBRARIES if n in suffixes and n != "nccl")
    _only_keys(table, names, source, f"{key}.windows")
    dlls = []
    for name in names:
        if name not in table:
            raise DataError(source, f"{key}.windows.{name}", "missing: every library of the row but nccl has a DLL")
        expected = f"{name}64_{suffixes[name].replace('.', '')}.dll"
        if table[name] != expected:
            raise DataError(
                source,
                f"{key}.windows.{name}",
                f"{table[name]!r} is not the DLL TF's Windows loader asks for: {expected!r}",
                "name + '64_' + the soname suffix without dots + '.dll'",
            )
        dlls.append((name, expected))
    return tuple(dlls)


def _dll(table: Mapping[str, Any], key: str, source: str, where: str) -> str:
    name = _string(table, key, source, where)
    if not name.endswith(".dll"):
        raise DataError(source, f"{where}.{key}", f"{name!r} is not a DLL name", "e.g. 'nvcuda.dll'")
    return name


def _only_keys(table: Mapping[str, Any], allowed: tuple[str, ...], source: str, where: str) -> None:
    for key in table:
        if key not in allowed:
            path = f"{where}.{key}" if where else key
            raise DataError(
                source, path, "unknown key" + did_you_mean(key, allowed), join_choices(allowed)
            )


def _table(data: Mapping[str, Any], key: str, source: str) -> Mapping[str, Any]:
    value = data.get(key)
    if not isinstance(value, dict):
        raise DataError(source, key, "missing" if value is None else "must be a table")
    return value


def _string(table: Mapping[str, Any], key: str, source: str, where: str) -> str:
    value = table.get(key)
    if not isinstance(value, str) or not value:
        raise DataError(source, f"{where}.{key}", f"must be a non-empty string, got {value!r}")
    return value


def _bool(table: Mapping[str, Any], key: str, source: str, where: str) -> bool:
    value = table.get(key)
    if not isinstance(value, bool):
        raise DataError(source, f"{where}.{key}", f"must be true or false, got {value!r}")
    return value


def _names(table: Mapping[str, Any], key: str, source: str) -> set[str]:
    value = table.get(key)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise DataError(source, f"toolkit.{key}", "must be a list of library names")
    for name in value:
        if name not in TOOLKIT_LIBRARIES:
            raise DataError(
                source,
                f"toolkit.{key}",
                f"unknown library {name!r}" + did_you_mean(name, TOOLKIT_LIBRARIES),
                join_choices(TOOLKIT_LIBRARIES),
            )
    return set(value)


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0
