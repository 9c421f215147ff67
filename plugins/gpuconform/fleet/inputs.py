"""Find and read the hosts' result.json files; one that cannot be used is skipped with its reason, never a traceback.

A fleet's results arrive however the launcher collected them: one directory per node,
a flat folder of renamed files, a half-copied file from a node that died, a FIFO or a
link someone left in the tree. Each input goes through the one bounded reader
(`gpuconform.facts.tomlio.read_json`) and is validated against `schemas/result.schema.json`
(`gpuconform.fleet.schema`), then checked for consistency (a PASS verdict over a failed
layer is not believed). Anything missing, truncated, foreign (not a gpuconform result),
from a newer schema, or invalid anywhere becomes a `Skipped` input that names the file
and what is wrong with it; the other inputs are merged as if it were not there.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gpuconform.facts.errors import DataError
from gpuconform.facts.tomlio import read_json
from gpuconform.fleet.schema import validator
from gpuconform.fleet.schema_nodes import Invalid
from gpuconform.report.files import RESULT_SCHEMA
from gpuconform.report.files import RESULT_SCHEMA_VERSION

#: The file name the suite writes; in a directory, these are the results collected.
RESULT_NAME = "result.json"
#: Layer statuses under which a verdict of PASS cannot be right.
FAILING_LAYER_STATUSES = ("fail", "error")


@dataclass(frozen=True)
class HostResult:
    """What the roll-up keeps of one host's result (the checks go straight to JUnit)."""

    path: str
    hostname: str
    profile: str
    status: str  # PASS, FAIL, NONE
    line: str
    layer: str | None
    check_id: str | None
    reason: str
    fix: str
    finished_at: str
    layers: tuple[tuple[str, str], ...]  # (layer, status) in layer order
    counts: tuple[tuple[str, int], ...]  # outcome class -> checks, over all layers
    driver: str | None
    gpus: str
    tensorflow: str | None
    warnings: int


@dataclass(frozen=True)
class Skipped:
    """An input that was not merged, and why (`reason` completes "<input>: ...")."""

    input: str
    reason: str

    def __str__(self) -> str:
        return f"{self.input}: {self.reason}"


class Unusable(Exception):
    """One input cannot be merged: `skipped` says which and why; `key` and `problem` say where a value is wrong."""

    def __init__(self, path: Path, reason: str, key: str = "", problem: str = "") -> None:
        super().__init__(f"{path}: {reason}")
        self.skipped = Skipped(str(path), reason)
        self.key = key  # the value's path in the document, as "checks[3].outcome"
        self.problem = problem or reason


def find_results(paths: list[Path]) -> tuple[list[Path], list[Skipped]]:
    """Expand the arguments to result files: a file as given, a directory searched for result.json.

    Nothing is opened here: whether a candidate is a regular file, and small enough, is the
    reader's to say, so a FIFO or a link to a device becomes a skipped input with its reason.
    A directory reached twice (through a link) is searched once.
    """
    files: list[Path] = []
    skipped: list[Skipped] = []
    for path in paths:
        if os.path.isdir(path):
            found, unlistable = _walk(path)
            skipped += unlistable
            if not found and not unlistable:
                skipped.append(Skipped(str(path), f"no {RESULT_NAME} below this directory"))
            files += sorted(found)
        elif os.path.lexists(path):
            files.append(path)
        else:
            skipped.append(Skipped(str(path), "no such file or directory"))
    return files, skipped


def _walk(directory: Path) -> tuple[list[Path], list[Skipped]]:
    # Links to directories are followed (a folder of links to each node's results is a way to
    # collect them), each directory once: a link back up the tree cannot make the walk endless.
    found: list[Path] = []
    unlistable: list[Skipped] = []
    seen: set[tuple[int, int]] = set()

    def refused(exc: OSError) -> None:
        unlistable.append(Skipped(str(exc.filename or directory), f"cannot be listed: {exc.strerror or exc}"))

    for top, subdirs, names in os.walk(directory, onerror=refused, followlinks=True):
        try:
            info = os.stat(top)
        except OSError as exc:
            refused(exc)
            subdirs.clear()
            continue
        if (info.st_dev, info.st_ino) in seen:
            subdirs.clear()
            continue
        seen.add((info.st_dev, info.st_ino))
        if RESULT_NAME in names:  # every kind of entry but a directory: the reader refuses what is not a file
            found.append(Path(top) / RESULT_NAME)
    return found, unlistable


