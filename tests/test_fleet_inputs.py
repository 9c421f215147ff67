"""Fleet merge and summary under any input: a bad result is skipped with its reason, a bad option is exit 4,
and whatever a result holds, fleet.html, fleet-junit.xml, fleet.json and the Markdown summary stay valid
and show it as text.

Each catalogue row is one test parameter (tests/catalogue.py). The commands run in-process
through `gpuconform.cli.main(argv)`, except where a FIFO or a device is involved: those
run in a subprocess with a timeout, so that a regression is a failure, not a hung test run.
The result documents come from tests/fleetgen.py; the runtime validator of result.schema.json
(gpuconform.fleet.schema) is compared with jsonschema on valid and broken documents.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import os
import random
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck
from hypothesis import example
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from gpuconform.cli import main
from gpuconform.fleet.schema import ANNOTATIONS
from gpuconform.fleet.schema import KEYWORDS
from gpuconform.fleet.schema import SchemaError
from gpuconform.fleet.schema import compile_schema
from gpuconform.fleet.schema import keywords_used
from gpuconform.fleet.schema import validator
from gpuconform.fleet.summary import md_code
from gpuconform.fleet.summary import md_text
from gpuconform.fleet.summary import one_line
from tests.catalogue import Row
from tests.catalogue import catalogued
from tests.fleetgen import BY_NAME
from tests.fleetgen import compat_table
from tests.fleetgen import result
from tests.fleetgen import stable_ids

SECTION = "Fleet merge and summary"
SCHEMAS = Path(__file__).resolve().parents[1] / "plugins" / "gpuconform" / "schemas"
RESULT_SCHEMA = json.loads((SCHEMAS / "result.schema.json").read_text())
FLEET_SCHEMA = json.loads((SCHEMAS / "fleet.schema.json").read_text())
IDS = stable_ids()
COMPAT = {"basis": [], "notes": [], "rows": [], "gpu": True}
HOSTILE = "x'><img src=x onerror=alert(1)>\"<script>alert(2)</script>]]>&amp;"
SUBPROCESS_TIMEOUT = 120  # only a hang comes near it; the commands take about a second


# ---- documents and commands -------------------------------------------------------------


def document(hostname: str, scenario: str = "healthy", seed: int = 0) -> dict[str, Any]:
    """One host's result.json as data (schemas/result.schema.json), from the fleet generator."""
    return result(hostname, BY_NAME[scenario], IDS, copy.deepcopy(COMPAT), random.Random(seed))


