"""Validate JSON documents against the subset of JSON Schema (2020-12) that our schemas use.

jsonschema is only a development dependency, and the fleet merge and `gpuconform summary`
must check every result.json they read against `schemas/result.schema.json` on any host.
A schema is compiled once into nested closures, each returning None or the problem it
found (no exceptions on the way: a merge checks 10,000 results of 141 checks each).
A keyword outside `KEYWORDS` and `ANNOTATIONS` makes compiling fail, so a schema can never
ask for more than is checked here; tests/test_fleet_inputs.py compares the answers with
jsonschema's on valid and broken documents.

Values are what `json.loads` returns (dict, list, str, int, float, bool, None): types are
compared exactly, so a bool is never an integer.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gpuconform.tomlio import read_json

#: The keywords checked here: every assertion and applicator the schemas in schemas/ use.
KEYWORDS = frozenset(
    {
        "type",
        "const",
        "enum",
        "required",
        "properties",
        "additionalProperties",
        "items",
        "minItems",
        "minimum",
        "pattern",
        "$ref",
        "oneOf",
        "allOf",
        "if",
        "then",
        "else",
    }
)
#: Keywords that assert nothing (in 2020-12, `format` is an annotation unless a validator opts in).
ANNOTATIONS = frozenset({"$schema", "$id", "$defs", "title", "description", "format"})

SCHEMAS = Path(__file__).resolve().parents[1] / "schemas"

_JSON_TYPES: frozenset[type] = frozenset({dict, list, str, int, float, bool, type(None)})


_NO_VALUE: Any = object()


class Invalid:
    """What is wrong with a document: the problem and the path to the value (`checks[3].outcome`).

    The message is formatted only when read: an `if` schema fails on most values it sees.
    """

    __slots__ = ("_problem", "_value", "where")

    def __init__(self, problem: str, where: tuple[str | int, ...] = (), value: Any = _NO_VALUE) -> None:
        self._problem = problem  # with a value: what is wrong with it, after "is <the value shown briefly>, "
        self._value = value
        self.where = where

    def at(self, step: str | int) -> Invalid:
        return Invalid(self._problem, (step, *self.where), self._value)

    @property
    def problem(self) -> str:
        return self._problem if self._value is _NO_VALUE else f"is {_show(self._value)}, {self._problem}"

    @property
    def key(self) -> str:
        """The path as one string: `verdict.line`, `checks[3].outcome`, or `(the document)`."""
        text = ""
        for step in self.where:
            text += f"[{step}]" if isinstance(step, int) else (f".{step}" if text else step)
        return text or "(the document)"

    def __str__(self) -> str:
        return f"{self.key}: {self.problem}"

    def __repr__(self) -> str:
        return f"Invalid({str(self)!r})"


Check = Callable[[Any], "Invalid | None"]
_Named = tuple[str, bool, frozenset[type], Check]  # a property: its name, whether required, its node's fast and check


@dataclass
class Node:
    """One compiled schema: `check` finds a problem or returns None.

    `fast` holds the value types the schema accepts whatever the value (`{"type": "string"}`
    accepts every str), so the containers skip the call for them; `possible` the types it
    can accept at all (for oneOf, which needs to know that two branches cannot both match).
    """

    check: Check
    fast: frozenset[type] = frozenset()
    possible: frozenset[type] = _JSON_TYPES
    only_types: bool = False  # the schema is a `type` and nothing else: a value is valid iff its type is in `fast`
    holds: Callable[[Any], bool] | None = None  # the same answer as `check`, as a bool, for an `if` to ask cheaply


class SchemaError(Exception):
    """A schema that uses a keyword this validator does not check (a bug in gpuconform, not in the input)."""


@functools.cache
def validator(name: str) -> Check:
    """The compiled check of `schemas/<name>.schema.json`: it returns None or an Invalid."""
    schema = read_json(SCHEMAS / f"{name}.schema.json")
    return compile_schema(schema)


def compile_schema(schema: dict[str, Any]) -> Check:
    """Compile a whole schema document (its `$defs` are what `$ref` may point at)."""
    node = _Compiler(schema).compile(schema, "#")
    fast, check = node.fast, node.check
    return lambda value: None if type(value) in fast else check(value)


def keywords_used(schema: Any) -> set[str]:
    """Every keyword that occurs in a schema (property names and `$defs` names are not keywords)."""
    found: set[str] = set()
    if isinstance(schema, dict):
        for key, value in schema.items():
            found.add(key)
            if key in ("properties", "$defs", "patternProperties", "dependentSchemas"):
                for sub in value.values():
                    found |= keywords_used(sub)
            elif key in ("oneOf", "allOf", "anyOf", "prefixItems"):
                for sub in value:
                    found |= keywords_used(sub)
            elif isinstance(value, dict) and key not in ("const", "enum", "default", "examples"):
                found |= keywords_used(value)
    return found


def _accept(value: Any) -> Invalid | None:
    return None


def _refuse(value: Any) -> Invalid | None:
    return Invalid("no value is allowed here")


class _Compiler:
    def __init__(self, root: dict[str, Any]) -> None:
        self.root = root
        self.refs: dict[str, Node] = {}

    def compile(self, schema: Any, where: str) -> Node:
        if schema is True:
            return Node(_accept, _JSON_TYPES)
        if schema is False:
            return Node(_refuse, frozenset(), frozenset())
        if not isinstance(schema, dict):
            raise SchemaError(f"{where}: a schema must be an object or a boolean, not {schema!r}")
        unknown = set(schema) - KEYWORDS - ANNOTATIONS
        if unknown:
            raise SchemaError(f"{where}: keywords not supported by gpuconform.fleet.schema: {sorted(unknown)}")
        parts: list[Node] = []
        if "type" in schema:
            parts.append(_type(schema["type"]))
        if "const" in schema:
            parts.append(_enum([schema["const"]]))
        if "enum" in schema:
            parts.append(_enum(list(schema["enum"])))
        if "minimum" in schema:
            parts.append(_minimum(schema["minimum"]))
        if "pattern" in schema:
            parts.append(_pattern(schema["pattern"]))
        if "minItems" in schema:
            parts.append(_min_items(schema["minItems"]))
        if "required" in schema or "properties" in schema or "additionalProperties" in schema:
            parts.append(self._object(schema, where))
        if "items" in schema:
            parts.append(_items(self.compile(schema["items"], f"{where}/items")))
        if "$ref" in schema:
            parts.append(self._ref(schema["$ref"]))
        if "oneOf" in schema:
            parts.append(_one_of([self.compile(s, f"{where}/oneOf/{n}") for n, s in enumerate(schema["oneOf"])]))
        for n, sub in enumerate(schema.get("allOf", ())):
            parts.append(self.compile(sub, f"{where}/allOf/{n}"))
        if "if" in schema:
            condition = self.compile(schema["if"], f"{where}/if")
            then = self.compile(schema.get("then", True), f"{where}/then")
            otherwise = self.compile(schema.get("else", True), f"{where}/else")
            parts.append(_if(condition, then, otherwise))
        return _all_of(parts)

    def _object(self, schema: dict[str, Any], where: str) -> Node:
        required = tuple(schema.get("required", ()))
        properties = {k: self.compile(v, f"{where}/properties/{k}") for k, v in schema.get("properties", {}).items()}
        extra = schema.get("additionalProperties", True)
        others = None if extra is True else self.compile(extra, f"{where}/additionalProperties")
        must = frozenset(required)
        # Properties that only have a type are checked together, in C: the types of their values
        # (or of _NO_VALUE, when absent and optional) against the accepted types, position by position.
        typed = tuple(k for k, n in properties.items() if n.only_types)
        typed_defaults = tuple(_NO_VALUE for _ in typed)
        typed_accepted = tuple(properties[k].fast | ({type(_NO_VALUE)} if k not in must else set()) for k in typed)
        rest = tuple((k, k in must, n.fast, n.check) for k, n in properties.items() if not n.only_types)
        every = tuple((k, k in must, n.fast, n.check) for k, n in properties.items())
        accepts = frozenset.__contains__

        def slowly(value: dict[str, Any], named: tuple[_Named, ...]) -> Invalid | None:
            for key, needed, fast, sub in named:
                item = value.get(key, _NO_VALUE)
                if item is _NO_VALUE:
                    if needed:
                        return Invalid(f"missing key {key!r}")
                elif type(item) not in fast:
                    problem = sub(item)
                    if problem is not None:
                        return problem.at(key)
            return None

        def check(value: Any) -> Invalid | None:
            if type(value) is not dict:
                return None
            if not must <= value.keys():
                return Invalid(f"missing key {next(k for k in required if k not in value)!r}")
            if others is None:  # only the named properties have a schema
                if typed and not all(map(accepts, typed_accepted, map(type, map(value.get, typed, typed_defaults)))):
                    return slowly(value, every)  # which one, and why (1.0 is an integer, for one)
                return slowly(value, rest)
            for key, item in value.items():
                node = properties.get(key, others)
                if type(item) in node.fast:
                    continue
                problem = node.check(item)
                if problem is not None:
                    if node.check is _refuse:
                        return Invalid(f"unexpected key {key!r}")
                    return problem.at(key)
            return None

        simple = not required and others is None and all(n.holds is not None for n in properties.values())
        return Node(check, _JSON_TYPES - {dict}, holds=_properties_hold(properties) if simple else None)

    def _ref(self, ref: str) -> Node:
        if not ref.startswith("#/$defs/") or ref.count("/") != 2:
            raise SchemaError(f"$ref {ref!r}: only '#/$defs/<name>' is supported")
        if ref not in self.refs:
            target = self.root.get("$defs", {}).get(ref.rsplit("/", 1)[1])
            if target is None:
                raise SchemaError(f"$ref {ref!r}: no such definition")
            placeholder = Node(_refuse, frozenset(), _JSON_TYPES)  # seen by a recursive definition
            self.refs[ref] = placeholder
            compiled = self.compile(target, ref)
            placeholder.check = compiled.check
            self.refs[ref] = compiled
        return self.refs[ref]


def _properties_hold(properties: dict[str, Node]) -> Callable[[Any], bool]:
    tests = tuple((key, node.holds) for key, node in properties.items() if node.holds is not None)

    def holds(value: Any) -> bool:
        return type(value) is not dict or all(key not in value or test(value[key]) for key, test in tests)

    return holds


def _all_of(parts: list[Node]) -> Node:
    if not parts:
        return Node(_accept, _JSON_TYPES)
    if len(parts) == 1:
        return parts[0]
    fast = frozenset.intersection(*(p.fast for p in parts))
    possible = frozenset.intersection(*(p.possible for p in parts))
    holds = None
    if all(p.holds is not None for p in parts):
        tests = tuple(p.holds for p in parts if p.holds is not None)
        holds = lambda value: all(test(value) for test in tests)  # noqa: E731 - a closure over tests
    # The usual shape is a `type` and one more keyword ({"type": "string", "pattern": ...}): the
    # type is tested inline, and the other part called only for a value of the right type.
    if len(parts) == 2 and parts[0].only_types:
        typed, other = parts
        accepted, type_check, other_fast, other_check = typed.fast, typed.check, other.fast, other.check

        def typed_check(value: Any) -> Invalid | None:
            kind = type(value)
            if kind not in accepted:
                problem = type_check(value)  # None for 1.0 where an integer is wanted
                if problem is not None:
                    return problem
            return None if kind in other_fast else other_check(value)

        return Node(typed_check, fast, possible, holds=holds)
    checks = tuple((p.fast, p.check) for p in parts)

    def check(value: Any) -> Invalid | None:
        kind = type(value)
        for part_fast, part in checks:
            if kind not in part_fast:
                problem = part(value)
                if problem is not None:
                    return problem
        return None

    return Node(check, fast, possible, holds=holds)


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    return {type(None): "null", dict: "an object", list: "an array", str: "a string"}.get(type(value), "?")


def _show(value: Any) -> str:
    """A value as an error message quotes it: short, whatever its size."""
    if isinstance(value, (dict, list)):
        return _kind(value)
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**30:
        return "a number of more than 30 digits"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


_TYPES: dict[str, frozenset[type]] = {
    "null": frozenset({type(None)}),
    "boolean": frozenset({bool}),
    "object": frozenset({dict}),
    "array": frozenset({list}),
    "string": frozenset({str}),
    "number": frozenset({int, float}),
    "integer": frozenset({int}),  # and floats such as 1.0: JSON Schema counts them as integers
}


def _type(spec: str | list[str]) -> Node:
    names = [spec] if isinstance(spec, str) else list(spec)
    for name in names:
        if name not in _TYPES:
            raise SchemaError(f"type {name!r} is not a JSON Schema type")
    exact = frozenset().union(*(_TYPES[n] for n in names))
    integral_floats = "integer" in names and float not in exact
    wanted = " or ".join("null" if n == "null" else f"an {n}" if n[0] in "aeiou" else f"a {n}" for n in names)
    expected = f"expected {wanted}"

    def check(value: Any) -> Invalid | None:
        if type(value) in exact:
            return None
        if integral_floats and type(value) is float and math.isfinite(value) and value.is_integer():
            return None
        return Invalid(expected, value=value)

    holds = None if integral_floats else (lambda value: type(value) in exact)
    return Node(check, exact, exact | ({float} if integral_floats else set()), only_types=True, holds=holds)


def json_equal(a: Any, b: Any) -> bool:
    """Equality as JSON Schema defines it: true is not 1, 1.0 is 1, and containers compare item by item."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    return type(a) is type(b) and bool(a == b)


