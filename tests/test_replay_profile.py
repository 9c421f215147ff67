"""A facts.json records the profile and options of the run that wrote it, and a replay without
--host-profile checks the host against that profile, not this machine's default.

Replaying a failing t4 host's file used to give PASS on the cpu profile. The runs are real
pytest subprocesses of the installed suites on this (GPU-less) machine: live on the t4 profile
it fails at the driver layer, which is the recording these tests replay.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from gpuconform.plugin.keys import suites_dir
from tests.catalogue import Row
from tests.catalogue import catalogued
from tests.reportcheck import assert_reports_valid

LAYERS = ("-m", "platform or driver")
CATALOGUE = [
    Row(
        "bad-input",
        "Profiles: recorded by a run, captured from a good host",
        "a replayed facts.json records a profile file that is not on this machine",
        "`--host-facts` without `--host-profile` (key `run.profile`)",
        "exit 4 naming the facts file, `run.profile`, the profile file, and `--host-profile` to choose one",
        "recorded-profile-missing",
    ),
]


def pytest_run(where: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`pytest SUITES ARGS` started in `where` with none of our variables set (but those in `env`)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GPUCONFORM_")}
    argv = [sys.executable, "-m", "pytest", str(suites_dir()), "-p", "no:cacheprovider", "-p", "no:randomly", *args]
    return subprocess.run(
        argv, cwd=where, env={**clean, **(env or {})}, capture_output=True, text=True, timeout=900, check=False
    )


def verdict_line(proc: subprocess.CompletedProcess[str]) -> str:
    return proc.stdout.splitlines()[-1]


def result(where: Path) -> dict[str, Any]:
    return json.loads((where / "reports" / "result.json").read_text())  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def t4_recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A live run on the t4 profile (this machine has no T4: it fails at the driver layer); its facts.json."""
    where = tmp_path_factory.mktemp("live-t4")
    proc = pytest_run(where, "--host-profile", "t4", "--host-strict", *LAYERS)
    assert verdict_line(proc).startswith("host verdict: FAIL at driver"), proc.stdout[-3000:]
    return where / "reports" / "facts.json"


def test_facts_json_records_the_profile_and_the_options_of_the_run(t4_recording: Path) -> None:
    run = json.loads(t4_recording.read_text())["run"]
    assert run["profile"] == "t4" and run["profile_name"] == "t4"
    assert run["profile_source"] == "option --host-profile"
    assert run["strict"] is True and run["compat"] is False
    assert run["probe_timeout"] == 20.0 and run["tf_timeout"] == 300.0
    assert run["report_formats"] == ["facts", "html", "junit", "result"]


def test_replaying_a_failing_t4_host_without_a_profile_fails_it_on_the_recorded_t4_profile_and_says_so(
    t4_recording: Path, tmp_path: Path
) -> None:
    proc = pytest_run(tmp_path, "--host-facts", str(t4_recording), *LAYERS)
    assert verdict_line(proc).startswith("host verdict: FAIL at driver"), proc.stdout[-3000:]
    said = f"gpuconform: profile t4 as recorded in {t4_recording} (--host-profile chooses another)"
    assert said in proc.stdout.splitlines()
    profile = result(tmp_path)["profile"]
    assert profile["name"] == "t4"
    assert profile["chosen_by"] == said.removeprefix("gpuconform: ")
    # The file this replay writes records the profile it was checked against, so it replays the same way again.
    assert json.loads((tmp_path / "reports" / "facts.json").read_text())["run"]["profile"] == "t4"


def test_a_profile_given_on_the_command_line_or_in_the_environment_wins_over_the_recorded_one(
    t4_recording: Path, tmp_path: Path
) -> None:
    proc = pytest_run(tmp_path, "--host-facts", str(t4_recording), "--host-profile", "cpu", *LAYERS)
    assert verdict_line(proc).startswith("host verdict: PASS (profile cpu"), proc.stdout[-3000:]
    assert "as recorded in" not in proc.stdout
    proc = pytest_run(tmp_path, "--host-facts", str(t4_recording), *LAYERS, env={"GPUCONFORM_PROFILE": "cpu"})
    assert verdict_line(proc).startswith("host verdict: PASS (profile cpu"), proc.stdout[-3000:]


@catalogued(CATALOGUE)
def test_a_recorded_profile_file_that_is_not_there_is_a_usage_error_naming_the_file_and_the_key(
    row: Row, t4_recording: Path, tmp_path: Path
) -> None:
    data = json.loads(t4_recording.read_text())
    data["run"]["profile"] = str(tmp_path / "gone" / "lab.toml")
    (tmp_path / "facts.json").write_text(json.dumps(data))
    proc = pytest_run(tmp_path, "--host-facts", "facts.json", *LAYERS)
    assert proc.returncode == 4, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "lab.toml" in proc.stderr and "run.profile" in proc.stderr and "--host-profile" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


def test_replaying_the_runs_own_reports_facts_json_leaves_it_byte_identical_and_writes_the_other_reports(
    t4_recording: Path, tmp_path: Path
) -> None:
    reports = tmp_path / "reports"
    reports.mkdir()
    before = t4_recording.read_bytes()
    (reports / "facts.json").write_bytes(before)
    proc = pytest_run(tmp_path, "--host-facts", "reports/facts.json", *LAYERS)
    assert verdict_line(proc).startswith("host verdict: FAIL at driver"), proc.stdout[-3000:]
    assert (reports / "facts.json").read_bytes() == before
    assert "facts.json is not rewritten: it is the file this run replays" in proc.stdout
    written = assert_reports_valid(reports)  # junit.xml, report.html and result.json of this run, all valid
    recorded_run = json.loads(before)["host"]["run_id"]
    assert written["run_id"] != recorded_run
    suite = ET.parse(reports / "junit.xml").getroot().iter("property")
    assert {p.get("name"): p.get("value") for p in suite}["gpuconform.run"] == written["run_id"]
    assert written["run_id"] in (reports / "report.html").read_text()
