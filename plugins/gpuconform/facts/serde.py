"""Convert frozen dataclasses to JSON-able values and back, validating every field.

`load(cls, data, source)` refuses wrong types, missing required keys and unknown
keys, naming the dotted path of the bad key (``driver.nvml.gpus[0].name``), so
a hand-edited Facts file fails with a message a person can act on.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import reprlib
import types
import typing
from collections.abc import Callable
from typing import Any
from typing import TypeVar

from gpuconform.facts.errors import DataError
from gpuconform.facts.errors import did_you_mean
from gpuconform.facts.errors import join_choices

T = TypeVar("T")

#: Nesting deeper than this is refused (hostile input), far above any real tree.
MAX_DEPTH = 32
#: Every integer in a tree fits in 64 bits: counts, ids, sizes and versions all do.
INT_MIN, INT_MAX = -(2**63), 2**64 - 1


def dump(obj: Any) -> Any:
    """Return the JSON-able form of a dataclass tree (tuples become lists)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: dump(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (tuple, list)):
        return [dump(v) for v in obj]
    if isinstance(obj, dict):
        return {k: dump(v) for k, v in obj.items()}
    return obj


def map_strings(obj: T, fn: Callable[[str], str]) -> T:
    """A copy of a dataclass tree with `fn` applied to every string in it."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        changes = {f.name: map_strings(getattr(obj, f.name), fn) for f in dataclasses.fields(obj)}
        return typing.cast(T, type(obj)(**changes))
    if isinstance(obj, tuple):
        return typing.cast(T, tuple(map_strings(v, fn) for v in obj))
    if isinstance(obj, str):
        return typing.cast(T, fn(obj))
    return obj


def load(cls: type[T], data: Any, source: str) -> T:
    """Build `cls` from `data`, raising DataError naming `source` and the key path."""
    return typing.cast(T, _load(cls, data, source, "", 0))


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _describe(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if tp is type(None):
        return "null"
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in typing.get_args(tp))
    if origin is tuple:
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return f"list of {_describe(args[0])}"
        return f"list of {len(args)} items"
    if dataclasses.is_dataclass(tp):
        return "table"
    return {str: "string", int: "integer", float: "number", bool: "boolean"}.get(tp, str(tp))


def _load(tp: Any, value: Any, source: str, path: str, depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise DataError(source, path, f"nested deeper than {MAX_DEPTH} levels")
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        arms = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None and len(arms) < len(typing.get_args(tp)):
            return None
        if len(arms) == 1:  # X | None with a value: X's own message is the precise one
            return _load(arms[0], value, source, path, depth)
        for arg in arms:
            try:
                return _load(arg, value, source, path, depth)
            except DataError:
                continue
        raise DataError(source, path, f"expected {_describe(tp)}, got {_kind(value)}")
    if tp is type(None):
        if value is None:
            return None
        raise DataError(source, path, f"expected null, got {_kind(value)}")
    if origin is tuple:
        if not isinstance(value, list):
            raise DataError(source, path, f"expected {_describe(tp)}, got {_kind(value)}")
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_load(args[0], v, source, f"{path}[{i}]", depth + 1) for i, v in enumerate(value))
        if len(value) != len(args):
            raise DataError(source, path, f"expected {len(args)} items, got {len(value)}")
        return tuple(
            _load(a, v, source, f"{path}[{i}]", depth + 1) for i, (a, v) in enumerate(zip(args, value, strict=True))
        )
    if origin is dict:
        keys, values = typing.get_args(tp)
        if not isinstance(value, dict):
            raise DataError(source, path, f"expected a table, got {_kind(value)}")
        loaded = {}
        for k, v in value.items():
            at = _join(path, str(k))
            loaded[_load(keys, k, source, at, depth + 1)] = _load(values, v, source, at, depth + 1)
        return loaded
    if dataclasses.is_dataclass(tp):
        return _load_dataclass(typing.cast(type, tp), value, source, path, depth)
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            if not INT_MIN <= value <= INT_MAX:
                raise DataError(source, path, "integer out of range", f"{INT_MIN} to {INT_MAX}")
            return value
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if isinstance(value, int) and not INT_MIN <= value <= INT_MAX:
                raise DataError(source, path, "integer out of range", f"{INT_MIN} to {INT_MAX}")
            if not math.isfinite(value):
                raise DataError(source, path, f"{_short(value)} is not finite", "a finite number")
            return float(value)
    elif tp is str:
        if isinstance(value, str):
            return value
    elif tp is Any:
        return value
    raise DataError(source, path, f"expected {_describe(tp)}, got {_kind(value)} {_short(value)}")


def _load_dataclass(cls: type, value: Any, source: str, path: str, depth: int) -> Any:
    if not isinstance(value, dict):
        raise DataError(source, path, f"expected a table, got {_kind(value)}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in value:
        if key not in fields:
            raise DataError(
                source,
                _join(path, str(key)),
                "unknown key" + did_you_mean(str(key), fields),
                join_choices(fields),
            )
    hints = _hints(cls)
    kwargs = {}
    for name, f in fields.items():
        if name in value:
            kwargs[name] = _load(hints[name], value[name], source, _join(path, name), depth + 1)
            _check_value(f, kwargs[name], source, _join(path, name))
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise DataError(source, _join(path, name), "required key is missing")
    return cls(**kwargs)


def _check_value(f: dataclasses.Field[Any], value: Any, source: str, path: str) -> None:
    # A field declared with metadata {"parse": fn} holds text fn must accept (a version, a
    # driver version): the type alone lets "banana" through to a check that parses it.
    parse = f.metadata.get("parse")
    if parse is None or value is None:
        return
    try:
        parse(value)
    except ValueError as exc:
        raise DataError(source, path, str(exc)) from None


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {
        bool: "boolean",
        int: "integer",
        float: "number",
        str: "string",
        list: "list",
        dict: "table",
    }.get(type(value), type(value).__name__)


def _short(value: Any) -> str:
    # reprlib bounds depth and length: hostile input must not blow up the error message.
    short = reprlib.Repr()
    short.maxlevel, short.maxstring, short.maxother = 3, 57, 57
    return short.repr(value)
