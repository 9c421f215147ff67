"""Every failure a simulated driver or library host can show is diagnosed in full.

The simulated hosts of the driver and libraries layers run once each for real (real
pytest, real pynvml, real dlopen). For each, the verdict must name its root check and
the fix; every failed check must carry all four parts (expected, found with its source,
why, fix) in result.json, JUnit and the HTML; the fix must be a command or a pin that is
right for that host; and checks skipped because of a lower failure must be reported as
blocked by it, not as more problems.
"""

from __future__ import annotations

import json
import re
import subprocess
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gpuconform.verdict.check import Finding
from tests.simhost.cc import require_compiler
from tests.simhost.host import build_host
from tests.simhost.host import run_suite
from tests.simhost.host import verdict_line
from tests.simhost.spec import load_spec

SPECS = Path(__file__).parent / "simhost" / "specs"

#: failing scenario -> what the fix must say on that host (each a regular expression)
FIXES: dict[str, tuple[str, ...]] = {
    "gpu_no_module": (r"sudo modprobe nvidia", r"ubuntu-drivers install|apt install nvidia-driver"),
    "nouveau_loaded": (r"blacklist nouveau", r"update-initramfs -u"),
    "no_device_nodes": (r"nvidia-modprobe -u -c=0",),
    "nvml_mismatch": (r"(?i)reboot", r"rmmod nvidia_uvm"),
    "driver_470_tf221": (
        r"sudo apt install nvidia-driver-555\b",
        r"pin TensorFlow 2\.14: pip install 'tensorflow\[and-cuda\]==2\.14\.\*'",
    ),
    "cudnn8_for_tf221": (r"pip install 'nvidia-cudnn-cu12>=9\.3\.0\.75,<10\.0'",),
    # The stray cuDNN is on LD_LIBRARY_PATH, ahead of the [and-cuda] wheels: the shadowing check's fix.
    "two_cudnn": (
        r"remove \S*/ldpath from LD_LIBRARY_PATH for this environment only",
        r"export LD_LIBRARY_PATH=\S*driverlib",
    ),
    "lib_segfault": (r"pip install --force-reinstall --no-deps nvidia-cublas-cu12",),
    "lib_hang": (r"pip install --force-reinstall --no-deps nvidia-cufft-cu12",),
    "gpu_count_short": (r"lspci -nn \| grep -i nvidia",),
}
#: Words that make a fix something to run or pin, not advice.
COMMAND = re.compile(
    r"sudo |pip (?:install|uninstall)|apt install|export |unset |modprobe|nvidia-smi|docker run|conda |dpkg -S"
    r"|lspci|reboot",
    re.IGNORECASE,
)
PASSING = ("t4_healthy", "driver_minor_compat")


@dataclass(frozen=True)
class Run:
    """One finished run of the suite against a simulated host."""

    proc: subprocess.CompletedProcess[str]
    reports: Path

    @property
    def result(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.reports / "result.json").read_text())
        return data

    def checks(self, outcome: str) -> list[dict[str, Any]]:
        return [c for c in self.result["checks"] if c["outcome"] == outcome]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    require_compiler()
    base = tmp_path_factory.mktemp("diagnosis")
    done = {}
    for name in (*FIXES, *PASSING):
        host = build_host(load_spec(SPECS / f"{name}.toml"), base / name / "host")
        cwd = base / name
        proc = run_suite(host, cwd, "--host-probe-timeout", host.probe_timeout)
        done[name] = Run(proc, cwd / "reports")
    return done


def finding(data: dict[str, Any] | None) -> Finding:
    assert data is not None, "no finding recorded"
    return Finding(**data)


@pytest.mark.parametrize("name", sorted(FIXES))
def test_the_verdict_names_the_root_check_and_its_fix(name: str, runs: dict[str, Run]) -> None:
    run = runs[name]
    verdict = run.result["verdict"]
    assert verdict["status"] == "FAIL" and run.proc.returncode == 1
    root = next(c for c in run.result["checks"] if c["id"] == verdict["check_id"])
    assert root["outcome"] in ("failed", "error")
    assert verdict["layer"] == root["layer"]
    assert verdict["fix"] == root["remediation"] == finding(verdict["finding"]).fix != ""
    tail = run.proc.stdout.splitlines()[-12:]
    assert f"root check: {verdict['check_id']}" in tail
    assert f"fix: {verdict['fix']}" in tail
    assert tail[-1] == verdict_line(run.proc) == verdict["line"]


