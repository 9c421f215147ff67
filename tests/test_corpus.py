"""The corpus of real broken hosts: each is replayed, and must get the cause and fix its thread established.

An entry is two files with the same name:

- ``tests/corpus/threads/<entry>.toml``: the public report (its address, verbatim quotes), the cause
  and fix the thread established, and the expected verdict, layer, root check and fix patterns,
  written from the thread before gpuconform ever ran on it and never edited to fit its output;
- ``tests/corpus/hosts/<entry>.toml``: the host as the thread describes it, in the compact host
  description (`gpuconform.probes.described`), which expands to the Facts a probe would have recorded.

A thread file may also carry a ``[correction]`` table: a root check measured after the thread
(``root_check``), the measurement in a sentence or two with its evidence quoted (``why``), the date
it was made (``measured``) and where it can be re-read (``sources``). It replaces the thread's root
check only, never the verdict, layer or fix patterns, and [expect] stays as the thread wrote it;
docs/corpus.md shows both, with the why.

Each entry runs the real suite over its expanded facts (`--host-facts`) in a subprocess. It passes
when the verdict, the layer, the root check (where the thread, or its correction, names an existing
check) and every fix pattern match. docs/corpus.md (``python -m tests.test_corpus > docs/corpus.md``) lists the
entries, their cause classes and the score, and a test keeps it in sync.
"""

from __future__ import annotations

import datetime
import functools
import json
import os
import re
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gpuconform.expect.loading import load_matrices
from gpuconform.facts.tomlio import read_toml
from gpuconform.plugin.keys import suites_dir
from gpuconform.probes.described import expand
from gpuconform.probes.described import load_description
from gpuconform.probes.host import facts_json
from tests.fleetgen import CHECK_IDS

CORPUS = Path(__file__).parent / "corpus"
THREADS = CORPUS / "threads"
HOSTS = CORPUS / "hosts"
#: Entries that do not pass yet, each with what gpuconform lacks for it: expected failures, strict.
MISSES = CORPUS / "misses.toml"
DOC = Path(__file__).resolve().parents[1] / "docs" / "corpus.md"


@dataclass(frozen=True)
class Entry:
    """One real broken host: what its thread established and how it is described."""

    name: str
    thread: dict[str, Any]

    @property
    def expect(self) -> dict[str, Any]:
        return dict(self.thread["expect"])

    @property
    def correction(self) -> dict[str, Any] | None:
        """The thread's [correction] table: a root check measured after the thread, or None."""
        row = self.thread.get("correction")
        return dict(row) if row is not None else None

    @property
    def root_check(self) -> str:
        """The root check the replay is judged against: the correction's where there is one."""
        return str((self.correction or self.expect).get("root_check", ""))

    @property
    def cause_class(self) -> str:
        return str(self.thread["cause"]["class"])

    @property
    def host_file(self) -> Path:
        return HOSTS / f"{self.name}.toml"

    @property
    def profile(self) -> str:
        return str(self.expect.get("profile", "auto"))


@dataclass(frozen=True)
class Outcome:
    """What the suite said about an entry, and how it measures against the thread."""

    status: str
    layer: str | None
    check_id: str | None
    fix: str
    problems: tuple[str, ...]  # empty: the entry passes

    @property
    def passed(self) -> bool:
        return not self.problems


def entries() -> list[Entry]:
    """Every thread of the corpus, in file order."""
    return [Entry(p.stem, read_toml(p)) for p in sorted(THREADS.glob("*.toml"))]


def judge(entry: Entry, result: dict[str, Any]) -> Outcome:
    """Compare a run's result.json with what the entry's thread established."""
    verdict = result["verdict"]
    expect = entry.expect
    fix = verdict.get("fix") or ""
    problems = []
    if verdict["status"] != expect["verdict"]:
        problems.append(f"verdict {verdict['status']}, the thread says {expect['verdict']}")
    if expect["verdict"] == "FAIL":
        if verdict.get("layer") != expect["layer"]:
            problems.append(f"layer {verdict.get('layer')}, the thread says {expect['layer']}")
        root = entry.root_check
        says = "the correction (measured after the thread) says" if entry.correction else "the thread says"
        if root and not root.startswith("new:") and verdict.get("check_id") != root:
            problems.append(f"root check {verdict.get('check_id')}, {says} {root}")
        for pattern in expect.get("fix_patterns", ()):
            if not re.search(pattern, fix, re.IGNORECASE):
                problems.append(f"the fix does not match {pattern!r}: {fix!r}")
    return Outcome(verdict["status"], verdict.get("layer"), verdict.get("check_id"), fix, tuple(problems))


@functools.cache
def _matrices() -> Any:
    return load_matrices()


