"""matrices/xid.toml (see its [meta] for sources): NVIDIA's Xid events, and how severe each is for the gate.

The driver layer asks one question of it: how severe is this Xid event the kernel log holds? A row's
`gate_severity` answers for most codes. Three codes need the line as well, as the table's notes say:
Xid 45 is judged as the Xid it names ("caused by previous Xid N"), a contained error (Xid 94) that
still says "RST: Yes" needs a reset, and Xid 154 is as severe as the recovery action it changed to.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from gpuconform.expect.tables.reader import TableMeta
from gpuconform.expect.tables.rows import read_rows
from gpuconform.facts.errors import DataError
from gpuconform.facts.model import XidEvent

SEVERITIES = ("fatal", "warning")
#: The prefix of a `gate_severity` that maps recovery actions to severities (Xid 154).
BY_ACTION = "judge by new action:"
_ROW = {
    "xid": "integer",
    "mnemonic": "string",
    "description": "string",
    "action": "string",
    "nvsentinel": "string",
    "gate_severity": "string",
    "source": "string",
    "fix?": "string",
    "log_example?": "string",
    "log_format?": "string",
    "notes?": "strings",
}
_CAUSED_BY = re.compile(r"caused by previous Xid (\d{1,4})")
_RESET_REQUIRED = re.compile(r"\bRST: Yes\b")
_NEW_ACTION = re.compile(r"recovery action changed from 0x[0-9a-fA-F]+ \(\w+\) to 0x[0-9a-fA-F]+ \((\w+)\)")


@dataclass(frozen=True)
class XidRow:
    """One Xid code: what NVIDIA calls it, what NVIDIA recommends, and how the gate judges it."""

    xid: int
    mnemonic: str
    description: str
    action: str  # NVIDIA's resolution bucket: RESTART_BM, RESET_GPU, RESTART_APP, IGNORE, WORKFLOW_*
    severity: str  # "fatal", "warning", or "by-action" (judged by the recovery action the line names)
    by_action: tuple[tuple[str, str], ...]  # recovery action -> severity, for "by-action"
    fix: str | None
    source: str


@dataclass(frozen=True)
class XidJudgement:
    """One Xid event as the gate sees it."""

    event: XidEvent
    row: XidRow | None  # the row of the code that decides (for a 45, the Xid it was caused by)
    severity: str  # "fatal", "warning", or "unknown" (a code the table lacks)
    why: str  # what decided it, in words

    @property
    def label(self) -> str:
        """'Xid 79 (GPU has fallen off the bus) on 0000:01:00'."""
        name = f" ({self.row.description})" if self.row is not None and self.row.xid == self.event.code else ""
        where = f" on {self.event.pci}" if self.event.pci else ""
        return f"Xid {self.event.code}{name}{where}"

    @property
    def fix(self) -> str:
        """NVIDIA's recommended action for it, as the table words it."""
        if self.row is None:
            return f"look Xid {self.event.code} up in NVIDIA's Xid catalog (docs.nvidia.com/deploy/xid-errors)"
        action = f"NVIDIA's recommended action: {self.row.action}"
        return f"{self.row.fix} ({action})" if self.row.fix else action


@dataclass(frozen=True)
class XidTable:
    """The rows of xid.toml, by code."""

    meta: TableMeta
    rows: tuple[XidRow, ...]

    def row(self, code: int) -> XidRow | None:
        """The row of an Xid code, if the table has it."""
        return next((r for r in self.rows if r.xid == code), None)

    def judge(self, event: XidEvent) -> XidJudgement:
        """How severe one logged Xid is."""
        row = self.row(event.code)
        cause = _CAUSED_BY.search(event.text)
        if row is not None and cause is not None and int(cause.group(1)) != event.code:
            earlier = self.row(int(cause.group(1)))
            if earlier is not None and earlier.severity in SEVERITIES:
                why = f"Xid {event.code} names its cause, Xid {earlier.xid} ({earlier.description})"
                return XidJudgement(event, earlier, earlier.severity, why)
        if row is None:
            return XidJudgement(event, None, "unknown", f"Xid {event.code} is not in matrices/xid.toml")
        if _RESET_REQUIRED.search(event.text):
            return XidJudgement(event, row, "fatal", "the line says 'RST: Yes': the GPU needs a reset")
        if row.severity == "by-action":
            action = _NEW_ACTION.search(event.text)
            named = action.group(1) if action else None
            severity = dict(row.by_action).get(named or "", "warning")
            why = f"the recovery action changed to {named}" if named else "the line names no recovery action"
            return XidJudgement(event, row, severity, why)
        return XidJudgement(event, row, row.severity, f"matrices/xid.toml classes Xid {row.xid} as {row.severity}")


def load_xid(path: Path) -> XidTable:
    """Read and check xid.toml: every code once, every severity one the gate knows."""
    table = read_rows(path, "xid", {"xid": _ROW})
    rows: list[XidRow] = []
    for i, raw in enumerate(table.rows["xid"]):
        key = f"xid[{i}]"
        code = raw["xid"]
        if not 0 < code < 10_000:
            raise DataError(str(path), f"{key}.xid", f"{code} is not an Xid number", "1 to 9999")
        if any(r.xid == code for r in rows):
            raise DataError(str(path), f"{key}.xid", f"Xid {code} is listed twice")
        severity, by_action = _severity(raw["gate_severity"], str(path), f"{key}.gate_severity")
        rows.append(
            XidRow(
                xid=code,
                mnemonic=raw["mnemonic"],
                description=raw["description"],
                action=raw["action"],
                severity=severity,
                by_action=by_action,
                fix=raw.get("fix"),
                source=raw["source"],
            )
        )
    return XidTable(table.meta, tuple(rows))


def _severity(text: str, source: str, key: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    """'fatal', 'warning', or 'judge by new action: NONE -> warning; A, B -> fatal'."""
    if text in SEVERITIES:
        return text, ()
    accepted = f"{' or '.join(SEVERITIES)}, or '{BY_ACTION} ACTION[, ACTION] -> fatal|warning; ...'"
    if not text.startswith(BY_ACTION):
        raise DataError(source, key, f"{text!r} is not a severity", accepted)
    mapping: list[tuple[str, str]] = []
    for part in text[len(BY_ACTION) :].split(";"):
        actions, arrow, severity = part.partition("->")
        severity = severity.strip()
        names = [a.strip() for a in actions.split(",") if a.strip()]
        if not arrow or severity not in SEVERITIES or not names:
            raise DataError(source, key, f"{part.strip()!r} is not 'ACTION[, ACTION] -> fatal|warning'", accepted)
        mapping += [(name, severity) for name in names]
    return "by-action", tuple(mapping)