def write(path: Path, doc: dict[str, Any] | bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(doc, bytes):
        path.write_bytes(doc)
    else:
        path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return path


def good_hosts(base: Path) -> Path:
    """Two passing hosts below base/good."""
    for name in ("node-a", "node-b"):
        write(base / "good" / name / "result.json", document(name))
    return base / "good"


@dataclass(frozen=True)
class Ran:
    code: int
    out: str
    err: str


def cli(*argv: str | Path, isolated: bool = False) -> Ran:
    """`python -m gpuconform ARGV`: in-process, or (isolated) in a subprocess with a timeout."""
    args = [str(a) for a in argv]
    if isolated:
        proc = subprocess.run(
            [sys.executable, "-m", "gpuconform", *args],
            capture_output=True,
            text=True,
            errors="replace",
            timeout=SUBPROCESS_TIMEOUT,
            check=False,
        )
        return Ran(proc.returncode, proc.stdout, proc.stderr)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(args)
        except SystemExit as exc:  # argparse's own exits
            code = exc.code if isinstance(exc.code, int) else 1
    return Ran(code, out.getvalue(), err.getvalue())


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


#: Every element and attribute the fleet page is built from; anything else came from data.
PAGE_TAGS = {
    "html", "head", "meta", "title", "style", "body", "main", "script", "h1", "h2", "h3", "div", "span", "b",
    "code", "p", "ul", "li", "details", "summary", "table", "thead", "tbody", "tr", "th", "td", "input",
}  # fmt: skip
PAGE_ATTRIBUTES = {"lang", "charset", "name", "content", "class", "style", "id", "type", "placeholder", "oninput"}


def fleet_reports(out: Path) -> tuple[dict[str, Any], ET.Element, str, list[str]]:
    """Check fleet.json, fleet-junit.xml and fleet.html as strict readers would; return them and the page's text."""
    raw = (out / "fleet.json").read_bytes().decode("utf-8")  # strict: a lone surrogate would not decode
    data: dict[str, Any] = json.loads(raw)
    jsonschema.validate(data, FLEET_SCHEMA)
    assert validator("fleet")(data) is None
    junit = ET.fromstring((out / "fleet-junit.xml").read_bytes())  # expat refuses what XML 1.0 forbids
    assert junit.tag == "testsuites"
    page = (out / "fleet.html").read_bytes().decode("utf-8")
    parser = _Tags()
    parser.feed(page)
    parser.close()
    assert {tag for tag, _ in parser.tags} <= PAGE_TAGS, {tag for tag, _ in parser.tags} - PAGE_TAGS
    attributes = {name for _, attrs in parser.tags for name, _ in attrs}
    assert attributes <= PAGE_ATTRIBUTES, attributes - PAGE_ATTRIBUTES
    assert [tag for tag, _ in parser.tags].count("script") == 1
    return data, junit, page, parser.text


# ---- inputs that are skipped ------------------------------------------------------------


def _bad(case: str, seam: str, expect: str, id: str) -> Row:
    return Row("bad-input", SECTION, case, seam, expect, id)


def _fault(case: str, seam: str, expect: str, id: str) -> Row:
    return Row("faults", SECTION, case, seam, expect, id)


def _mutated(edit: Callable[[dict[str, Any]], None]) -> Callable[[Path], Path]:
    def build(base: Path) -> Path:
        doc = document("node-bad", "driver_470")
        edit(doc)
        return write(base / "bad" / "node-bad" / "result.json", doc)

    return build


def _text(data: str | bytes) -> Callable[[Path], Path]:
    return lambda base: write(base / "bad" / "node-bad" / "result.json", data)


def _digits(base: Path) -> Path:
    text = json.dumps(document("node-bad")).replace('"warnings": 0', '"warnings": ' + "7" * 5001, 1)
    return write(base / "bad" / "node-bad" / "result.json", text)


def _fifo(base: Path) -> Path:
    path = base / "bad" / "node-bad" / "result.json"
    path.parent.mkdir(parents=True)
    os.mkfifo(path)
    return path


def _zero_link(base: Path) -> Path:
    path = base / "bad" / "node-bad" / "result.json"
    path.parent.mkdir(parents=True)
    path.symlink_to("/dev/zero")
    return path


def _huge(base: Path) -> Path:
    path = write(base / "bad" / "node-bad" / "result.json", b"{")
    os.truncate(path, 17 * 1024 * 1024)  # sparse: 17 MiB that take no disk
    return path


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(doc: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = doc
        for step in parents:
            target = target[int(step)] if step.isdigit() else target[step]
        target[int(last) if last.isdigit() else last] = value

    return edit


def _pass_over_failed_layer(doc: dict[str, Any]) -> None:
    doc["verdict"].update(status="PASS", line="host verdict: PASS (profile t4)", layer=None, check_id=None)


@dataclass(frozen=True)
class Skip:
    build: Callable[[Path], Path]  # writes the bad input below base; returns its path
    words: str  # what the skipped input's reason says
    argument: bool = False  # pass the bad file itself, not the directory above it
    isolated: bool = False  # a FIFO or a device: run in a subprocess with a timeout


SKIPS = {
    "digits": Skip(_digits, "holds a number with more than 4300 digits"),
    "fifo-in-tree": Skip(_fifo, "is a FIFO (named pipe), expected a regular file", isolated=True),
    "fifo-argument": Skip(_fifo, "is a FIFO (named pipe), expected a regular file", argument=True, isolated=True),
    "dev-zero-link": Skip(_zero_link, "is a link to /dev/zero, a character device", isolated=True),
    "huge": Skip(_huge, "is larger than the 16777216 bytes allowed"),
    "not-utf8": Skip(_text(b'{"schema": "\xff\xfe"}'), "is not UTF-8 text (byte 12)"),
    "deep-nesting": Skip(_text("[" * 100_000 + "]" * 100_000), "is nested too deeply to parse"),
    "markup-layer-status": Skip(
        _mutated(_set("layers.1.status", "x'><img src=x onerror=alert(1)>")),
        "not a valid gpuconform result: layers[1].status: is \"x'><img src=x onerror=alert(1)>\"",
    ),
    "wrong-type": Skip(
        _mutated(_set("verdict.line", 5)), "not a valid gpuconform result: verdict.line: is 5, expected a string"
    ),
    "missing-key": Skip(
        _mutated(lambda d: d["checks"][3].pop("outcome")),
        "not a complete gpuconform result: checks[3]: missing key 'outcome'",
    ),
    "pass-over-failed-layer": Skip(
        _mutated(_pass_over_failed_layer),
        "not a valid gpuconform result: layers[1].status: is 'fail', but the verdict is PASS",
    ),
    "bool-as-number": Skip(
        _mutated(_set("checks.0.duration", True)),
        "not a valid gpuconform result: checks[0].duration: is True, expected a number",
    ),
}
SKIPPED = "skipped with its reason in the warnings, fleet.json and fleet.html; the other hosts merged; exit 1"
CATALOGUE = [
    _bad("a result.json holding a 5,001-digit number", "fleet merge input", f"{SKIPPED}: 'holds a number with more "
         "than 4300 digits' (no traceback, no missing fleet files)", "digits"),
    _bad("a FIFO named result.json in the results tree", "fleet merge input", f"{SKIPPED}, at once: 'is a FIFO "
         "(named pipe), expected a regular file'", "fifo-in-tree"),
    _bad("a FIFO given as an input path", "fleet merge argument", f"{SKIPPED}, at once: 'is a FIFO (named pipe)'",
         "fifo-argument"),
    _bad("result.json a link to /dev/zero", "fleet merge input", f"{SKIPPED}: 'is a link to /dev/zero, a character "
         "device'", "dev-zero-link"),
    _bad("a 17 MiB result.json", "fleet merge input", f"{SKIPPED}: 'is larger than the 16777216 bytes allowed'",
         "huge"),
    _bad("a result.json that is not UTF-8", "fleet merge input", f"{SKIPPED}: 'is not UTF-8 text (byte 12)'",
         "not-utf8"),
    _bad("a result.json nested 100,000 arrays deep", "fleet merge input", f"{SKIPPED}: 'is nested too deeply to "
         "parse'", "deep-nesting"),
    _bad("a layer status `x'><img src=x onerror=alert(1)>`", "fleet merge input (layers[].status)", f"{SKIPPED}; "
         "validated against result.schema.json: 'layers[1].status: is ... expected one of fail, error, ...'; the "
         "fleet fails; no element from it in fleet.html", "markup-layer-status"),
    _bad("a value of the wrong type (verdict.line an integer)", "fleet merge input", f"{SKIPPED}: 'not a valid "
         "gpuconform result: verdict.line: is 5, expected a string'", "wrong-type"),
    _bad("a check without its outcome", "fleet merge input", f"{SKIPPED}: 'not a complete gpuconform result: "
         "checks[3]: missing key 'outcome''", "missing-key"),
    _bad("a PASS verdict over a failed layer", "fleet merge input", f"{SKIPPED}: 'layers[1].status: is 'fail', but "
         "the verdict is PASS' (the fleet never says PASS over it)", "pass-over-failed-layer"),
    _bad("a boolean where a number belongs (a check's duration `true`)", "fleet merge input", f"{SKIPPED}: "
         "'checks[0].duration: is True, expected a number'", "bool-as-number"),
]  # fmt: skip


@catalogued([r for r in CATALOGUE if r.id in SKIPS])
def test_a_bad_result_is_skipped_with_its_reason_and_the_other_hosts_are_merged(row: Row, tmp_path: Path) -> None:
    skip = SKIPS[row.id]
    good = good_hosts(tmp_path)
    bad = skip.build(tmp_path)
    target = bad if skip.argument else tmp_path / "bad"
    ran = cli("fleet", "merge", good, target, "-o", tmp_path / "out", isolated=skip.isolated)
    assert ran.code == 1, ran
    assert "Traceback" not in ran.err
    assert f"gpuconform fleet: warning: {bad}: {skip.words}" in ran.err, ran.err
    data, junit, page, _ = fleet_reports(tmp_path / "out")
    assert [h["hostname"] for h in data["hosts"]] == ["node-a", "node-b"]
    assert data["ok"] is False and data["totals"]["skipped_inputs"] == 1
    assert [s["input"] for s in data["skipped"]] == [str(bad)] and skip.words in data["skipped"][0]["reason"]
    assert [s.get("name") for s in junit.findall("testsuite")] == ["node-a", "node-b"]
    assert "skipped: " in page and str(bad) in page
    assert ran.out.splitlines()[-1] == "fleet verdict: FAIL: 2 of 2 host(s) pass; 1 input(s) skipped (see warnings)"


# ---- options that are usage errors ------------------------------------------------------


def _existing_file(base: Path) -> list[str | Path]:
    write(base / "fleet.out", "not a directory")
    return ["-o", base / "fleet.out"]


def _below_a_file(base: Path) -> list[str | Path]:
    write(base / "fleet.out", "not a directory")
    return ["-o", base / "fleet.out" / "fleet"]


def _expect_fifo(base: Path) -> list[str | Path]:
    os.mkfifo(base / "hosts.txt")
    return ["-o", base / "out", "--expect", base / "hosts.txt"]


@dataclass(frozen=True)
class Usage:
    argv: Callable[[Path], list[str | Path]]
    words: Callable[[Path], str]
    isolated: bool = False


EXPECT = "(accepted: a number of hosts, or a file of host names (one a line))"
CREATED = "(accepted: a directory, created if missing)"
USAGES = {
    "output-is-a-file": Usage(
        _existing_file,
        lambda b: f"-o {b}/fleet.out: exists and is not a directory {CREATED}",
    ),
    "output-below-a-file": Usage(
        _below_a_file,
        lambda b: f"-o {b}/fleet.out/fleet: cannot be created: Not a directory {CREATED}",
    ),
    "expect-5000-digits": Usage(
        lambda b: ["-o", b / "out", "--expect", "9" * 5000],
        lambda b: f"--expect {'9' * 40}: is not a number of hosts a fleet can have {EXPECT}",
    ),
    "expect-missing-file": Usage(
        lambda b: ["-o", b / "out", "--expect", b / "hosts.txt"],
        lambda b: f"--expect {b}/hosts.txt: file does not exist {EXPECT}",
    ),
    "expect-fifo": Usage(
        _expect_fifo,
        lambda b: f"--expect {b}/hosts.txt: is a FIFO (named pipe), expected a regular file {EXPECT}",
        isolated=True,
    ),
}
CATALOGUE += [
    _bad("`-o` naming an existing file", "fleet merge -o", "exit 4 before any input is read: '-o FILE: exists and "
         "is not a directory (accepted: a directory, created if missing)'", "output-is-a-file"),
    _bad("`-o` below a file", "fleet merge -o", "exit 4: '-o FILE/fleet: cannot be created: Not a directory'",
         "output-below-a-file"),
    _bad("`--expect` with 5,000 digits", "fleet merge --expect", "exit 4: '--expect 999...: is not a number of "
         "hosts a fleet can have (accepted: a number of hosts, or a file of host names ...)'", "expect-5000-digits"),
    _bad("`--expect` naming a missing file", "fleet merge --expect", "exit 4: '--expect FILE: file does not exist "
         "(accepted: ...)'", "expect-missing-file"),
    _bad("`--expect` naming a FIFO", "fleet merge --expect", "exit 4 at once: '--expect FILE: is a FIFO (named "
         "pipe), expected a regular file'", "expect-fifo"),
]  # fmt: skip


@catalogued([r for r in CATALOGUE if r.id in USAGES])
def test_a_bad_fleet_merge_option_is_exit_4_naming_the_option(row: Row, tmp_path: Path) -> None:
    usage = USAGES[row.id]
    good = good_hosts(tmp_path)
    ran = cli("fleet", "merge", good, *usage.argv(tmp_path), isolated=usage.isolated)
    assert ran.code == 4, ran
    assert ran.err.splitlines() == [f"gpuconform: error: {usage.words(tmp_path)}"]
    assert ran.out == ""
    assert not (tmp_path / "out").exists()


CATALOGUE += [
    _fault("a fleet report that cannot be written (fleet.html is a directory)", "fleet merge -o DIR", "exit 3: "
           "'gpuconform fleet: error: cannot write the fleet reports: DIR/fleet.html: Is a directory'; no "
           "traceback, no temporary file left", "report-unwritable"),
]  # fmt: skip


@catalogued([r for r in CATALOGUE if r.id == "report-unwritable"])
def test_a_fleet_report_that_cannot_be_written_is_exit_3_naming_it(row: Row, tmp_path: Path) -> None:
    good = good_hosts(tmp_path)
    (tmp_path / "out" / "fleet.html").mkdir(parents=True)
    ran = cli("fleet", "merge", good, "-o", tmp_path / "out")
    assert ran.code == 3, ran
    assert ran.err.splitlines() == [
        f"gpuconform fleet: error: cannot write the fleet reports: {tmp_path}/out/fleet.html: Is a directory"
    ]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["fleet-junit.xml", "fleet.html", "fleet.json"]


# ---- results that `gpuconform summary` refuses ------------------------------------------


@dataclass(frozen=True)
class Refusal:
    build: Callable[[Path], Path]
    words: str  # after "gpuconform: error: <file>: "
    isolated: bool = False


TYPES = "(accepted: the values schemas/result.schema.json allows)"
REFUSALS = {
    "summary-wrong-type": Refusal(_mutated(_set("verdict.line", 5)), f"verdict.line: is 5, expected a string {TYPES}"),
    "summary-count-a-string": Refusal(
        _mutated(_set("layers.0.counts.passed", "7")), f"layers[0].counts.passed: is '7', expected an integer {TYPES}"
    ),
    "summary-verdict-a-list": Refusal(
        _mutated(_set("verdict", [])), f"verdict: is an array, expected an object {TYPES}"
    ),
    "summary-digits": Refusal(_digits, "holds a number with more than 4300 digits, beyond any real value"),
    "summary-foreign": Refusal(
        _text('{"testsuites": []}'), "not a gpuconform result (schema None; expected schema 'gpuconform-result')"
    ),
    "summary-fifo": Refusal(_fifo, "is a FIFO (named pipe), expected a regular file", isolated=True),
    "summary-dev-zero-link": Refusal(
        _zero_link, "is a link to /dev/zero, a character device; expected a regular file", isolated=True
    ),
}
CATALOGUE += [
    _bad("a result with a value of the wrong type (verdict.line an integer)", "gpuconform summary FILE", "exit 4: "
         "'FILE: verdict.line: is 5, expected a string (accepted: the values schemas/result.schema.json allows)'",
         "summary-wrong-type"),
    _bad("a layer count that is a string", "gpuconform summary FILE", "exit 4: 'FILE: layers[0].counts.passed: is "
         "'7', expected an integer'", "summary-count-a-string"),
    _bad("a verdict that is an array", "gpuconform summary FILE", "exit 4: 'FILE: verdict: is an array, expected an "
         "object'", "summary-verdict-a-list"),
    _bad("a result holding a 5,001-digit number", "gpuconform summary FILE", "exit 4: 'FILE: holds a number with "
         "more than 4300 digits'", "summary-digits"),
    _bad("a JSON file that is not a result", "gpuconform summary FILE", "exit 4: 'FILE: not a gpuconform result "
         "(schema None; ...)'", "summary-foreign"),
    _bad("a FIFO as the result", "gpuconform summary FILE", "exit 4 at once: 'FILE: is a FIFO (named pipe)'",
         "summary-fifo"),
    _bad("the result a link to /dev/zero", "gpuconform summary FILE", "exit 4: 'FILE: is a link to /dev/zero, a "
         "character device'", "summary-dev-zero-link"),
]  # fmt: skip


@catalogued([r for r in CATALOGUE if r.id in REFUSALS])
def test_a_result_summary_cannot_use_is_exit_4_naming_the_file_and_key(row: Row, tmp_path: Path) -> None:
    refusal = REFUSALS[row.id]
    path = refusal.build(tmp_path)
    ran = cli("summary", path, isolated=refusal.isolated)
    assert ran.code == 4, ran
    assert ran.err.splitlines() == [f"gpuconform: error: {path}: {refusal.words}"]
    assert ran.out == ""


# ---- hostile text that every fleet report survives --------------------------------------


def _everywhere(text: str) -> Callable[[dict[str, Any]], None]:
    """Put `text` into every string of a failing result that a fleet report shows."""

    def edit(doc: dict[str, Any]) -> None:
        doc["host"]["hostname"] = f"node{text}"
        doc["host"]["driver"] = text
        doc["host"]["tensorflow"] = text
        doc["host"]["gpus"][0]["name"] = text
        doc["profile"]["name"] = text
        doc["finished_at"] = text
        verdict = doc["verdict"]
        verdict.update(reason=text, fix=text, line=f"host verdict: FAIL at driver: {text}")
        root = next(c for c in doc["checks"] if c["id"] == verdict["check_id"])
        root.update(reason=text, message=text)
        doc["checks"][0]["layer"] = text

    return edit


@dataclass(frozen=True)
class Hostile:
    text: str  # planted in every string a report shows
    shown: str  # how the reports show it


HOSTILES = {
    "markup": Hostile(HOSTILE, HOSTILE),
    "xml-illegal-controls": Hostile("a\x01b\x0bc\x1fd", "a\ufffdb\ufffdc\ufffdd"),
    "lone-surrogate": Hostile("\udcff-\ud800", "\ufffd-\ufffd"),
    "noncharacters": Hostile("\ufffe\uffff", "\ufffd\ufffd"),
}
CATALOGUE += [
    _fault("markup, quotes and `]]>` in hostnames, GPU names, verdicts, reasons, messages, fixes and layer names",
           "fleet merge input", "fleet.html shows them as text (no element or attribute from data); fleet-junit.xml "
           "well-formed and holds them intact; fleet.json valid", "markup"),
    _fault("XML-illegal control characters (`\\u0001`, `\\u000b`) in the same places", "fleet merge input",
           "each is U+FFFD in all three reports; fleet-junit.xml well-formed", "xml-illegal-controls"),
    _fault("lone surrogates (`\\udcff`) in the same places", "fleet merge input", "each is U+FFFD; every report "
           "is valid UTF-8 (no UnicodeEncodeError, no missing report)", "lone-surrogate"),
    _fault("the noncharacters U+FFFE and U+FFFF in the same places", "fleet merge input", "each is U+FFFD; "
           "fleet-junit.xml well-formed", "noncharacters"),
]  # fmt: skip


@catalogued([r for r in CATALOGUE if r.id in HOSTILES])
def test_hostile_text_in_a_result_leaves_every_fleet_report_valid_and_shows_it_as_text(
    row: Row, tmp_path: Path
) -> None:
    hostile = HOSTILES[row.id]
    good_hosts(tmp_path)
    _mutated(_everywhere(hostile.text))(tmp_path / "good")
    ran = cli("fleet", "merge", tmp_path / "good", "-o", tmp_path / "out")
    assert ran.code == 1 and ran.err == "", ran
    data, junit, page, text = fleet_reports(tmp_path / "out")
    name = f"node{hostile.shown}"
    assert sorted(h["hostname"] for h in data["hosts"]) == sorted(["node-a", "node-b", name])
    bad = next(h for h in data["hosts"] if h["hostname"] == name)
    assert bad["reason"] == bad["fix"] == bad["driver"] == bad["gpus"] == bad["profile"] == hostile.shown
    assert data["causes"][0]["hosts"] == [name]
    suite = next(s for s in junit.findall("testsuite") if s.get("name") == name)
    failure = suite.find("testcase/failure")
    assert failure is not None and failure.get("message") == failure.text == hostile.shown
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["gpuconform.verdict"] == f"host verdict: FAIL at driver: {hostile.shown}"
    page_text = "".join(text)
    assert name in page_text
    assert hostile.shown in page_text.replace(name, "")  # its reason, GPUs and driver too
    assert ran.out.splitlines()[-1] == data["line"]


def _non_utf8_directories(base: Path) -> tuple[str, str]:
    """Two node directories named with bytes that are not UTF-8: one with a result, one with a broken one."""
    for name, text in ((b"node-\xff", json.dumps(document("node-c"))), (b"bad-\xfe", "{")):
        node = os.path.join(os.fsencode(base / "good"), name)
        os.makedirs(node)
        with open(os.path.join(node, b"result.json"), "w") as handle:  # the test writes its input; the merge reads
            handle.write(text)
    return f"{base}/good/node-\ufffd/result.json", f"{base}/good/bad-\ufffd/result.json"


CATALOGUE += [
    _fault("results directories named with bytes that are not UTF-8 (`node-\\xff/`)", "fleet merge input path",
           "merged or skipped as their contents say; each path shows U+FFFD in fleet.json, fleet-junit.xml, "
           "fleet.html and the warnings; every report valid UTF-8", "non-utf8-path"),
    _fault("a `--title` that is not UTF-8 and holds markup", "fleet merge --title", "the page's title and heading "
           "show it as text, with U+FFFD for the bad bytes", "non-utf8-title"),
]  # fmt: skip


@catalogued([r for r in CATALOGUE if r.id in ("non-utf8-path", "non-utf8-title")])
def test_paths_and_titles_that_are_not_utf8_leave_every_fleet_report_valid(row: Row, tmp_path: Path) -> None:
    good = good_hosts(tmp_path)
    if row.id == "non-utf8-path":
        merged, broken = _non_utf8_directories(tmp_path)
        ran = cli("fleet", "merge", good, "-o", tmp_path / "out")
        assert ran.code == 1, ran
        assert f"gpuconform fleet: warning: {broken}: is not valid JSON" in ran.err
        data, junit, page, text = fleet_reports(tmp_path / "out")
        assert merged in [h["result"] for h in data["hosts"]] and [s["input"] for s in data["skipped"]] == [broken]
        assert merged in [p.get("value") for p in junit.iter("property") if p.get("name") == "gpuconform.result"]
        assert broken in "".join(text)
    else:
        ran = cli("fleet", "merge", good, "-o", tmp_path / "out", "--title", os.fsdecode(b"lab \xff <b>"))
        assert ran.code == 0, ran
        _, _, page, _ = fleet_reports(tmp_path / "out")
        assert "<title>lab \ufffd &lt;b&gt;</title>" in page and "<h1>lab \ufffd &lt;b&gt;</h1>" in page


CATALOGUE += [
    _fault("two results with the same hostname", "fleet merge inputs", "a warning naming both files (and the "
           "newest); both shown and counted, named `host (path)` in fleet.html and fleet-junit.xml; fleet.json lists "
           "them under duplicates; `--expect N` counts the name once", "duplicate-hostname"),
]  # fmt: skip


@catalogued([r for r in CATALOGUE if r.id == "duplicate-hostname"])
def test_two_results_with_one_hostname_are_both_shown_with_a_warning_naming_them(row: Row, tmp_path: Path) -> None:
    older, newer = document("node-a", "driver_470"), document("node-a")
    older["finished_at"], newer["finished_at"] = "2026-09-02T00:00:00+00:00", "2026-09-01T00:00:00+00:00"
    first = write(tmp_path / "b" / "result.json", older)
    second = write(tmp_path / "a" / "result.json", newer)
    ran = cli("fleet", "merge", first, second, "-o", tmp_path / "out", "--expect", "2")
    assert ran.code == 1, ran
    assert ran.err.splitlines() == [
        f"gpuconform fleet: warning: hostname 'node-a' is in 2 results: {second}, {first} (newest: {first}); "
        "all are shown and counted: two hosts with one name, or one host that reported twice"
    ]
    data, junit, page, text = fleet_reports(tmp_path / "out")
    labels = [f"node-a ({second})", f"node-a ({first})"]
    assert sorted(h["result"] for h in data["hosts"]) == [str(second), str(first)]
    assert data["totals"]["fail"] == 1 and data["totals"]["pass"] == 1 and data["totals"]["missing"] == 1
    assert data["duplicates"] == [{"hostname": "node-a", "results": [str(second), str(first)]}]
    assert sorted(s.get("name", "") for s in junit.findall("testsuite")) == labels
    assert all(f"<td>{label}</td>" in page for label in labels)


CATALOGUE += [
    _fault("a results tree of links to the nodes' directories, with a link back up the tree", "fleet merge input "
           "directory", "each linked directory searched once: every host merged once, the walk ends, exit 0",
           "link-loop"),
]  # fmt: skip


@catalogued([r for r in CATALOGUE if r.id == "link-loop"])
def test_links_in_the_results_tree_are_followed_once_each(row: Row, tmp_path: Path) -> None:
    good = good_hosts(tmp_path)
    links = tmp_path / "links"
    links.mkdir()
    (links / "a").symlink_to(good / "node-a")
    (links / "b").symlink_to(good / "node-b")
    (links / "again").symlink_to(good / "node-a")
    (good / "node-a" / "up").symlink_to(links)
    ran = cli("fleet", "merge", links, "-o", tmp_path / "out", "--expect", "2", isolated=True)
    assert ran.code == 0, ran
    data, _, _, _ = fleet_reports(tmp_path / "out")
    assert sorted(h["hostname"] for h in data["hosts"]) == ["node-a", "node-b"] and data["duplicates"] == []


# ---- Markdown that stays text -----------------------------------------------------------


@dataclass(frozen=True)
class Markdown:
    edit: Callable[[dict[str, Any]], None]
    line: str  # the verdict line the heading's code span must hold
    fix: str
    layer: str  # the first layer's name, as its table cell must read


def _markdown(line: str = "host verdict: FAIL at driver: x", fix: str = "fix it", layer: str = "platform") -> Markdown:
    def edit(doc: dict[str, Any]) -> None:
        doc["verdict"].update(line=line, fix=fix)
        doc["layers"][0]["layer"] = layer

    return Markdown(edit, line.replace("\n", " "), fix, layer)


MARKDOWNS = {
    "backtick-in-verdict": _markdown(line="host verdict: FAIL at driver: `x` ``` $(id) ` [a](http://e.invalid)"),
    "backtick-at-the-ends": _markdown(fix="`rm -rf /`"),
    "links-html-and-pipes": _markdown(
        fix="[click](http://e.invalid) <img src=x onerror=alert(1)> | a", layer="pla|tform [x](y) <b>*b*</b> \\"
    ),
    "line-break-in-verdict": _markdown(line="host verdict: FAIL at driver: a\n\n# heading\n- item"),
}
CATALOGUE += [
    _fault("backticks, `$(...)` and a link in the verdict line", "gpuconform summary FILE", "the heading's code span "
           "holds the whole line (a fence longer than any backtick run in it); no link", "backtick-in-verdict"),
    _fault("a fix that starts and ends with a backtick", "gpuconform summary FILE", "one code span holding the "
           "fix exactly", "backtick-at-the-ends"),
    _fault("Markdown links, HTML and `|` in the fix and a layer name", "gpuconform summary FILE", "rendered by a "
           "CommonMark renderer as text: no link, no HTML, the layer table keeps its 7 columns",
           "links-html-and-pipes"),
    _fault("a line break, a heading and a list item in the verdict line", "gpuconform summary FILE", "one heading; "
           "the line breaks are spaces inside its code span", "line-break-in-verdict"),
]  # fmt: skip


def _render(markdown: str) -> list[Any]:
    markdown_it = pytest.importorskip("markdown_it", reason="markdown-it-py renders the summary (it comes with keras)")
    tokens: list[Any] = markdown_it.MarkdownIt("commonmark").enable("table").parse(markdown)
    return tokens


def _inline(tokens: list[Any]) -> list[Any]:
    return [child for t in tokens if t.type == "inline" for child in t.children or ()]


@catalogued([r for r in CATALOGUE if r.id in MARKDOWNS])
def test_text_from_a_result_stays_text_in_the_markdown_summary(row: Row, tmp_path: Path) -> None:
    case = MARKDOWNS[row.id]
    path = _mutated(case.edit)(tmp_path)
    ran = cli("summary", path)
    assert ran.code == 1 and ran.err == "", ran
    tokens = _render(ran.out)
    assert [t.type for t in tokens].count("heading_open") == 1
    kinds = {t.type for t in tokens} | {c.type for c in _inline(tokens)}
    assert not kinds & {"link_open", "html_inline", "html_block", "bullet_list_open", "image"}, kinds
    heading = tokens[[t.type for t in tokens].index("heading_open") + 1]
    spans = [c.content for c in heading.children if c.type == "code_inline"]
    assert spans == [case.line]
    codes = [c.content for c in _inline(tokens) if c.type == "code_inline"]
    assert case.fix in codes
    cells = [t for t in tokens if t.type == "td_open"]
    assert len(cells) == 7 * 8  # eight layers, seven columns each
    first_cell = tokens[[t.type for t in tokens].index("td_open") + 1]
    assert first_cell.children is not None
    assert "".join(c.content for c in first_cell.children if c.type == "text") == case.layer


@given(st.text())
@settings(max_examples=200, deadline=None)
def test_a_markdown_code_span_holds_any_text_and_escaped_text_reads_as_itself(value: str) -> None:
    shown = one_line(value)
    code = _inline(_render(f"a {md_code(value)} b"))
    if shown.strip():
        assert [(c.type, c.content) for c in code if c.type == "code_inline"] == [("code_inline", shown)]
    else:
        assert [c.type for c in code] == ["text"]
    text = _inline(_render(f"a{md_text(value)}b"))
    assert [c.type for c in text] == ["text"] and text[0].content == f"a{shown}b"


# ---- the runtime validator of result.schema.json ----------------------------------------


def test_the_runtime_validator_checks_every_keyword_the_shipped_schemas_use() -> None:
    for schema in (RESULT_SCHEMA, FLEET_SCHEMA):
        assert keywords_used(schema) <= KEYWORDS | ANNOTATIONS, keywords_used(schema) - KEYWORDS - ANNOTATIONS
        compile_schema(schema)  # and compiles it
    with pytest.raises(SchemaError, match=r"keywords not supported by gpuconform.fleet.schema: \['anyOf'\]"):
        compile_schema({"properties": {"x": {"anyOf": [{"type": "string"}]}}})


def test_every_generated_result_is_valid_for_the_runtime_validator_and_for_jsonschema() -> None:
    check = validator("result")
    for n, scenario in enumerate(BY_NAME):
        doc = document(f"node-{n}", scenario, seed=n)
        jsonschema.validate(doc, RESULT_SCHEMA)
        assert check(doc) is None, (scenario, check(doc))


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for n, item in enumerate(value[:3]):  # the first few items of each list: enough to reach every schema
            found += _paths(item, (*prefix, n))
    return found


BASE = result("node-base", BY_NAME["nouveau"], IDS, compat_table(), random.Random(1))
BASE["verdict"]["also_failing"] = [{"id": "driver::nouveau_is_not_loaded", "reason": "nouveau is loaded"}]
BASE["checks"][0]["warnings"] = [dict(BASE["verdict"]["finding"])]
PATHS = [p for p in _paths(BASE) if p]
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),  # NaN is not JSON; jsonschema lets it pass `minimum`, we do not
    st.text(max_size=12),
    st.sampled_from(["passed", "blocked", "FAIL", "PASS", "fail", "driver::x", "host verdict: PASS", "7.5", ""]),
)
json_values = st.recursive(
    json_scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


@st.composite
def mutated_results(draw: st.DrawFn) -> dict[str, Any]:
    """A valid result with one to three values replaced, deleted or added anywhere."""
    doc = copy.deepcopy(BASE)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(PATHS))
        parent: Any = doc
        try:
            for step in path[:-1]:
                parent = parent[step]
            action = draw(st.sampled_from(["replace", "delete", "add"]))
            if action == "delete" and isinstance(parent, dict):
                del parent[path[-1]]
            elif action == "add" and isinstance(parent, dict):
                parent[draw(st.text(max_size=8))] = draw(json_values)
            else:
                parent[path[-1]] = draw(json_values)
        except (KeyError, IndexError, TypeError):  # an earlier change removed or replaced the way there
            continue
    return doc