def replay(entry: Entry) -> Outcome:
    """Expand the entry's host, run the suite over it, and judge the result."""
    with tempfile.TemporaryDirectory(prefix="gpuconform-corpus-") as tmp:
        work = Path(tmp)
        facts = expand(load_description(entry.host_file), _matrices(), collected_at="2026-12-01T00:00:00+00:00")
        (work / "facts.json").write_text(facts_json(facts))
        env = {k: v for k, v in os.environ.items() if not k.startswith("GPUCONFORM_")}
        argv = [sys.executable, "-m", "pytest", str(suites_dir()), "-p", "no:cacheprovider", "-q"]
        argv += ["--host-facts", str(work / "facts.json"), "--host-profile", entry.profile, "--host-reports", "reports"]
        argv += ["--host-report-formats", "result"]
        proc = subprocess.run(argv, cwd=work, env=env, capture_output=True, text=True, timeout=600, check=False)
        result_file = work / "reports" / "result.json"
        if not result_file.is_file():
            tail = (proc.stdout + proc.stderr)[-1500:]
            return Outcome("NONE", None, None, "", (f"no result.json (exit {proc.returncode}): {tail}",))
        return judge(entry, json.loads(result_file.read_text()))


@functools.cache
def outcomes() -> dict[str, Outcome]:
    """Every entry's outcome, replayed once per test session."""
    return {e.name: replay(e) for e in entries() if e.host_file.is_file()}


ENTRIES = entries()
KNOWN_MISSES: dict[str, str] = {name: row["why"] for name, row in read_toml(MISSES).items()}


def _param(entry: Entry) -> Any:
    why = KNOWN_MISSES.get(entry.name)
    marks = [pytest.mark.xfail(strict=True, reason=f"known miss (tests/corpus/misses.toml): {why}")] if why else []
    return pytest.param(entry, marks=marks, id=entry.name)


def test_every_known_miss_names_an_entry_and_says_why() -> None:
    assert sorted(set(KNOWN_MISSES) - {e.name for e in ENTRIES}) == []
    assert [name for name, why in KNOWN_MISSES.items() if len(why.split()) < 10] == []


CORRECTION_KEYS = ("root_check", "why", "measured", "sources")
#: A quoted piece of evidence in a correction's why: what a measurement printed, in quotes.
QUOTED = re.compile(r"'[^']{12,}'|\"[^\"]{12,}\"")


def correction_problems(entry: Entry) -> list[str]:
    """What keeps an entry's [correction] from being auditable; empty when it is (or there is none)."""
    correction = entry.correction
    if correction is None:
        return []
    problems = []
    if sorted(correction) != sorted(CORRECTION_KEYS):
        problems.append(f"keys {sorted(correction)}, a correction has exactly {list(CORRECTION_KEYS)}")
    root, original = str(correction.get("root_check", "")), str(entry.expect.get("root_check", ""))
    if root == original:
        problems.append(f"root_check {root!r} is the thread's own: a correction must differ from it")
    if root not in CHECK_IDS.read_text().splitlines():
        problems.append(f"root_check {root!r} is not a check id of tests/data/check_ids.txt")
    why = str(correction.get("why", ""))
    if len(why.split()) < 15 or not QUOTED.search(why):
        problems.append("why must say the measurement in a sentence or two and quote its evidence ('...')")
    measured = correction.get("measured")
    if not isinstance(measured, datetime.date) or measured > datetime.date.today():
        problems.append(f"measured {measured!r} is not a past date (a TOML date such as 2026-12-01)")
    sources = correction.get("sources")
    if not isinstance(sources, list) or not sources or not all(isinstance(s, str) and s.strip() for s in sources):
        problems.append("sources must be a non-empty list of where the measurement can be re-read")
    return problems


def test_every_correction_differs_from_its_thread_and_says_why_with_its_evidence() -> None:
    assert {e.name: correction_problems(e) for e in ENTRIES if correction_problems(e)} == {}


def test_a_correction_without_evidence_or_equal_to_the_thread_is_refused() -> None:
    thread = {"expect": {"verdict": "FAIL", "layer": "libraries", "root_check": "libraries::library_is_found[cudart]"}}
    bare = Entry("bare", {**thread, "correction": {"root_check": "libraries::library_is_found[cudart]", "why": "so"}})
    assert correction_problems(bare) == [
        "keys ['root_check', 'why'], a correction has exactly ['root_check', 'why', 'measured', 'sources']",
        "root_check 'libraries::library_is_found[cudart]' is the thread's own: a correction must differ from it",
        "why must say the measurement in a sentence or two and quote its evidence ('...')",
        "measured None is not a past date (a TOML date such as 2026-12-01)",
        "sources must be a non-empty list of where the measurement can be re-read",
    ]
    unknown = {"root_check": "libraries::no_such_check", "why": bare.thread["correction"]["why"]}
    assert "root_check 'libraries::no_such_check' is not a check id of tests/data/check_ids.txt" in (
        correction_problems(Entry("unknown", {**thread, "correction": unknown}))
    )


