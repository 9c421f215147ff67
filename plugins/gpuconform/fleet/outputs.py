"""Write the fleet's reports: fleet.html (hosts x layers, causes), fleet-junit.xml and fleet.json.

JUnit is streamed while the inputs are read (one testsuite per host, one testcase per
check), so merging 10,000 hosts never holds 10,000 check lists in memory.

Whatever the results hold, the reports stay valid: every value that reaches fleet.html
has been validated against result.schema.json (gpuconform.fleet.inputs) and goes through
`esc`, the page's one escaping function; each document is passed through
`gpuconform.facts.text.clean` as a whole before it is written (so neither a lone surrogate in a
path nor a control character can make it unwritable or ill-formed XML), and written
atomically.
"""

from __future__ import annotations

import datetime
import json
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any
from typing import BinaryIO
from xml.sax.saxutils import escape as xml_text
from xml.sax.saxutils import quoteattr

import gpuconform
from gpuconform.facts.text import clean
from gpuconform.fleet.inputs import HostResult
from gpuconform.fleet.rollup import Fleet
from gpuconform.report.files import atomic_file
from gpuconform.report.htmlparts import badge
from gpuconform.report.htmlparts import card
from gpuconform.report.htmlparts import cell
from gpuconform.report.htmlparts import details
from gpuconform.report.htmlparts import esc
from gpuconform.report.htmlparts import number
from gpuconform.report.htmlparts import page
from gpuconform.report.htmlparts import problem_card
from gpuconform.report.htmlparts import row
from gpuconform.report.htmlparts import table
from gpuconform.verdict.judge import LAYER_STATUSES

FLEET_SCHEMA = "gpuconform-fleet"
FLEET_SCHEMA_VERSION = 1
HTML_NAME = "fleet.html"
JUNIT_NAME = "fleet-junit.xml"
JSON_NAME = "fleet.json"

#: How a layer's status reads in a hosts x layers cell.
MARKS = {
    "pass": "pass",
    "fail": "FAIL",
    "error": "ERROR",
    "warn": "warn",
    "blocked": "blocked",
    "not-applicable": "n/a",
    "not-run": "",
}
#: Host names listed per cause before "and N more".
HOSTS_SHOWN = 200


class JunitWriter:
    """Streams one <testsuite> body per host into a temporary file; `close` writes the file with the totals on top.

    A suite's opening tag is written at `close`, when it is known whether its hostname is
    unique: a name sent by more than one result gets its path (Fleet.label).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        # Binary, so that the recorded offsets are byte offsets whatever the text holds.
        self._body: BinaryIO = tempfile.TemporaryFile("w+b")  # noqa: SIM115 - closed in __exit__
        self._spans: dict[str, _Span] = {}  # result path -> where its suite's body is
        self._quoted_ids: dict[str, str] = {}

    def __enter__(self) -> JunitWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._body.close()

    def add(self, host: HostResult, data: dict[str, Any]) -> None:
        """Stream the testcases of one validated result (schemas/result.schema.json)."""
        name = host.hostname
        cases = []
        counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        time = 0.0
        # Quoting dominates the merge's time: the same ids recur on every host, the same
        # classnames on every check of a layer, so each is quoted once.
        ids = self._quoted_ids
        classnames: dict[str, str] = {}
        for check in data["checks"]:
            check_id = check["id"]
            layer = check["layer"]
            quoted_id = ids.get(check_id) or ids.setdefault(check_id, quoteattr(check_id))
            classname = classnames.get(layer) or classnames.setdefault(layer, quoteattr(f"{name}.{layer}"))
            duration = _seconds(check["duration"])
            time += duration
            counts["tests"] += 1
            head = f'<testcase classname={classname} name={quoted_id} time="{duration:.3f}"'
            outcome = check["outcome"]
            if outcome == "passed":
                cases.append(f"{head}/>")
                continue
            reason = check["reason"]
            if outcome in ("failed", "xpassed", "error"):
                tag = "error" if outcome == "error" else "failure"
                counts["errors" if tag == "error" else "failures"] += 1
                text = check["message"] or reason
                cases.append(f"{head}><{tag} message={quoteattr(reason)}>{xml_text(text)}</{tag}></testcase>")
            elif outcome in ("blocked", "not-applicable", "xfailed"):
                counts["skipped"] += 1
                cases.append(f"{head}><skipped message={quoteattr(reason)}/></testcase>")
            else:
                cases.append(f"{head}/>")
        props = "".join(
            f"<property name={quoteattr(k)} value={quoteattr(v)}/>"
            for k, v in (
                ("gpuconform.verdict", host.line),
                ("gpuconform.profile", host.profile),
                ("gpuconform.result", host.path),
            )
        )
        body = f"<properties>{props}</properties>{''.join(cases)}</testsuite>\n"
        start = self._body.tell()
        self._body.write(clean(body).encode("utf-8"))
        self._spans[host.path] = _Span(start, self._body.tell(), counts, _seconds(time), host.finished_at)

    def close(self, fleet: Fleet) -> None:
        """Write the file with the suites of the fleet's hosts, each named by its label."""
        kept = [(fleet.label(h), self._spans[h.path]) for h in fleet.hosts if h.path in self._spans]
        totals = {k: sum(span.counts[k] for _, span in kept) for k in ("tests", "failures", "errors", "skipped")}
        attrs = " ".join(f'{k}="{v}"' for k, v in totals.items())
        with atomic_file(self.path) as out:
            head = f'<?xml version="1.0" encoding="utf-8"?>\n<testsuites name="gpuconform fleet" {attrs}>\n'
            out.write(head.encode("utf-8"))
            for label, span in kept:
                counts = " ".join(f'{k}="{v}"' for k, v in span.counts.items())
                suite = (
                    f"<testsuite name={quoteattr(label)} {counts} time=\"{span.time:.3f}\" "
                    f"timestamp={quoteattr(span.timestamp)}>"
                )
                out.write(clean(suite).encode("utf-8"))
                self._body.seek(span.start)
                out.write(self._body.read(span.end - span.start))
            out.write(b"</testsuites>\n")


