"""The rows of the compatibility matrices (`matrices/*.toml`) and the code that reads them.

Each row is checked against a schema (types, required and unknown keys) and then
converted: text becomes `packaging` versions and specifiers and compute capabilities, and
what a schema cannot express is checked too (duplicates, ranges, one GA row per CUDA
series). Every problem is a DataError naming the file, the dotted key path
(``release[3].cuda``) and what is accepted. The queries live in `gpuconform.expect.matrix`.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from typing import TypeVar

from packaging.specifiers import SpecifierSet
from packaging.version import Version

from gpuconform.facts.errors import DataError
from gpuconform.facts.errors import did_you_mean
from gpuconform.facts.errors import join_choices
from gpuconform.facts.tomlio import read_toml
from gpuconform.facts.versions import DriverVersion
from gpuconform.facts.versions import WrittenSpecifierSet
from gpuconform.facts.versions import format_cc
from gpuconform.facts.versions import parse_cc
from gpuconform.facts.versions import parse_driver_version

T = TypeVar("T")
CC = tuple[int, int]

#: The matrix files, by the table name used in `Matrices.as_of` and in messages.
#: The rule tables (gpuconform.expect.tables): sourced data the diagnosis rules read.
RULE_TABLE_FILES = {
    "architectures": "architectures.toml",
    "container_runtimes": "container_runtimes.toml",
    "forward_compat": "forward_compat.toml",
    "kernel_module_errors": "kernel_module_errors.toml",
    "library_search": "library_search.toml",
    "nvidia_tensorflow": "nvidia_tensorflow.toml",
    "tensorrt": "tensorrt.toml",
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
#: The tables of frameworks other than TensorFlow (gpuconform.expect.framework_tables), loaded apart.
FRAMEWORK_TABLE_FILES = {"torch": "torch.toml", "jax": "jax.toml"}

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


# --- schemas: key -> kind; a trailing "?" marks an optional key --------------------------------

Schema = dict[str, str]

_META: Schema = {"title": "string", "as_of": "date", "sources": "strings", "notes?": "strings"}

_KIND_NAMES: dict[type, str] = {
    bool: "boolean",
    int: "integer",
    float: "number",
    str: "string",
    dict: "table",
    list: "list",
    datetime.date: "date",
    datetime.datetime: "datetime",
    datetime.time: "time",
}

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


class Reader:
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
                raise self.fail(_join(key, name), "unknown key" + did_you_mean(name, kinds), join_choices(kinds))
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
        return [(f"{name}[{i}]", self.table(row, f"{name}[{i}]", schema)) for i, row in enumerate(rows)]

    def meta(self, name: str, schema: Schema) -> TableMeta:
        """Check the whole file against `schema`, then return its [meta] table."""
        self.data = self.table(self.data, "", schema)
        meta = self.table(self.data["meta"], "meta", _META)
        if not meta["sources"]:
            raise self.fail("meta.sources", "is empty", "a list of URLs or repo@commit strings")
        notes = tuple(meta.get("notes", ()))
        return TableMeta(name, self.source, meta["title"], meta["as_of"], tuple(meta["sources"]), notes)

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


def row_notes(row: dict[str, Any]) -> tuple[str, ...]:
    return tuple(row.get("notes", ()))