def read_result(path: Path) -> tuple[HostResult, dict[str, Any]]:
    """Read and validate one result file; raise Unusable saying what is wrong with it."""
    try:
        data = read_json(path)
    except DataError as exc:
        raise Unusable(path, _truncated_hint(exc.problem)) from None
    except (ValueError, RecursionError, MemoryError, OSError) as exc:  # whatever the reader did not foresee
        raise Unusable(path, f"cannot be read: {type(exc).__name__}: {exc}"[:500]) from None
    if not isinstance(data, dict) or data.get("schema") != RESULT_SCHEMA:
        schema = data.get("schema") if isinstance(data, dict) else None
        kind = f"schema {schema!r}"[:100] if isinstance(data, dict) else _json_kind(data)
        raise Unusable(path, f"not a gpuconform result ({kind}; expected schema {RESULT_SCHEMA!r})")
    version = data.get("schema_version")
    if type(version) is not int:
        raise Unusable(path, f"schema_version is {_short(version)}, expected an integer")
    if version > RESULT_SCHEMA_VERSION:
        raise Unusable(
            path,
            f"written with result schema {_short(version)}, newer than the {RESULT_SCHEMA_VERSION} "
            "this gpuconform reads; upgrade gpuconform on the machine that merges",
        )
    problem = validator("result")(data) or _inconsistency(data)
    if problem is not None:
        key = problem.key if problem.where else ""
        raise Unusable(path, describe(problem), key, problem.problem)
    return _host_result(path, data), data


def describe(problem: Invalid) -> str:
    """What is wrong with a result, as a skipped input's reason."""
    what = "complete" if problem.problem.startswith("missing key") else "valid"
    where = f"{problem.key}: " if problem.where else ""
    return f"not a {what} gpuconform result: {where}{problem.problem}"


def _inconsistency(data: dict[str, Any]) -> Invalid | None:
    """What the schema cannot say: a verdict that contradicts the layers or its own line."""
    verdict = data["verdict"]
    status = verdict["status"]
    if not verdict["line"].startswith(f"host verdict: {status}"):
        return Invalid(f"says {verdict['line'][:80]!r}, but verdict.status is {status!r}", ("verdict", "line"))
    if not data["layers"]:
        return Invalid("is empty: the run reported no layer", ("layers",))
    if status == "PASS":
        for n, layer in enumerate(data["layers"]):
            if layer["status"] in FAILING_LAYER_STATUSES:
                return Invalid(f"is {layer['status']!r}, but the verdict is PASS", ("layers", n, "status"))
    return None


def _host_result(path: Path, data: dict[str, Any]) -> HostResult:
    # Every value below has the type result.schema.json gives it: validated before this is called.
    host = data["host"]
    verdict = data["verdict"]
    counts: dict[str, int] = {}
    for check in data["checks"]:
        counts[check["outcome"]] = counts.get(check["outcome"], 0) + 1
    return HostResult(
        path=str(path),
        hostname=host["hostname"],
        profile=data["profile"]["name"],
        status=verdict["status"],
        line=verdict["line"],
        layer=verdict["layer"],
        check_id=verdict["check_id"],
        reason=verdict["reason"],
        fix=verdict["fix"],
        finished_at=data["finished_at"],
        layers=tuple((layer["layer"], layer["status"]) for layer in data["layers"]),
        counts=tuple(sorted(counts.items())),
        driver=host["driver"],
        gpus=", ".join(gpu["name"] for gpu in host["gpus"]),
        tensorflow=host["tensorflow"],
        warnings=len(verdict["warnings"]),
    )


def _json_kind(data: Any) -> str:
    return {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(type(data), "a number")


def _short(value: Any) -> str:
    if type(value) is int and abs(value) >= 10**30:
        return "a number of more than 30 digits"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _truncated_hint(message: str) -> str:
    # A copy cut short by a dying node or a full disk is the usual cause of bad JSON here.
    if "is not valid JSON" in message and ("Expecting" in message or "Unterminated" in message):
        return message + " (truncated? the node may have died while writing it)"
    return message

