"""The suite as other people invoke it: from any directory, in repos with their own conftest.py and ini.

Every run is a real pytest subprocess. Each path option is given in both spellings, `--opt VALUE`
and `--opt=VALUE`, from inside the checkout, from a directory with nothing in it, and from a user
repo with its own conftest.py and pytest.ini (addopts, xfail_strict, -r): both spellings must give
the same rootdir, ini file, checks and verdict. pytest picks the rootdir before it knows our
options, so the two-word form is where the ini file used to be lost.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from gpuconform.expect.loading import load_matrices
from gpuconform.plugin import invocation
from gpuconform.probes.host import facts_json
from gpuconform.probes.host import probe_host
from gpuconform.report.terminal import TITLE
from tests.catalogue import Row
from tests.catalogue import catalogued

REPO = Path(__file__).resolve().parents[1]
SEAMS = Path(__file__).parent / "faultseams"
SECTION = "Other people's repos and command lines"
CHECK_IDS = (REPO / "tests/data/check_ids.txt").read_text().splitlines()
PLATFORM_CHECKS = sum(1 for line in CHECK_IDS if line.startswith("platform::"))
INSTALLED = ("--pyargs", "gpuconform.suites", "-m", "platform", "-p", "no:cacheprovider", "--host-profile", "cpu")
LAB = '[profile]\nname = "lab"\ndescription = "a lab box"\n[gpus]\ncount = 0\n'
USER_INI = "[pytest]\naddopts = -q -rN\nxfail_strict = false\n"
USER_CONFTEST = "import pytest\n\n\n@pytest.fixture\ndef theirs():\n    return 1\n"


@dataclass(frozen=True)
class Place:
    """Where the user starts pytest, and how they name the checks there."""

    name: str
    args: tuple[str, ...]  # what names the checks ("" when the place itself does)
    configfile: str | None  # the ini file pytest must settle on


PLACES = {
    "checkout": Place("the checkout", (), "pyproject.toml"),
    "elsewhere": Place("a directory with nothing in it", (), None),
    "user-repo": Place("a repo with its own conftest.py and pytest.ini", INSTALLED[:2], "pytest.ini"),
}
OPTIONS = ("--host-profile", "--host-facts", "--host-reports", "--host-root", "--host-matrices")


def _rows() -> list[Row]:
    rows = []
    for place_id, place in PLACES.items():
        for opt in OPTIONS:
            rows.append(
                Row(
                    "faults",
                    SECTION,
                    f"`{opt} /abs/path` written as two words, from {place.name}",
                    f"`{opt}`",
                    "both spellings: same rootdir and ini file, the same checks, exit 0, PASS",
                    f"{place_id}{opt}",
                )
            )
    return rows


PATH_ROWS = _rows()
OTHER_ROWS = [
    Row(
        "faults",
        SECTION,
        "a repo with its own conftest.py runs the installed suites",
        "`--pyargs gpuconform.suites`",
        "no INTERNALERROR (the session plugin hashes), exit 0, PASS",
        "own-conftest",
    ),
    Row(
        "faults",
        SECTION,
        "a repo whose conftest.py defines fixtures named as the suites' (`host_facts`, `host_expect`, `nvml`, ...)",
        "the user's conftest.py",
        "the checks get gpuconform's fixtures, the repo's tests keep theirs; exit 0, PASS",
        "same-fixture-names",
    ),
    Row(
        "faults",
        SECTION,
        "the GitHub Actions launcher's command in a scratch repo with its own conftest.py and pytest.ini",
        "launchers/github-actions/gpuconform.yml",
        "exit 0, PASS, all four reports",
        "github-actions",
    ),
    Row(
        "faults",
        SECTION,
        "`pytest --host-profile cpu` outside the checkout",
        "no test paths",
        "runs the installed checks and says so; exit 0, PASS",
        "no-paths-elsewhere",
    ),
    Row(
        "faults",
        SECTION,
        "`pytest tests --host-profile cpu` in a repo whose tests are not the checks",
        "test paths of the user's",
        "their tests run; the note names the command that runs the checks",
        "own-tests-only",
    ),
    Row(
        "faults",
        SECTION,
        "a user ini with `-rN` and `xfail_strict = false`",
        "the user's pytest.ini",
        "the short summary is shown and the checks' expected failures stay strict",
        "user-ini-settings",
    ),
    Row(
        "bad-input",
        SECTION,
        "a conformance check with a misspelt marker, under an ini without --strict-markers",
        "a test file with a layer marker",
        "exit 4 naming the check and the unknown marker",
        "misspelt-marker",
    ),
    Row(
        "faults",
        SECTION,
        "pytest-html disabled with `-p no:html`",
        "`-p no:html`",
        "says report.html is not written and why; the other reports are",
        "no-html-plugin",
    ),
    Row(
        "faults",
        SECTION,
        "pytest-html not installed",
        "package metadata",
        "says report.html is not written and why; the other reports are",
        "no-html-package",
    ),
    Row(
        "bad-input",
        SECTION,
        "a pytest whose internals the rootdir repair does not know",
        "`--host-profile /abs/path`",
        "exit 4 with the command line written with `=`",
        "unknown-pytest",
    ),
]
CATALOGUE = PATH_ROWS + OTHER_ROWS


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One absolute path per path option, all outside the checkout and outside every place."""
    base = tmp_path_factory.mktemp("inputs")
    (base / "lab.toml").write_text(LAB)
    matrices = load_matrices(None)
    (base / "host.json").write_text(facts_json(probe_host(matrices)))
    (base / "out").mkdir()
    (base / "root").mkdir()
    shutil.copytree(REPO / "matrices", base / "matrices", ignore=shutil.ignore_patterns("__pycache__"))
    return {
        "--host-profile": base / "lab.toml",
        "--host-facts": base / "host.json",
        "--host-reports": base / "out",
        "--host-root": base / "root",
        "--host-matrices": base / "matrices",
    }


