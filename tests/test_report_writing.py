"""Reports are complete or absent, never wrong: links at report paths, write errors, stale reports, run ids.

Every run is a real pytest subprocess over the real suites. A write error is made real with
RLIMIT_FSIZE in the child: writing past the limit fails with EFBIG ("File too large"), as a
full disk fails with ENOSPC, in the middle of a file, wherever it is written from.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from gpuconform.plugin.keys import suites_dir
from tests.catalogue import Row
from tests.catalogue import catalogued
from tests.reportcheck import assert_reports_valid

SECTION = "Writing: reports complete or absent, never wrong"
REPORTS = ("junit.xml", "report.html", "facts.json", "result.json")
LOW = ("-m", "platform", "-p", "no:cacheprovider", "--host-profile", "cpu")


def _argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "pytest", str(suites_dir()), *LOW, *args]


def _run(cwd: Path, *args: str, file_limit: int | None = None) -> subprocess.CompletedProcess[str]:
    def limit() -> None:
        if file_limit is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (file_limit, file_limit))

    env = {k: v for k, v in os.environ.items() if k != "GPUCONFORM_PROFILE"}
    return subprocess.run(
        _argv(*args), cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False, preexec_fn=limit
    )


LINK_ROWS = [
    Row(
        "faults",
        SECTION,
        f"a link planted at reports/{name}",
        f"reports/{name} -> a file elsewhere",
        "the link is replaced by the report; its target is untouched",
        f"link-{name}",
    )
    for name in REPORTS
]


@catalogued(LINK_ROWS)
def test_a_link_planted_at_a_report_path_is_replaced_never_written_through(row: Row, tmp_path: Path) -> None:
    name = row.id.removeprefix("link-")
    victim = tmp_path / "elsewhere.txt"
    victim.write_text("precious\n")
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / name).symlink_to(victim)
    proc = _run(tmp_path)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    assert victim.read_text() == "precious\n"
    assert not (reports / name).is_symlink() and (reports / name).is_file()
    assert_reports_valid(reports)


#: Which reports each write-error row makes fail, by size: the limit is set between the largest
#: report that must be written and the smallest that must fail, measured on this host by a run
#: without a limit (sizes differ between hosts: a longer environment makes a longer facts.json).
WRITE_ERRORS = {
    "html": ("report.html",),
    "html-and-result": ("report.html", "result.json"),
    "all": REPORTS,
}
WRITE_ROWS = [
    Row(
        "faults",
        SECTION,
        f"a write error (as on a full disk) on {', '.join(names)}",
        "RLIMIT_FSIZE in the run: EFBIG mid-file",
        "exit 3; each failed report named and absent (no partial file); the last line is not PASS",
        row_id,
    )
    for row_id, names in WRITE_ERRORS.items()
]


@pytest.fixture(scope="module")
def report_sizes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, int]:
    cwd = tmp_path_factory.mktemp("sizes")
    proc = _run(cwd)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    return {name: (cwd / "reports" / name).stat().st_size for name in REPORTS}


def _limit_between(sizes: dict[str, int], failing: tuple[str, ...]) -> int:
    written = max((sizes[n] for n in REPORTS if n not in failing), default=0)
    smallest_failing = min(sizes[n] for n in failing)
    assert written < smallest_failing, f"{failing} cannot fail alone: sizes {sizes}"
    return (written + smallest_failing) // 2 if written else min(600, smallest_failing // 2)


@catalogued(WRITE_ROWS)
def test_a_report_that_cannot_be_written_is_named_and_absent(
    row: Row, tmp_path: Path, report_sizes: dict[str, int]
) -> None:
    failing = WRITE_ERRORS[row.id]
    proc = _run(tmp_path, file_limit=_limit_between(report_sizes, failing))
    output = proc.stdout + proc.stderr
    assert proc.returncode == 3, output[-3000:]
    assert "Traceback" not in output and "INTERNALERROR" not in output, output[-3000:]
    reports = tmp_path / "reports"
    for name in failing:
        assert f"gpuconform: could not write {name}: File too large" in proc.stdout, proc.stdout[-2000:]
        assert not (reports / name).exists(), name
    for name in set(REPORTS) - set(failing):
        assert (reports / name).is_file(), name
    assert [p.name for p in reports.iterdir() if p.name.startswith(".")] == []  # no staging or temp file left
    last = proc.stdout.splitlines()[-1]
    assert last.startswith("host verdict: ERROR: reports incomplete (could not write "), last
    assert "PASS" not in last.split("; the checks said:")[0]


STALE_ROWS = [
    Row(
        "faults",
        SECTION,
        "a run that ends with a usage error, after a run that wrote reports",
        "a bad --host-profile",
        "none of the previous run's reports is left looking current",
        "stale-usage-error",
    ),
    Row(
        "faults",
        SECTION,
        "a run killed with SIGKILL while it checks, after a run that wrote reports",
        "SIGKILL to pytest",
        "none of the previous run's reports is left looking current",
        "stale-sigkill",
    ),
    Row(
        "faults",
        SECTION,
        "the four reports of one run",
        "junit.xml, report.html, facts.json, result.json",
        "all carry the same run id, and no other run's",
        "run-id",
    ),
    Row(
        "bad-input",
        SECTION,
        "a directory in the way of a report",
        "reports/junit.xml is a directory",
        "exit 4 naming it",
        "directory-in-the-way",
    ),
]


def _previous_run(tmp_path: Path) -> Path:
    proc = _run(tmp_path)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    reports = tmp_path / "reports"
    assert all((reports / name).is_file() for name in REPORTS)
    return reports


@catalogued([r for r in STALE_ROWS if r.id.startswith("stale-")])
def test_a_run_that_ends_early_leaves_no_stale_reports(row: Row, tmp_path: Path) -> None:
    reports = _previous_run(tmp_path)
    if row.id == "stale-usage-error":
        proc = _run(tmp_path, "--host-profile", "nosuch")
        assert proc.returncode == 4
    else:
        env = {k: v for k, v in os.environ.items() if k != "GPUCONFORM_PROFILE"}
        # The TensorFlow layers keep the run busy long enough to be killed in the middle of it.
        argv = [sys.executable, "-m", "pytest", str(suites_dir()), "-p", "no:cacheprovider", "--host-profile", "cpu"]
        child = subprocess.Popen(argv, cwd=tmp_path, env=env, stdout=subprocess.PIPE, text=True)
        assert child.stdout is not None
        for line in child.stdout:
            if line.startswith("collected"):
                break
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=60)
    assert [p.name for p in reports.iterdir() if p.name in REPORTS] == []


@catalogued([r for r in STALE_ROWS if r.id == "run-id"])
def test_every_report_of_a_run_carries_its_run_id(row: Row, tmp_path: Path) -> None:
    first = json.loads((_previous_run(tmp_path) / "result.json").read_text())["run_id"]
    proc = _run(tmp_path)
    assert proc.returncode == 0
    reports = tmp_path / "reports"
    result = assert_reports_valid(reports)
    run_id = result["run_id"]
    assert run_id and run_id != first
    assert json.loads((reports / "facts.json").read_text())["host"]["run_id"] == run_id
    props = {p.get("name"): p.get("value") for p in ET.parse(reports / "junit.xml").getroot().iter("property")}
    assert props["gpuconform.run"] == run_id
    assert run_id in (reports / "report.html").read_text()


@catalogued([r for r in STALE_ROWS if r.id == "directory-in-the-way"])
def test_a_directory_in_the_way_of_a_report_is_a_usage_error(row: Row, tmp_path: Path) -> None:
    (tmp_path / "reports" / "junit.xml").mkdir(parents=True)
    proc = _run(tmp_path)
    assert proc.returncode == 4
    assert "reports/junit.xml is in the way of a report and is not a file" in proc.stderr


def test_reports_are_as_readable_as_the_umask_allows(tmp_path: Path) -> None:
    proc = _run(tmp_path)
    assert proc.returncode == 0
    umask = os.umask(0)
    os.umask(umask)
    modes = {name: (tmp_path / "reports" / name).stat().st_mode & 0o777 for name in REPORTS}
    assert modes == dict.fromkeys(REPORTS, 0o666 & ~umask)


CATALOGUE = LINK_ROWS + WRITE_ROWS + STALE_ROWS
