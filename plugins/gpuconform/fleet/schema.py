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
from pathlib import Path
from typing import Any

from gpuconform.facts.tomlio import read_json
from gpuconform.fleet.schema_nodes import JSON_TYPES
from gpuconform.fleet.schema_nodes import NO_VALUE
from gpuconform.fleet.schema_nodes import Check
from gpuconform.fleet.schema_nodes import Invalid
from gpuconform.fleet.schema_nodes import Node
from gpuconform.fleet.schema_nodes import SchemaError
from gpuconform.fleet.schema_nodes import accept
from gpuconform.fleet.schema_nodes import all_of
from gpuconform.fleet.schema_nodes import enum
from gpuconform.fleet.schema_nodes import if_then_else
from gpuconform.fleet.schema_nodes import items
from gpuconform.fleet.schema_nodes import min_items
from gpuconform.fleet.schema_nodes import minimum
from gpuconform.fleet.schema_nodes import one_of
from gpuconform.fleet.schema_nodes import pattern
from gpuconform.fleet.schema_nodes import properties_hold
from gpuconform.fleet.schema_nodes import refuse
from gpuconform.fleet.schema_nodes import type_node

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

_Named = tuple[str, bool, frozenset[type], Check]  # a property: its name, whether required, its node's fast and check


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


class _Compiler:
    def __init__(self, root: dict[str, Any]) -> None:
        self.root = root
        self.refs: dict[str, Node] = {}

    def compile(self, schema: Any, where: str) -> Node:
        if schema is True:
            return Node(accept, JSON_TYPES)
        if schema is False:
            return Node(refuse, frozenset(), frozenset())
        if not isinstance(schema, dict):
            raise SchemaError(f"{where}: a schema must be an object or a boolean, not {schema!r}")
        unknown = set(schema) - KEYWORDS - ANNOTATIONS
        if unknown:
            raise SchemaError(f"{where}: keywords not supported by gpuconform.fleet.schema: {sorted(unknown)}")
        parts: list[Node] = []
        if "type" in schema:
            parts.append(type_node(schema["type"]))
        if "const" in schema:
            parts.append(enum([schema["const"]]))
        if "enum" in schema:
            parts.append(enum(list(schema["enum"])))
        if "minimum" in schema:
            parts.append(minimum(schema["minimum"]))
        if "pattern" in schema:
            parts.append(pattern(schema["pattern"]))
        if "minItems" in schema:
            parts.append(min_items(schema["minItems"]))
        if "required" in schema or "properties" in schema or "additionalProperties" in schema:
            parts.append(self._object(schema, where))
        if "items" in schema:
            parts.append(items(self.compile(schema["items"], f"{where}/items")))
        if "$ref" in schema:
            parts.append(self._ref(schema["$ref"]))
        if "oneOf" in schema:
            parts.append(one_of([self.compile(s, f"{where}/oneOf/{n}") for n, s in enumerate(schema["oneOf"])]))
        for n, sub in enumerate(schema.get("allOf", ())):
            parts.append(self.compile(sub, f"{where}/allOf/{n}"))
        if "if" in schema:
            condition = self.compile(schema["if"], f"{where}/if")
            then = self.compile(schema.get("then", True), f"{where}/then")
            otherwise = self.compile(schema.get("else", True), f"{where}/else")
            parts.append(if_then_else(condition, then, otherwise))
        return all_of(parts)

    def _object(self, schema: dict[str, Any], where: str) -> Node:
        required = tuple(schema.get("required", ()))
        properties = {k: self.compile(v, f"{where}/properties/{k}") for k, v in schema.get("properties", {}).items()}
        extra = schema.get("additionalProperties", True)
        others = None if extra is True else self.compile(extra, f"{where}/additionalProperties")
        must = frozenset(required)
        # Properties that only have a type are checked together, in C: the types of their values
        # (or of NO_VALUE, when absent and optional) against the accepted types, position by position.
        typed = tuple(k for k, n in properties.items() if n.only_types)
        typed_defaults = tuple(NO_VALUE for _ in typed)
        typed_accepted = tuple(properties[k].fast | ({type(NO_VALUE)} if k not in must else set()) for k in typed)
        rest = tuple((k, k in must, n.fast, n.check) for k, n in properties.items() if not n.only_types)
        every = tuple((k, k in must, n.fast, n.check) for k, n in properties.items())
        accepts = frozenset.__contains__

        def slowly(value: dict[str, Any], named: tuple[_Named, ...]) -> Invalid | None:
            for key, needed, fast, sub in named:
                item = value.get(key, NO_VALUE)
                if item is NO_VALUE:
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
                    if node.check is refuse:
                        return Invalid(f"unexpected key {key!r}")
                    return problem.at(key)
            return None

        simple = not required and others is None and all(n.holds is not None for n in properties.values())
        return Node(check, JSON_TYPES - {dict}, holds=properties_hold(properties) if simple else None)

    def _ref(self, ref: str) -> Node:
        if not ref.startswith("#/$defs/") or ref.count("/") != 2:
            raise SchemaError(f"$ref {ref!r}: only '#/$defs/<name>' is supported")
        if ref not in self.refs:
            target = self.root.get("$defs", {}).get(ref.rsplit("/", 1)[1])
            if target is None:
                raise SchemaError(f"$ref {ref!r}: no such definition")
            placeholder = Node(refuse, frozenset(), JSON_TYPES)  # seen by a recursive definition
            self.refs[ref] = placeholder
            compiled = self.compile(target, ref)
            placeholder.check = compiled.check
            self.refs[ref] = compiled
        return self.refs[ref]