def _place(place_id: str, tmp_path: Path) -> Path:
    if place_id == "checkout":
        return REPO
    where = tmp_path / place_id
    where.mkdir()
    if place_id == "user-repo":
        (where / "pytest.ini").write_text(USER_INI)
        (where / "conftest.py").write_text(USER_CONFTEST)
        (where / "test_theirs.py").write_text("def test_theirs(theirs):\n    assert theirs == 1\n")
    return where


def _pytest(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    run_env = dict(os.environ if env is None else env)
    run_env.pop("GPUCONFORM_PROFILE", None)
    return subprocess.run(
        [sys.executable, "-m", "pytest", *args],
        cwd=cwd,
        env=run_env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _spelled(opt: str, value: Path, two_words: bool) -> list[str]:
    return [opt, str(value)] if two_words else [f"{opt}={value}"]


@catalogued(PATH_ROWS)
def test_a_path_option_works_in_both_spellings(row: Row, inputs: dict[str, Path], tmp_path: Path) -> None:
    place_id, opt = next((p, o) for p in PLACES for o in OPTIONS if row.id == f"{p}{o}")
    place = PLACES[place_id]
    cwd = _place(place_id, tmp_path)
    seen = []
    for two_words in (True, False):
        reports = inputs["--host-reports"] if opt == "--host-reports" else tmp_path / f"reports-{two_words}"
        args = [*place.args, "-m", "platform", "-p", "no:cacheprovider", "-v", *_spelled(opt, inputs[opt], two_words)]
        if opt != "--host-profile":
            args += ["--host-profile", "cpu"]
        if opt != "--host-reports":
            args += ["--host-reports", str(reports)]
        proc = _pytest(cwd, *args)
        output = proc.stdout + proc.stderr
        assert proc.returncode == 0, output[-3000:]
        assert "INTERNALERROR" not in output and "Traceback" not in output, output[-3000:]
        assert proc.stdout.splitlines()[-1].startswith("host verdict: PASS"), output[-3000:]
        assert f"rootdir: {cwd}" in proc.stdout, proc.stdout[:2000]
        if place.configfile:
            assert f"configfile: {place.configfile}" in proc.stdout, proc.stdout[:2000]
        result = json.loads((reports / "result.json").read_text())
        assert len(result["checks"]) == PLATFORM_CHECKS, [c["id"] for c in result["checks"]]
        facts = json.loads((reports / "facts.json").read_text()) if opt != "--host-facts" else None
        if opt == "--host-profile":
            assert result["profile"]["name"] == "lab"
        elif opt == "--host-facts":
            assert result["host"]["facts_source"] == f"replay:{inputs[opt]}"
        elif opt == "--host-root":
            assert facts is not None and facts["host"]["host_root"] == str(inputs[opt])
        seen.append(sorted(c["id"] for c in result["checks"]))
    assert seen[0] == seen[1]


def _scratch_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "scratch"
    repo.mkdir()
    (repo / "conftest.py").write_text(USER_CONFTEST)
    (repo / "pytest.ini").write_text(USER_INI)
    return repo


@catalogued([r for r in OTHER_ROWS if r.id == "own-conftest"])
def test_a_repo_with_its_own_conftest_runs_the_installed_suites(row: Row, tmp_path: Path) -> None:
    repo = _scratch_repo(tmp_path)
    proc = _pytest(repo, *INSTALLED)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-3000:]
    assert "INTERNALERROR" not in output and "unhashable" not in output
    assert proc.stdout.splitlines()[-1] == "host verdict: PASS (profile cpu)"


#: A GPU repo's own fixtures, named as the plugin's and the suites' shared ones, each useless to a check.
SHADOWING = (
    "host_facts",
    "host_expect",
    "host_matrices",
    "host_profile",
    "host_warn",
    "gpu_profile",
    "nvml",
    "tf_live",
    "measured",
    "torch_need",
)


@catalogued([r for r in OTHER_ROWS if r.id == "same-fixture-names"])
def test_a_repos_fixtures_named_as_the_suites_do_not_reach_the_checks(row: Row, tmp_path: Path) -> None:
    repo = _scratch_repo(tmp_path)
    fixtures = "".join(f"\n\n@pytest.fixture\ndef {name}():\n    return 'theirs'\n" for name in SHADOWING)
    (repo / "conftest.py").write_text(USER_CONFTEST + fixtures)
    uses = ", ".join(SHADOWING)
    (repo / "test_theirs.py").write_text(f"def test_theirs({uses}):\n    assert {{{uses}}} == {{'theirs'}}\n")
    # Their test and the layers that need no TensorFlow child beyond the framework layer's.
    only = ("-m", "not (placement or memory or preprocessing or determinism)")
    proc = _pytest(repo, "test_theirs.py", *INSTALLED[:2], *only, "-rA", *INSTALLED[-4:])
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-3000:]
    assert "PASSED test_theirs.py::test_theirs" in proc.stdout, proc.stdout[-3000:]
    assert proc.stdout.splitlines()[-1] == "host verdict: PASS (profile cpu)"
    result = json.loads((repo / "reports/result.json").read_text())
    assert {c["id"].split("::")[0] for c in result["checks"]} == {"platform", "driver", "libraries", "framework"}
    assert [c["id"] for c in result["checks"] if c["outcome"] == "error"] == []