def _enum(choices: list[Any]) -> Node:
    accepted = ", ".join(str(c) for c in choices)
    wanted = f"expected {choices[0]!r}" if len(choices) == 1 else f"expected one of {accepted}"
    strings = frozenset(c for c in choices if isinstance(c, str))
    only_strings = len(strings) == len(choices)
    possible = frozenset(float if type(c) is int else type(c) for c in choices) | {type(c) for c in choices}

    def check(value: Any) -> Invalid | None:
        if only_strings:
            if type(value) is str and value in strings:
                return None
        elif any(json_equal(value, c) for c in choices):
            return None
        return Invalid(wanted, value=value)

    holds = (lambda value: type(value) is str and value in strings) if only_strings else None
    return Node(check, frozenset(), possible, holds=holds)


def _minimum(bound: float) -> Node:
    expected = f"expected at least {bound}"

    def check(value: Any) -> Invalid | None:
        if type(value) in (int, float) and not value >= bound:
            return Invalid(expected, value=value)
        return None

    return Node(check, _JSON_TYPES - {int, float})


def _pattern(pattern: str) -> Node:
    search = re.compile(pattern).search
    expected = f"which does not match {pattern!r}"

    def check(value: Any) -> Invalid | None:
        if type(value) is str and not search(value):
            return Invalid(expected, value=value)
        return None

    return Node(check, _JSON_TYPES - {str})