@dataclass(frozen=True)
class _Span:
    start: int
    end: int
    counts: dict[str, int]
    time: float
    timestamp: str


def _seconds(value: float) -> float:
    """A duration as JUnit can hold it: a huge or infinite one (only a forged result has it) is 0."""
    try:
        seconds = float(value)
    except OverflowError:
        return 0.0
    return seconds if math.isfinite(seconds) and seconds < 1e12 else 0.0


def fleet_document(fleet: Fleet) -> dict[str, Any]:
    """fleet.json as data (shape: schemas/fleet.schema.json)."""
    return {
        "schema": FLEET_SCHEMA,
        "schema_version": FLEET_SCHEMA_VERSION,
        "gpuconform_version": gpuconform.__version__,
        "merged_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "line": fleet.line(),
        "ok": fleet.ok,
        "totals": {
            "hosts": len(fleet.hosts),
            "expected": fleet.expected,
            "pass": fleet.status["PASS"],
            "fail": fleet.status["FAIL"],
            "none": fleet.status["NONE"],
            "missing": fleet.missing_count,
            "skipped_inputs": len(fleet.warnings),
        },
        "layers": {layer: dict(fleet.layers[layer]) for layer in fleet.layer_names()},
        "outcomes": dict(fleet.outcomes),
        "causes": [
            {
                "check_id": c.check_id,
                "layer": c.layer,
                "title": c.title,
                "count": len(c.hosts),
                "fix": c.fix,
                "example": c.example,
                "hosts": sorted(c.hosts),
            }
            for c in fleet.ranked_causes()
        ],
        "hosts": [
            {
                "hostname": h.hostname,
                "profile": h.profile,
                "status": h.status,
                "layer": h.layer,
                "check_id": h.check_id,
                "reason": h.reason,
                "fix": h.fix,
                "line": h.line,
                "finished_at": h.finished_at,
                "driver": h.driver,
                "gpus": h.gpus,
                "tensorflow": h.tensorflow,
                "warnings": h.warnings,
                "layers": dict(h.layers),
                "result": h.path,
            }
            for h in fleet.sorted_hosts()
        ],
        "missing": fleet.missing,
        "warnings": fleet.warnings,
        "skipped": [{"input": s.input, "reason": s.reason} for s in fleet.skipped],
        "duplicates": [{"hostname": d.hostname, "results": [h.path for h in d.results]} for d in fleet.duplicates],
        "notes": fleet.notes,
    }


def write_json(fleet: Fleet, path: Path) -> None:
    # Not ensure_ascii, so that the text is cleaned as a whole (an escaped lone surrogate would not be).
    _write(path, json.dumps(fleet_document(fleet), indent=1, ensure_ascii=False) + "\n")


def write_html(fleet: Fleet, path: Path, title: str = "gpuconform fleet") -> None:
    _write(path, fleet_html(fleet, title))


def _write(path: Path, text: str) -> None:
    with atomic_file(path) as handle:
        handle.write(clean(text).encode("utf-8"))


def fleet_html(fleet: Fleet, title: str) -> str:
    """The fleet page: verdict, causes, layer counts, then every host x layer."""
    total = len(fleet.hosts)
    parts = [
        f"<h1>{esc(title)}</h1>",
        f"<div class='gc-banner' style='--c:{'#1a7f37' if fleet.ok else '#cf222e'}'>"
        f"<div class='gc-line' id='gc-fleet-line'>{esc(fleet.line())}</div></div>",
        card(
            [
                ("hosts", str(total) + (f" of {fleet.expected} expected" if fleet.expected is not None else "")),
                ("pass", str(fleet.status["PASS"])),
                ("fail", str(fleet.status["FAIL"])),
                ("no checks ran", str(fleet.status["NONE"])),
                ("sent no result", str(fleet.missing_count)),
                ("inputs skipped", str(len(fleet.warnings))),
            ]
        ),
        _causes(fleet),
        _problems_in_inputs(fleet),
        "<h2>Layers</h2>",
        _layers(fleet),
        f"<h2>Hosts x layers</h2>{_filter()}",
        _hosts(fleet),
    ]
    return page(title, "".join(p for p in parts if p))