def _launcher_command() -> str:
    workflow = yaml.safe_load((REPO / "launchers/github-actions/gpuconform.yml").read_text())
    steps = workflow["jobs"]["conformance"]["steps"]
    return str(next(s["run"] for s in steps if s.get("name") == "Check the host"))


@catalogued([r for r in OTHER_ROWS if r.id == "github-actions"])
def test_the_github_actions_command_passes_in_a_repo_with_its_own_conftest_and_ini(row: Row, tmp_path: Path) -> None:
    repo = _scratch_repo(tmp_path)
    env = {**os.environ, "PYTHON": sys.executable, "GPUCONFORM_PROFILE": "cpu"}
    # The workflow's own command, run by bash as the runner would (the CPU-only layers keep it short).
    command = _launcher_command().strip() + ' -m "platform or driver or libraries"'
    proc = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", command], cwd=repo, env=env, capture_output=True, text=True, timeout=300
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-3000:]
    assert "INTERNALERROR" not in output
    assert proc.stdout.splitlines()[-1] == "host verdict: PASS (profile cpu)"
    for name in ("junit.xml", "report.html", "facts.json", "result.json"):
        assert (repo / "reports" / name).is_file(), name


@catalogued([r for r in OTHER_ROWS if r.id == "no-paths-elsewhere"])
def test_no_test_paths_outside_the_checkout_runs_the_installed_checks(row: Row, tmp_path: Path) -> None:
    proc = _pytest(tmp_path, "-m", "platform", "-p", "no:cacheprovider", "--host-profile", "cpu")
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    assert "gpuconform: no test paths given: running the installed checks in" in proc.stdout
    assert proc.stdout.splitlines()[-1] == "host verdict: PASS (profile cpu)"
    result = json.loads((tmp_path / "reports/result.json").read_text())
    assert len(result["checks"]) == PLATFORM_CHECKS


