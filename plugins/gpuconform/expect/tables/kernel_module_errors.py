"""matrices/kernel_module_errors.toml (see its [meta] for sources): why the nvidia module did not load.

Each row is a message the kernel log, modprobe or NVML prints, as a regular expression, with the cause
it names and the fix. The driver layer asks which rows the lines it has match (the kernel log, what
loading the module said), first cause first; `info` rows (a taint notice on a module that loaded) never
explain a failure.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from gpuconform.expect.tables.reader import TableMeta
from gpuconform.expect.tables.rows import read_rows
from gpuconform.facts.errors import DataError

SEVERITIES = ("error", "info")
_ROW = {
    "cause": "string",
    "where": "string",
    "match": "string",
    "fix": "string",
    "source": "string",
    "example?": "string",
    "meaning?": "string",
    "severity?": "string",
    "notes?": "strings",
}
_CAUSE = re.compile(r"[a-z][a-z0-9_]*")


@dataclass(frozen=True)
class ModuleMessage:
    """One message that says why the module did not load (or cannot be used)."""

    cause: str  # "secure_boot_lockdown", "module_built_for_other_kernel", ...
    where: str  # "kernel log", "modprobe", "nvidia-smi", ...
    pattern: re.Pattern[str]
    meaning: str
    fix: str
    severity: str  # "error" or "info"
    source: str


@dataclass(frozen=True)
class ModuleMessageMatch:
    """A line and the row it matched."""

    message: ModuleMessage
    line: str


@dataclass(frozen=True)
class KernelModuleErrors:
    """The rows of kernel_module_errors.toml, in file order."""

    meta: TableMeta
    messages: tuple[ModuleMessage, ...]

    def explain(self, lines: Iterable[str]) -> tuple[ModuleMessageMatch, ...]:
        """Every error row some line matches, once per cause, in the order the lines came."""
        found: list[ModuleMessageMatch] = []
        for line in lines:
            for message in self.messages:
                if message.severity != "error" or any(m.message.cause == message.cause for m in found):
                    continue
                if message.pattern.search(line):
                    found.append(ModuleMessageMatch(message, line))
        return tuple(found)

    def by_cause(self, cause: str) -> ModuleMessage | None:
        """The first row of a cause."""
        return next((m for m in self.messages if m.cause == cause), None)


def load_kernel_module_errors(path: Path) -> KernelModuleErrors:
    """Read and check kernel_module_errors.toml: every `match` a regular expression, every severity known."""
    table = read_rows(path, "kernel_module_errors", {"message": _ROW})
    messages = []
    for i, raw in enumerate(table.rows["message"]):
        key = f"message[{i}]"
        if not _CAUSE.fullmatch(raw["cause"]):
            raise DataError(str(path), f"{key}.cause", f"{raw['cause']!r} is not a cause name", "snake_case")
        severity = raw.get("severity", "error")
        if severity not in SEVERITIES:
            raise DataError(str(path), f"{key}.severity", f"{severity!r} is not a severity", " or ".join(SEVERITIES))
        try:
            pattern = re.compile(raw["match"])
        except re.error as exc:
            raise DataError(str(path), f"{key}.match", f"not a regular expression: {exc}") from None
        meaning = raw.get("meaning") or raw.get("example") or raw["cause"].replace("_", " ")
        row = ModuleMessage(raw["cause"], raw["where"], pattern, meaning, raw["fix"], severity, raw["source"])
        messages.append(row)
    return KernelModuleErrors(table.meta, tuple(messages))