@pytest.mark.parametrize("name", sorted(FIXES))
def test_every_failure_has_all_four_parts(name: str, runs: dict[str, Run]) -> None:
    problems = runs[name].checks("failed") + runs[name].checks("error")
    assert problems
    for check in problems:
        f = finding(check["finding"])
        assert f.missing_parts() == [], f"{check['id']} lacks {f.missing_parts()}:\n{f.render()}"
        assert check["message"].startswith(f.summary)
        assert f"(from {f.source})" in check["message"]


@pytest.mark.parametrize("name", sorted(FIXES))
def test_every_fix_is_a_command_or_a_pin_for_this_host(name: str, runs: dict[str, Run]) -> None:
    run = runs[name]
    for check in run.checks("failed") + run.checks("error"):
        assert COMMAND.search(check["remediation"]), f"{check['id']}: not a command: {check['remediation']!r}"
    fix = run.result["verdict"]["fix"]
    for pattern in FIXES[name]:
        assert re.search(pattern, fix), f"{pattern!r} not in the fix of {name}: {fix!r}"


def test_the_duplicate_library_fix_drops_exactly_the_stray_directory(runs: dict[str, Run]) -> None:
    fix = runs["two_cudnn"].result["verdict"]["fix"]
    facts = json.loads((runs["two_cudnn"].reports / "facts.json").read_text())
    before = dict(facts["platform"]["environment"])["LD_LIBRARY_PATH"].split(":")
    after = re.search(r"export LD_LIBRARY_PATH=([^\s;]*)", fix).group(1).split(":")  # type: ignore[union-attr]
    dropped = set(before) - set(after)
    assert len(dropped) == 1 and dropped.pop().endswith("/ldpath")
    assert all(d in before for d in after)


@pytest.mark.parametrize("name", sorted(FIXES))
def test_checks_blocked_by_a_failure_are_not_reported_as_problems(name: str, runs: dict[str, Run]) -> None:
    result = runs[name].result
    by_id = {c["id"]: c for c in result["checks"]}
    blocked = [c for c in result["checks"] if c["outcome"] == "blocked"]
    also = {a["id"] for a in result["verdict"]["also_failing"]}
    for check in blocked:
        cause = by_id[check["blocked_by"]]
        assert cause["outcome"] in ("failed", "error", "blocked"), check
        assert check["reason"].startswith(f"blocked by {check['blocked_by']}: ")
        assert check["id"] not in also
    for check_id in result["verdict"]["blocked"]:
        assert by_id[check_id]["outcome"] == "blocked"


def test_a_driver_too_old_blocks_the_driver_api_check_instead_of_failing_it_twice(runs: dict[str, Run]) -> None:
    verdict = runs["driver_470_tf221"].result["verdict"]
    assert verdict["blocked"] == ["libraries::the_driver_api_is_new_enough_for_the_runtime"]
    assert verdict["also_failing"] == []
    assert "blocked by it: 1 check(s): libraries::the_driver_api_is_new_enough_for_the_runtime" in runs[
        "driver_470_tf221"
    ].proc.stdout


def test_an_unbound_gpu_blocks_everything_that_needs_the_module(runs: dict[str, Run]) -> None:
    result = runs["gpu_no_module"].result
    blocked = {c["id"]: c["blocked_by"] for c in result["checks"] if c["outcome"] == "blocked"}
    assert blocked["driver::nvml_initialises"] == "driver::the_nvidia_kernel_module_is_loaded"
    # blocked by a blocked check: named by the root of the chain, not the link in between (issue 14)
    assert blocked["driver::gpu_count_matches_the_profile"] == "driver::the_nvidia_kernel_module_is_loaded"
    layers = {layer["layer"]: layer for layer in result["layers"]}
    assert layers["driver"]["status"] == "fail"
    assert layers["driver"]["counts"]["blocked"] == len([b for b in blocked if b.startswith("driver::")])


@pytest.mark.parametrize("name", sorted(FIXES))
def test_junit_and_html_carry_the_same_root_and_fix(name: str, runs: dict[str, Run]) -> None:
    run = runs[name]
    verdict = run.result["verdict"]
    suite = ET.parse(run.reports / "junit.xml").getroot().find("testsuite")
    assert suite is not None
    props = {p.get("name"): p.get("value") for p in suite.find("properties") or ()}
    assert props["gpuconform.verdict"] == verdict["line"]
    assert props["gpuconform.root_check"] == verdict["check_id"]
    assert props["gpuconform.fix"] == verdict["fix"]
    root_name = "test_" + verdict["check_id"].split("::", 1)[1]
    case = next(c for c in suite.iter("testcase") if c.get("name") == root_name)
    outcome = case.find("failure") if case.find("failure") is not None else case.find("error")
    assert outcome is not None
    assert outcome.text == Finding(**verdict["finding"]).render()  # all four parts, as the terminal shows them
    for skipped in suite.iter("skipped"):
        message = skipped.get("message", "")
        assert message.startswith(("not applicable", "blocked by")), message
    page = (run.reports / "report.html").read_text()
    from html import escape

    assert escape(verdict["line"], quote=True) in page
    assert escape(verdict["fix"], quote=True) in page