def _causes(fleet: Fleet) -> str:
    causes = fleet.ranked_causes()
    if not causes:
        return ""
    blocks = ["<h2>Failures by root cause</h2>"]
    for c in causes:
        hosts = sorted(c.hosts)
        more = len(hosts) - HOSTS_SHOWN
        shown = ", ".join(hosts[:HOSTS_SHOWN]) + (f" and {more} more" if more > 0 else "")
        body = (
            f"<div>root check <code>{esc(c.check_id)}</code></div>"
            + (f"<div>fix: <code>{esc(c.fix)}</code></div>" if c.fix else "")
            + (f"<div class='gc-muted'>as one host put it: {esc(c.example)}</div>" if c.example != c.title else "")
            + details(f"{len(hosts)} host(s)", f"<p>{esc(shown)}</p>")
        )
        heading = f"{len(hosts)} host{'s' if len(hosts) != 1 else ''}: {c.title}"
        blocks.append(problem_card("fail", badge("fail", c.layer), heading, body))
    return "".join(blocks)


def _problems_in_inputs(fleet: Fleet) -> str:
    if not fleet.skipped and not fleet.missing_count and not fleet.duplicates:
        return ""
    items = "".join(f"<li>{esc(s.input)}: skipped: {esc(s.reason)}</li>" for s in fleet.skipped)
    missing = "".join(f"<li>{esc(m)}: sent no result</li>" for m in fleet.missing)
    unnamed = fleet.missing_count - len(fleet.missing)
    if unnamed > 0:
        missing += f"<li>{unnamed} more host(s) than results: expected {fleet.expected}</li>"
    notes = "".join(f"<li class='gc-duplicate'>{esc(n)}</li>" for n in fleet.notes)
    return f"<h2>Hosts and inputs to look at</h2><ul id='gc-input-warnings'>{missing}{items}{notes}</ul>"


def _layers(fleet: Fleet) -> str:
    rows = []
    for layer in fleet.layer_names():
        counts = fleet.layers[layer]
        worst = next((s for s in LAYER_STATUSES if counts.get(s)), "not-run")
        rows.append(row([cell(layer), f"<td>{badge(worst)}</td>", *(number(counts.get(k, 0)) for k in LAYER_STATUSES)]))
    return table(["layer", "worst", *LAYER_STATUSES], rows, ident="gc-fleet-layers")


def _filter() -> str:
    # Plain inline script: hides the host rows that do not contain the typed text.
    return (
        "<p><input id='gc-filter' type='search' placeholder='filter hosts (name, layer, reason)' "
        "style='width:100%;max-width:32em;padding:4px' "
        "oninput=\"var q=this.value.toLowerCase();document.querySelectorAll('#gc-hosts tbody tr')"
        ".forEach(function(r){r.hidden=q&&r.textContent.toLowerCase().indexOf(q)<0;});\"></p>"
    )


def _hosts(fleet: Fleet) -> str:
    # Layers no host ran (e.g. the TensorFlow layers of a `-m "driver or libraries"` sweep) get no column.
    layers = [name for name in fleet.layer_names() if set(fleet.layers[name]) - {"not-run"}]
    rows = []
    for h in fleet.sorted_hosts():
        status = dict(h.layers)
        cells = [cell(fleet.label(h)), f"<td>{badge(h.status)}</td>"]
        for layer in layers:
            s = status.get(layer, "not-run")
            cells.append(f"<td class='gc-l gc-l-{esc(s)}'>{esc(MARKS.get(s, s))}</td>")
        cells += [cell(h.gpus), cell(h.driver or ""), cell(h.tensorflow or ""), cell(h.reason, "gc-reason")]
        rows.append(row(cells))
    headers = ["host", "verdict", *layers, "GPUs", "driver", "TensorFlow", "reason"]
    return LAYER_CELL_STYLE + table(headers, rows, ident="gc-hosts")


LAYER_CELL_STYLE = (
    "<style>#gc-hosts td{white-space:nowrap}#gc-hosts td.gc-reason{white-space:normal;min-width:24em}"
    ".gc td.gc-l{text-align:center;font-size:12px}"
    ".gc-l-pass{background:#dafbe1}.gc-l-fail{background:#ffebe9;color:#cf222e;font-weight:700}"
    ".gc-l-error{background:#ffd8d3;color:#a40e26;font-weight:700}.gc-l-warn{background:#fff8c5}"
    ".gc-l-blocked{background:#fbefff;color:#8250df}.gc-l-not-applicable{color:#6e7781}</style>"
)