@catalogued([r for r in OTHER_ROWS if r.id == "own-tests-only"])
def test_a_run_of_ones_own_tests_is_told_how_to_run_the_checks(row: Row, tmp_path: Path) -> None:
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests/test_mine.py").write_text("def test_mine():\n    pass\n")
    proc = _pytest(tmp_path, "tests", "-p", "no:cacheprovider", "--host-profile", "cpu")
    assert "1 passed" in proc.stdout, proc.stdout[-2000:]
    assert (
        "gpuconform: no conformance checks were collected from tests; they are installed with gpuconform: "
        "pytest --pyargs gpuconform.suites --host-profile cpu"
    ) in proc.stdout
    assert proc.stdout.splitlines()[-1] == "host verdict: NONE (profile cpu): no checks ran"


@catalogued([r for r in OTHER_ROWS if r.id == "user-ini-settings"])
def test_the_installed_checks_keep_their_settings_under_a_users_ini(row: Row, tmp_path: Path) -> None:
    repo = _scratch_repo(tmp_path)
    proc = _pytest(repo, *INSTALLED)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    # gpuconform's summary, whatever the ini's -rN says: each not-applicable reason once, with its count.
    assert f"{TITLE} " in proc.stdout
    assert re.search(r"^\d+ not applicable: .* \[\S+\]$", proc.stdout, re.MULTILINE), proc.stdout[-3000:]
    # The known regressions are xfail(strict=True) on the check itself, not through the ini.
    source = (REPO / "suites/test_preprocessing.py").read_text()
    assert "pytest.mark.xfail(reason=reason, strict=True" in source


@catalogued([r for r in OTHER_ROWS if r.id == "misspelt-marker"])
def test_a_misspelt_marker_on_a_check_is_a_usage_error(row: Row, tmp_path: Path) -> None:
    repo = _scratch_repo(tmp_path)
    (repo / "test_check.py").write_text(
        "import pytest\n\n\n@pytest.mark.platform\n@pytest.mark.platfrom\ndef test_mine():\n    pass\n"
    )
    proc = _pytest(repo, "test_check.py", "-p", "no:cacheprovider", "--host-profile", "cpu")
    assert proc.returncode == 4, (proc.stdout + proc.stderr)[-3000:]
    assert "test_check.py::test_mine: unknown marker(s) platfrom on a conformance check" in proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr


@catalogued([r for r in OTHER_ROWS if r.id in ("no-html-plugin", "no-html-package")])
def test_without_pytest_html_the_run_says_report_html_is_not_written(row: Row, tmp_path: Path) -> None:
    env = dict(os.environ)
    args = list(INSTALLED)
    if row.id == "no-html-plugin":
        args += ["-p", "no:html"]
        why = "disabled with -p no:html"
    else:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SEAMS / "nohtml"), env.get("PYTHONPATH")]))
        why = "not installed"
    proc = _pytest(tmp_path, *args, env=env)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    assert f"gpuconform: report.html is not written: pytest-html is {why}" in proc.stdout
    reports = tmp_path / "reports"
    assert not (reports / "report.html").exists()
    assert all((reports / name).is_file() for name in ("junit.xml", "facts.json", "result.json"))


@catalogued([r for r in OTHER_ROWS if r.id == "unknown-pytest"])
def test_where_pytest_cannot_be_repaired_the_corrected_command_is_printed(
    row: Row, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def unknown(*args: object, **kwargs: object) -> None:
        raise TypeError("determine_setup() got an unexpected keyword argument")

    monkeypatch.setattr(invocation, "_determine_setup", unknown)
    profile = tmp_path / "lab.toml"
    profile.write_text(LAB)
    result = pytester.runpytest_inprocess("--host-profile", str(profile), "-p", "no:cacheprovider")
    assert result.ret == 4
    assert f"pytest --host-profile={profile} -p no:cacheprovider" in result.stderr.str()


def test_joining_writes_each_of_our_values_with_an_equals_sign() -> None:
    assert invocation.joined(["--host-profile", "/a b/p.toml", "-v", "--host-strict", "--host-reports", "r", "x"]) == [
        "--host-profile=/a b/p.toml",
        "-v",
        "--host-strict",
        "--host-reports=r",
        "x",
    ]
