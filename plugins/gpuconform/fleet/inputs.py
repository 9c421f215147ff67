"""Find and read the hosts' result.json files; what cannot be used becomes a warning, never a traceback.

A fleet's results arrive however the launcher collected them: one directory per node,
a flat folder of renamed files, a half-copied file from a node that died. Each input
is read and checked for the fields the roll-up needs; anything missing, truncated,
foreign (not a gpuconform result) or from a newer, incompatible schema is skipped
with a warning that names the file and what is wrong with it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gpuconform.errors import DataError
from gpuconform.reports import RESULT_SCHEMA
from gpuconform.reports import RESULT_SCHEMA_VERSION
from gpuconform.tomlio import read_json

#: The file name the suite writes; in a directory, these are the results collected.
RESULT_NAME = "result.json"


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


class Unusable(Exception):
    """One input cannot be merged; the message says which and why."""


def find_results(paths: list[Path]) -> tuple[list[Path], list[str]]:
    """Expand the arguments to result files: a file as given, a directory searched for result.json."""
    files: list[Path] = []
    warnings: list[str] = []
    for path in paths:
        if path.is_dir():
            found = sorted(_walk(path))
            if not found:
                warnings.append(f"{path}: no {RESULT_NAME} below this directory")
            files += found
        elif path.exists():
            files.append(path)
        else:
            warnings.append(f"{path}: no such file or directory")
    return files, warnings


def _walk(directory: Path) -> Iterator[Path]:
    # os.walk via Path.rglob is fast enough for 10,000 hosts and follows no symlink loops.
    yield from (p for p in directory.rglob(RESULT_NAME) if p.is_file())


def read_result(path: Path) -> tuple[HostResult, dict[str, Any]]:
    """Read one result file; raise Unusable saying what is wrong with it."""
    try:
        data = read_json(path)
    except DataError as exc:
        raise Unusable(_truncated_hint(str(exc))) from None
    if not isinstance(data, dict) or data.get("schema") != RESULT_SCHEMA:
        kind = type(data).__name__ if not isinstance(data, dict) else f"schema {data.get('schema')!r}"
        raise Unusable(f"{path}: not a gpuconform result ({kind}; expected schema {RESULT_SCHEMA!r})")
    version = data.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise Unusable(f"{path}: schema_version is {version!r}, expected an integer")
    if version > RESULT_SCHEMA_VERSION:
        raise Unusable(
            f"{path}: written with result schema {version}, newer than the {RESULT_SCHEMA_VERSION} "
            "this gpuconform reads; upgrade gpuconform on the machine that merges"
        )
    try:
        return _host_result(path, data), data
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise Unusable(f"{path}: not a complete gpuconform result: {_what(exc)}") from None


def _host_result(path: Path, data: dict[str, Any]) -> HostResult:
    host = _dict(data, "host")
    verdict = _dict(data, "verdict")
    status = verdict["status"]
    if status not in ("PASS", "FAIL", "NONE"):
        raise ValueError(f"verdict.status is {status!r}, expected PASS, FAIL or NONE")
    layers = tuple((_str(layer, "layer"), _str(layer, "status")) for layer in _list(data, "layers"))
    counts: dict[str, int] = {}
    for check in _list(data, "checks"):
        outcome = _str(check, "outcome")
        counts[outcome] = counts.get(outcome, 0) + 1
    if not layers:
        raise ValueError("layers is empty")
    gpus = ", ".join(str(g.get("name")) for g in host.get("gpus") or () if isinstance(g, dict))
    return HostResult(
        path=str(path),
        hostname=_str(host, "hostname"),
        profile=str(_dict(data, "profile").get("name", "?")),
        status=status,
        line=_str(verdict, "line"),
        layer=verdict.get("layer"),
        check_id=verdict.get("check_id"),
        reason=str(verdict.get("reason") or ""),
        fix=str(verdict.get("fix") or ""),
        finished_at=str(data.get("finished_at") or ""),
        layers=layers,
        counts=tuple(sorted(counts.items())),
        driver=host.get("driver"),
        gpus=gpus,
        tensorflow=host.get("tensorflow"),
        warnings=len(verdict.get("warnings") or ()),
    )


def _dict(data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data[key]
    if not isinstance(value, dict):
        raise TypeError(f"{key} is {type(value).__name__}, expected an object")
    return value


def _list(data: dict[str, Any], key: str) -> list[Any]:
    value = data[key]
    if not isinstance(value, list):
        raise TypeError(f"{key} is {type(value).__name__}, expected an array")
    return value


def _str(data: Any, key: str) -> str:
    if not isinstance(data, dict):
        raise TypeError(f"an entry is {type(data).__name__}, expected an object with {key!r}")
    value = data[key]
    if not isinstance(value, str):
        raise TypeError(f"{key} is {type(value).__name__}, expected a string")
    return value


def _what(exc: Exception) -> str:
    return f"missing key {exc.args[0]!r}" if isinstance(exc, KeyError) else str(exc)


def _truncated_hint(message: str) -> str:
    # A copy cut short by a dying node or a full disk is the usual cause of bad JSON here.
    if "is not valid JSON" in message and ("Expecting" in message or "Unterminated" in message):
        return message + " (truncated? the node may have died while writing it)"
    return message
