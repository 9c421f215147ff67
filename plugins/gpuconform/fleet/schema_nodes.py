"""The compiled nodes of a JSON Schema: one closure per keyword, each returning None or an Invalid.

`gpuconform.fleet.schema` compiles a schema document into these; they are apart from the
compiler so that each keyword's check is read in one place. Values are what `json.loads`
returns, and types are compared exactly (a bool is never an integer).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

JSON_TYPES: frozenset[type] = frozenset({dict, list, str, int, float, bool, type(None)})


NO_VALUE: Any = object()


class SchemaError(Exception):
    """A schema that uses a keyword this validator does not check (a bug in gpuconform, not in the input)."""


class Invalid:
    """What is wrong with a document: the problem and the path to the value (`checks[3].outcome`).

    The message is formatted only when read: an `if` schema fails on most values it sees.
    """

    __slots__ = ("_problem", "_value", "where")

    def __init__(self, problem: str, where: tuple[str | int, ...] = (), value: Any = NO_VALUE) -> None:
        self._problem = problem  # with a value: what is wrong with it, after "is <the value shown briefly>, "
        self._value = value
        self.where = where

    def at(self, step: str | int) -> Invalid:
        return Invalid(self._problem, (step, *self.where), self._value)

    @property
    def problem(self) -> str:
        return self._problem if self._value is NO_VALUE else f"is {_show(self._value)}, {self._problem}"

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


@dataclass
class Node:
    """One compiled schema: `check` finds a problem or returns None.

    `fast` holds the value types the schema accepts whatever the value (`{"type": "string"}`
    accepts every str), so the containers skip the call for them; `possible` the types it
    can accept at all (for oneOf, which needs to know that two branches cannot both match).
    """

    check: Check
    fast: frozenset[type] = frozenset()
    possible: frozenset[type] = JSON_TYPES
    only_types: bool = False  # the schema is a `type` and nothing else: a value is valid iff its type is in `fast`
    holds: Callable[[Any], bool] | None = None  # the same answer as `check`, as a bool, for an `if` to ask cheaply


def accept(value: Any) -> Invalid | None:
    return None


def refuse(value: Any) -> Invalid | None:
    return Invalid("no value is allowed here")


def properties_hold(properties: dict[str, Node]) -> Callable[[Any], bool]:
    tests = tuple((key, node.holds) for key, node in properties.items() if node.holds is not None)

    def holds(value: Any) -> bool:
        return type(value) is not dict or all(key not in value or test(value[key]) for key, test in tests)

    return holds


def all_of(parts: list[Node]) -> Node:
    if not parts:
        return Node(accept, JSON_TYPES)
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


def type_node(spec: str | list[str]) -> Node:
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


def enum(choices: list[Any]) -> Node:
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


def minimum(bound: float) -> Node:
    expected = f"expected at least {bound}"

    def check(value: Any) -> Invalid | None:
        if type(value) in (int, float) and not value >= bound:
            return Invalid(expected, value=value)
        return None

    return Node(check, JSON_TYPES - {int, float})


def pattern(pattern: str) -> Node:
    search = re.compile(pattern).search
    expected = f"which does not match {pattern!r}"

    def check(value: Any) -> Invalid | None:
        if type(value) is str and not search(value):
            return Invalid(expected, value=value)
        return None

    return Node(check, JSON_TYPES - {str})


def min_items(count: int) -> Node:
    def check(value: Any) -> Invalid | None:
        if type(value) is list and len(value) < count:
            return Invalid(f"has {len(value)} item(s), expected at least {count}")
        return None

    return Node(check, JSON_TYPES - {list})


def items(sub: Node) -> Node:
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

    return Node(check, JSON_TYPES - {list})


def one_of(branches: list[Node]) -> Node:
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


def if_then_else(condition: Node, then: Node, otherwise: Node) -> Node:
    test = condition.holds or (lambda value: type(value) in condition.fast or condition.check(value) is None)

    def check(value: Any) -> Invalid | None:
        branch = then if test(value) else otherwise
        return None if type(value) in branch.fast else branch.check(value)

    return Node(check)