def test_a_warning_passes_the_host_but_fails_it_under_strict(runs: dict[str, Run], tmp_path: Path) -> None:
    lenient = runs["driver_minor_compat"]
    assert lenient.result["verdict"]["status"] == "PASS" and lenient.proc.returncode == 0
    warned = [c for c in lenient.result["checks"] if c["warnings"]]
    assert any("minor-version compatibility" in w["summary"] for c in warned for w in c["warnings"])
    strict = _replay(lenient, tmp_path, "t4", "--host-strict")
    result = json.loads((tmp_path / "reports/result.json").read_text())
    assert strict.returncode == 1
    line = result["verdict"]["line"]
    assert line.startswith("host verdict: FAIL at driver: warning treated as failure (--host-strict): ")
    assert result["options"]["strict"] is True
    assert result["verdict"]["fix"]


def test_the_strict_ini_twin_fails_on_warnings_too(runs: dict[str, Run], tmp_path: Path) -> None:
    (tmp_path / "pytest.ini").write_text("[pytest]\nhost_strict = true\n")
    proc = _replay(runs["driver_minor_compat"], tmp_path, "t4", "-c", str(tmp_path / "pytest.ini"))
    assert proc.returncode == 1
    assert "warning treated as failure (--host-strict)" in verdict_line(proc)


def test_a_probe_that_hung_is_an_error_that_fails_the_gate_with_all_four_parts(
    runs: dict[str, Run], tmp_path: Path
) -> None:
    facts = json.loads((runs["t4_healthy"].reports / "facts.json").read_text())
    facts["driver"]["nvml"] = {
        "init_error": {"probe": "nvml", "kind": "timeout", "message": "no answer within 3.0 s"},
        "gpus": [],
        "errors": [],
    }
    path = tmp_path / "hung.json"
    path.write_text(json.dumps(facts))
    proc = _suite(tmp_path, "--host-facts", str(path), "--host-profile", "t4", "-m", "driver")
    result = json.loads((tmp_path / "reports/result.json").read_text())
    assert proc.returncode == 1
    verdict = result["verdict"]
    assert verdict["line"] == (
        "host verdict: FAIL at driver: could not check NVML: the NVML probe timeout: no answer within 3.0 s"
    )
    errors = [c for c in result["checks"] if c["outcome"] == "error"]
    assert errors and all(finding(c["finding"]).missing_parts() == [] for c in errors)
    assert "--host-probe-timeout" in verdict["fix"]
    suite = ET.parse(tmp_path / "reports/junit.xml").getroot().find("testsuite")
    assert suite is not None and int(suite.get("errors", "0")) == len(errors)


def test_a_skip_without_a_reason_class_is_an_error_not_a_quiet_skip(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_mine="""
        import pytest
        pytestmark = pytest.mark.driver

        def test_something_quietly_skipped():
            pytest.skip("could not be bothered")

        def test_something_not_applicable():
            from gpuconform.verdict.check import not_applicable
            not_applicable("this host has no such thing")
        """
    )
    result = pytester.runpytest_subprocess("--host-profile", "cpu", "-p", "no:cacheprovider")
    assert result.ret == 1
    data = json.loads((pytester.path / "reports/result.json").read_text())
    outcomes = {c["id"]: c["outcome"] for c in data["checks"]}
    assert outcomes == {
        "driver::something_quietly_skipped": "error",
        "driver::something_not_applicable": "not-applicable",
    }
    assert data["verdict"]["line"] == (
        "host verdict: FAIL at driver: could not check driver::something_quietly_skipped: "
        "skipped without a reason class"
    )
    assert "not_applicable() or blocked()" in data["verdict"]["fix"]


def _replay(run: Run, cwd: Path, profile: str, *args: str) -> subprocess.CompletedProcess[str]:
    return _suite(cwd, "--host-facts", str(run.reports / "facts.json"), "--host-profile", profile, *args)


def _suite(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    import sys

    from gpuconform.plugin.keys import suites_dir

    argv = [sys.executable, "-m", "pytest", str(suites_dir()), "-p", "no:cacheprovider"]
    argv += ["-m", "platform or driver or libraries"]
    return subprocess.run([*argv, *args], cwd=cwd, capture_output=True, text=True, timeout=300, check=False)