def _min_items(count: int) -> Node:
    def check(value: Any) -> Invalid | None:
        if type(value) is list and len(value) < count:
            return Invalid(f"has {len(value)} item(s), expected at least {count}")
        return None

    return Node(check, _JSON_TYPES - {list})


def _items(sub: Node) -> Node:
    fast, item_check = sub.fast, sub.check

    def check(value: Any) -> Invalid | None:
        if type(value) is not list:
            return None
        for n, item in enumerate(value):
            if type(item) not in fast:
                problem = item_check(item)
                if problem is not None:
                    return problem.at(n)
        return None

    return Node(check, _JSON_TYPES - {list})


def _one_of(branches: list[Node]) -> Node:
    # A branch can be skipped for a value whose type it cannot accept: it would fail anyway.
    tried = tuple((b.possible, b.fast, b.check) for b in branches)
    fast = frozenset().union(
        *(b.fast - frozenset().union(*(o.possible for o in branches if o is not b)) for b in branches)
    )

    def check(value: Any) -> Invalid | None:
        kind = type(value)
        matched = 0
        closest: Invalid | None = None
        for possible, branch_fast, branch in tried:
            if kind not in possible:
                continue
            problem = None if kind in branch_fast else branch(value)
            if problem is None:
                matched += 1
            elif closest is None or len(problem.where) > len(closest.where):
                closest = problem  # the miss that got furthest into the value
        if matched == 1:
            return None
        if matched > 1:
            return Invalid("which matches more than one of the allowed forms", value=value)
        return closest or Invalid("which matches none of the allowed forms", value=value)

    return Node(check, fast, frozenset().union(*(b.possible for b in branches)))


def _if(condition: Node, then: Node, otherwise: Node) -> Node:
    test = condition.holds or (lambda value: type(value) in condition.fast or condition.check(value) is None)

    def check(value: Any) -> Invalid | None:
        branch = then if test(value) else otherwise
        return None if type(value) in branch.fast else branch.check(value)

    return Node(check)
