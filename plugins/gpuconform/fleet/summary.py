"""`gpuconform summary`: one result.json as Markdown (for $GITHUB_STEP_SUMMARY), and text as a terminal line.

The result is read through the bounded reader and validated against result.schema.json
like a fleet input, so a result with a value of the wrong type is a usage error naming
the file and the key, never a traceback. Everything that comes from the result goes into
the Markdown through `md_text` (every punctuation character escaped) or `md_code` (a code
span whose fence is longer than any run of backticks in the value), so a verdict holding
backticks, brackets, pipes, HTML or a line break stays text.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from gpuconform.facts.errors import DataError
from gpuconform.facts.text import clean
from gpuconform.fleet.inputs import Unusable
from gpuconform.fleet.inputs import read_result

#: What `one_line` turns into a space: line breaks and the other C0 and C1 controls.
_BREAKS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
#: ASCII punctuation: CommonMark lets a backslash escape each of them, and escaped, none is syntax.
_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")
_BACKTICKS = re.compile("`+")
#: The counts of the layer table, in its column order.
COLUMNS = ("passed", "failed", "error", "blocked", "not-applicable")
ICONS = {"PASS": ":white_check_mark:", "FAIL": ":x:"}


def read_summary_result(path: Path) -> dict[str, Any]:
    """Read and validate a result.json; raise DataError naming the file (and the key) when it cannot be summarised."""
    try:
        _, data = read_result(path)
    except Unusable as exc:
        if exc.key:
            accepted = "the values schemas/result.schema.json allows"
            raise DataError(str(path), exc.key, exc.problem, accepted) from None
        raise DataError(str(path), "", exc.problem) from None
    return data


def markdown_summary(data: dict[str, Any]) -> str:
    """The verdict, its fix and the layer table of a validated result as GitHub-flavoured Markdown."""
    verdict = data["verdict"]
    icon = ICONS.get(verdict["status"], ":grey_question:")
    lines = [f"### {icon} {md_code(verdict['line'])}", ""]
    if verdict["check_id"]:
        lines.append(f"root check: {md_code(verdict['check_id'])}")
    if verdict["fix"]:
        lines.append(f"fix: {md_code(verdict['fix'])}")
    if verdict["blocked"]:
        lines.append(f"blocked by it: {len(verdict['blocked'])} check(s)")
    lines += ["", "| layer | status | passed | failed | error | blocked | n/a |", "|---|---|--:|--:|--:|--:|--:|"]
    for layer in data["layers"]:
        counts = layer["counts"]
        cells = [md_text(layer["layer"]), md_text(layer["status"]), *(_count(counts.get(k, 0)) for k in COLUMNS)]
        lines.append("| " + " | ".join(cells) + " |")
    host = data["host"]
    tensorflow = md_text(host["tensorflow"]) if host["tensorflow"] else "no TensorFlow"
    driver = md_code(host["driver"]) if host["driver"] else "none"
    lines += ["", f"host {md_code(host['hostname'])}, driver {driver}, {tensorflow}"]
    return "\n".join(lines)


def _count(value: float) -> str:
    # The schema's integers include 1.0; a table cell shows 1.
    return str(int(value))


def one_line(value: object) -> str:
    """A value as one printable line of a terminal, a log or Markdown (controls and line breaks become spaces)."""
    return _BREAKS.sub(" ", clean(str(value)))


def md_text(value: object) -> str:
    """A value as Markdown text that renders as itself: every punctuation character escaped, on one line.

    In a table cell this also keeps a `|` from splitting the cell.
    """
    return _PUNCTUATION.sub(r"\\\1", one_line(value))


def md_code(value: object) -> str:
    """A value as one Markdown code span, whatever backticks it holds.

    Inside a code span nothing is Markdown or HTML; a table would still split it at `|`,
    so code spans are used outside tables only.
    """
    text = one_line(value)
    if not text.strip():
        return "(empty)"
    longest = max((len(run) for run in _BACKTICKS.findall(text)), default=0)
    fence = "`" * (longest + 1)
    if text[:1] in ("`", " ") or text[-1:] in ("`", " "):
        text = f" {text} "  # a code span drops one space at each end, and needs one next to a backtick
    return f"{fence}{text}{fence}"