def test_a_correction_replaces_only_the_root_check_it_is_judged_against() -> None:
    expect = {"verdict": "FAIL", "layer": "libraries", "root_check": "libraries::library_is_found[cudart]"}
    correction = {"root_check": "libraries::library_is_found[cublas]"}
    corrected = Entry("corrected", {"expect": expect, "correction": correction})
    result = {"verdict": {"status": "FAIL", "layer": "libraries", "check_id": "libraries::library_is_found[cublas]"}}
    assert judge(corrected, result).passed
    assert judge(Entry("plain", {"expect": expect}), result).problems == (
        "root check libraries::library_is_found[cublas], the thread says libraries::library_is_found[cudart]",
    )
    elsewhere = {"verdict": {**result["verdict"], "layer": "driver"}}
    assert judge(corrected, elsewhere).problems == ("layer driver, the thread says libraries",)


def test_every_thread_has_its_host_description() -> None:
    assert [e.name for e in ENTRIES if not e.host_file.is_file()] == []
    assert sorted(p.stem for p in HOSTS.glob("*.toml")) == sorted(e.name for e in ENTRIES)


@pytest.mark.parametrize("entry", [_param(e) for e in ENTRIES])
def test_the_corpus_host_gets_the_cause_and_fix_its_thread_established(entry: Entry) -> None:
    outcome = outcomes().get(entry.name)
    assert outcome is not None, f"{entry.host_file} is missing"
    assert outcome.passed, "\n".join(outcome.problems)


def catalogue() -> str:
    """docs/corpus.md: the entries, their cause classes and the score."""
    results = outcomes()
    by_class: Counter[str] = Counter(e.cause_class for e in ENTRIES)
    passed: Counter[str] = Counter(e.cause_class for e in ENTRIES if results.get(e.name, _MISSING).passed)
    lines = [
        "# The corpus of real broken hosts",
        "",
        "Generated from `tests/test_corpus.py` (`python -m tests.test_corpus > docs/corpus.md`); one test per",
        "entry. Each entry is a public report whose thread established the cause and the fix",
        "(`tests/corpus/threads/`, expectations written from the thread before the suite ran on it) and the",
        "host it describes (`tests/corpus/hosts/`, a compact host description, `gpuconform facts from-spec`).",
        "The suite replays the expanded facts; an entry passes when the verdict, the first broken layer, the",
        "root check (where the thread, or a correction measured after it, names an existing one) and every",
        "fix pattern match.",
        "",
        f"Score: {sum(passed.values())} of {len(ENTRIES)} entries.",
        "",
        "| cause class | entries | passed |",
        "|---|---|---|",
    ]
    lines += [f"| {c} | {n} | {passed[c]} |" for c, n in sorted(by_class.items())]
    lines += ["", "| entry | class | TF | environment | layer | root check | passed |", "|---|---|---|---|---|---|---|"]
    for e in ENTRIES:
        outcome = results.get(e.name, _MISSING)
        host = e.thread.get("host", {})
        source = e.thread["source"]["url"]
        lines.append(
            f"| [{e.name}]({source}) | {e.cause_class} | {_cell(host.get('tensorflow', ''))} "
            f"| {_cell(host.get('environment', ''))} | {outcome.layer or '-'} | `{outcome.check_id or '-'}` "
            f"| {'yes' if outcome.passed else 'no'} |"
        )
    corrected = [e for e in ENTRIES if e.correction]
    if corrected:
        lines += ["", "## Corrections", ""]
        lines += [
            "A correction is a root check measured after the thread; it replaces the thread's root check",
            "only (the thread's [expect] stays as written, and its verdict, layer and fix patterns still judge).",
            "",
        ]
        for e in corrected:
            c = e.correction or {}
            lines += [
                f"- **{e.name}**: the thread expects `{e.expect.get('root_check', '-')}`; corrected to "
                f"`{c['root_check']}` (measured {c['measured']}). {_cell(c['why'])}",
                *(f"  - {_cell(source)}" for source in c["sources"]),
            ]
    misses = [e.name for e in ENTRIES if not results.get(e.name, _MISSING).passed]
    if misses:
        lines += ["", "## Not passing yet", ""]
        unlisted = "not listed in tests/corpus/misses.toml"
        lines += [f"- **{name}**: {KNOWN_MISSES.get(name, unlisted)}" for name in misses]
    return "\n".join(lines) + "\n"


_MISSING = Outcome("NONE", None, None, "", ("not replayed",))


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def test_the_corpus_page_in_the_docs_matches_the_replays() -> None:
    assert DOC.read_text() == catalogue(), "regenerate with: python -m tests.test_corpus > docs/corpus.md"


if __name__ == "__main__":
    sys.stdout.write(catalogue())
