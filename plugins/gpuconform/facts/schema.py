"""Generate the JSON Schema of the Facts tree from its dataclasses.

The committed `schemas/facts.schema.json` is this function's output; a test
guards that the two agree. Regenerate with ``python -m gpuconform.facts.schema``.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import types
import typing
from pathlib import Path
from typing import Any

from gpuconform.facts.model import FACTS_SCHEMA_VERSION
from gpuconform.facts.model import Facts

SCHEMA_PATH = Path(__file__).parents[1] / "schemas" / "facts.schema.json"


def facts_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) describing a Facts file."""
    definitions: dict[str, Any] = {}
    root = _ref(Facts, definitions)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://gpuconform.invalid/schemas/facts.schema.json",
        "title": f"gpuconform Facts (schema_version {FACTS_SCHEMA_VERSION})",
        "description": "What gpuconform's probes observed about a host. Write one by hand or "
        "edit reports/facts.json, then replay it with --host-facts FILE.",
        **root,
        "$defs": definitions,
    }


def _ref(cls: type, definitions: dict[str, Any]) -> dict[str, Any]:
    name = cls.__name__
    if name not in definitions:
        definitions[name] = {}  # placeholder against recursion
        hints = typing.get_type_hints(cls)
        properties = {}
        required = []
        for f in dataclasses.fields(cls):
            prop = _type(hints[f.name], definitions)
            doc = _field_doc(cls, f.name)
            if doc:
                prop = {**prop, "description": doc}
            properties[f.name] = prop
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                required.append(f.name)
        definitions[name] = {
            "type": "object",
            "description": (cls.__doc__ or "").strip().splitlines()[0],
            "properties": properties,
            "required": required,
            "additionalProperties": False,
        }
    return {"$ref": f"#/$defs/{name}"}


def _type(tp: Any, definitions: dict[str, Any]) -> dict[str, Any]:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return {"anyOf": [_type(a, definitions) for a in typing.get_args(tp)]}
    if tp is type(None):
        return {"type": "null"}
    if origin is tuple:
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return {"type": "array", "items": _type(args[0], definitions)}
        return {
            "type": "array",
            "prefixItems": [_type(a, definitions) for a in args],
            "minItems": len(args),
            "maxItems": len(args),
        }
    if dataclasses.is_dataclass(tp):
        return _ref(typing.cast(type, tp), definitions)
    simple = {str: "string", int: "integer", float: "number", bool: "boolean"}
    if tp in simple:
        return {"type": simple[tp]}
    if tp is Any:  # an experiment's answer: whatever JSON the child printed
        return {}
    raise TypeError(f"no JSON Schema for {tp!r}")


def _field_doc(cls: type, name: str) -> str:
    # The trailing comment of a field in facts.py documents it; reuse it in the schema.
    import inspect

    try:
        source = inspect.getsource(cls)
    except (OSError, TypeError):
        return ""
    for line in source.splitlines():
        stripped = line.strip()
        if stripped.startswith(f"{name}:") and "#" in stripped:
            return stripped.split("#", 1)[1].strip()
    return ""


def main() -> int:
    """Write the schema file (or check it with --check)."""
    text = json.dumps(facts_schema(), indent=2) + "\n"
    if "--check" in sys.argv[1:]:
        return 0 if SCHEMA_PATH.read_text() == text else 1
    SCHEMA_PATH.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