REFERENCE = jsonschema.Draft202012Validator(RESULT_SCHEMA)


@given(mutated_results())
@settings(max_examples=150, deadline=None)
def test_the_runtime_validator_agrees_with_jsonschema_on_broken_results(doc: dict[str, Any]) -> None:
    expected = REFERENCE.is_valid(doc)
    problem = validator("result")(doc)
    assert (problem is None) == expected, problem


# ---- any bytes at all -------------------------------------------------------------------


SPECIALS = ("fifo", "dev-zero-link", "huge")


def _special(kind: str, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "dev-zero-link":
        path.symlink_to("/dev/zero")
    else:
        path.write_bytes(b"[")
        os.truncate(path, 40 * 1024 * 1024)


@given(
    content=st.one_of(st.binary(max_size=3000), mutated_results().map(lambda d: json.dumps(d).encode())),
    special=st.none(),
)
@example(content=b"", special="fifo")
@example(content=b"", special="dev-zero-link")
@example(content=b"", special="huge")
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_any_bytes_as_a_result_are_merged_or_skipped_and_summarised_or_refused(
    content: bytes, special: str | None
) -> None:
    with tempfile.TemporaryDirectory(prefix="gpuconform-fuzz-") as work:
        base = Path(work)
        write(base / "good" / "node-a" / "result.json", document("node-a"))
        fuzz = base / "fuzz" / "result.json"
        if special is None:
            write(fuzz, content)
        else:
            _special(special, fuzz)
        isolated = special is not None  # a FIFO or a device: in a subprocess with a timeout
        merged = cli("fleet", "merge", base / "good", fuzz, "-o", base / "out", isolated=isolated)
        assert merged.code in (0, 1), merged
        assert "Traceback" not in merged.err
        data, _, _, _ = fleet_reports(base / "out")
        skipped = [s["input"] for s in data["skipped"]]
        assert skipped == [str(fuzz)] or str(fuzz) in [h["result"] for h in data["hosts"]]
        summary = cli("summary", fuzz, isolated=isolated)
        assert "Traceback" not in summary.err
        if summary.code == 4:
            assert summary.err.startswith(f"gpuconform: error: {fuzz}: ") and summary.out == ""
            assert skipped == [str(fuzz)]  # what summary refuses, merge skips
        else:
            assert summary.code in (0, 1) and summary.out.startswith("### "), summary
            assert skipped == []
