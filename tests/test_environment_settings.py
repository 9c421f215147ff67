"""Environment variables and ini keys: empty means unset, and every error names where its value came from.

CI templates write `GPUCONFORM_ROOT=` for "not set": an empty variable (or ini value) takes the
documented default, never the current directory or "write nothing". An empty value typed on the
command line is refused. A bad value is a usage error naming the option, the variable or the ini
key and file it came from, whichever it was.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from gpuconform.plugin.keys import suites_dir
from tests.catalogue import Row
from tests.catalogue import catalogued

SECTION = "Environment variables and ini keys"
REPORTS = ("junit.xml", "report.html", "facts.json", "result.json")


def _run(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    run_env = {k: v for k, v in os.environ.items() if not k.startswith("GPUCONFORM_")}
    run_env.update(env)
    argv = [sys.executable, "-m", "pytest", str(suites_dir()), "-m", "platform", "-p", "no:cacheprovider", *args]
    return subprocess.run(argv, cwd=cwd, env=run_env, capture_output=True, text=True, timeout=300, check=False)


EMPTY = {
    # id: (variable, what the default is, how to tell)
    "empty-root": ("GPUCONFORM_ROOT", "/ (the host itself), not the current directory"),
    "empty-reports": ("GPUCONFORM_REPORTS", "reports/, all four reports"),
    "empty-formats": ("GPUCONFORM_REPORT_FORMATS", "all four reports"),
    "empty-profile": ("GPUCONFORM_PROFILE", "auto"),
}
EMPTY_ROWS = [
    Row("faults", SECTION, f"`{var}=` (set, empty)", f"`{var}`", f"the documented default: {default}", row_id)
    for row_id, (var, default) in EMPTY.items()
]


@catalogued(EMPTY_ROWS)
def test_an_empty_variable_takes_the_documented_default(row: Row, tmp_path: Path) -> None:
    var = EMPTY[row.id][0]
    args = () if var == "GPUCONFORM_PROFILE" else ("--host-profile", "cpu")
    proc = _run(tmp_path, *args, **{var: ""})
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    reports = tmp_path / "reports"
    assert sorted(p.name for p in reports.iterdir()) == sorted(REPORTS)
    facts = json.loads((reports / "facts.json").read_text())
    assert facts["host"]["host_root"] is None  # probed below /, not below the current directory
    result = json.loads((reports / "result.json").read_text())
    if var == "GPUCONFORM_PROFILE":
        assert result["profile"]["name"] == "cpu"  # what auto picks on a machine without an NVIDIA GPU


BAD = {
    # id: (args, env, words of the ERROR line)
    "typed-empty-root": (("--host-root=", "--host-profile", "cpu"), {}, ("option --host-root: invalid value ''",)),
    "typed-empty-formats": (
        ("--host-report-formats=", "--host-profile", "cpu"),
        {},
        ("option --host-report-formats: invalid value ''",),
    ),
    "formats-only-commas": (
        ("--host-report-formats=,", "--host-profile", "cpu"),
        {},
        ("option --host-report-formats: invalid value ','", "--host-reports off for none"),
    ),
    "profile-variable-unknown": (
        (),
        {"GPUCONFORM_PROFILE": "nosuch"},
        ("environment variable GPUCONFORM_PROFILE: unknown profile 'nosuch'", "accepted:"),
    ),
    "profile-variable-missing-file": (
        (),
        {"GPUCONFORM_PROFILE": "/nonexistent/lab.toml"},
        ("environment variable GPUCONFORM_PROFILE: /nonexistent/lab.toml: file does not exist",),
    ),
    "facts-variable-missing-file": (
        ("--host-profile", "cpu"),
        {"GPUCONFORM_FACTS": "/nonexistent/facts.json"},
        ("environment variable GPUCONFORM_FACTS: invalid value", "expected an existing file"),
    ),
    "matrices-variable-not-a-directory": (
        ("--host-profile", "cpu"),
        {"GPUCONFORM_MATRICES": "/nonexistent"},
        ("environment variable GPUCONFORM_MATRICES: invalid value", "expected an existing directory"),
    ),
    "tf-timeout-variable-not-a-number": (
        ("--host-profile", "cpu"),
        {"GPUCONFORM_TF_TIMEOUT": "soon"},
        ("environment variable GPUCONFORM_TF_TIMEOUT: invalid value 'soon'", "a number of seconds"),
    ),
    "strict-variable-not-a-boolean": (
        ("--host-profile", "cpu"),
        {"GPUCONFORM_STRICT": "maybe"},
        ("environment variable GPUCONFORM_STRICT: invalid value 'maybe'", "true or false"),
    ),
}
BAD_ROWS = [
    Row(
        "bad-input",
        SECTION,
        row_id.replace("-", " "),
        " ".join([*args, *(f"{k}={v}" for k, v in env.items())]) or "(none)",
        "exit 4; " + "; ".join(f"`{w}`" for w in words),
        row_id,
    )
    for row_id, (args, env, words) in BAD.items()
]
INI_ROWS = [
    Row(
        "bad-input",
        SECTION,
        "an unknown profile in an ini file",
        "`host_profile` in pytest.ini",
        "exit 4; `ini key host_profile in .../pytest.ini: unknown profile 'nosuch'`",
        "profile-ini-unknown",
    )
]


@catalogued(BAD_ROWS)
def test_a_bad_value_is_a_usage_error_naming_where_it_came_from(row: Row, tmp_path: Path) -> None:
    args, env, words = BAD[row.id]
    proc = _run(tmp_path, *args, **env)
    assert proc.returncode == 4, (proc.stdout + proc.stderr)[-3000:]
    assert "Traceback" not in proc.stdout + proc.stderr
    error = next(line for line in proc.stderr.splitlines() if line.startswith("ERROR:"))
    for word in words:
        assert word in error, error


@catalogued(INI_ROWS)
def test_a_bad_ini_value_names_the_ini_key_and_file(row: Row, tmp_path: Path) -> None:
    (tmp_path / "pytest.ini").write_text("[pytest]\nhost_profile = nosuch\n")
    proc = _run(tmp_path, "-c", str(tmp_path / "pytest.ini"))
    assert proc.returncode == 4, (proc.stdout + proc.stderr)[-3000:]
    error = next(line for line in proc.stderr.splitlines() if line.startswith("ERROR:"))
    assert f"ini key host_profile in {tmp_path / 'pytest.ini'}: unknown profile 'nosuch'" in error, error


CATALOGUE = EMPTY_ROWS + BAD_ROWS + INI_ROWS
