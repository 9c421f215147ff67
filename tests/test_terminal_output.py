"""What a run prints: the checks that did not pass by layer, each skip reason once, the layers,
the compatibility table and the verdict together at the end; -v and -r bring pytest's lines back.

The suites run for real on this GPU-less machine with the t4 profile: the driver layer fails at
the PCI bus and blocks the rest of itself and two library checks; the installed TensorFlow is the
CPU-only build, so the build check fails and blocks every check that needs a CUDA build (seeing the
GPU, most of the memory layer, the GPU determinism checks). A simulated T4, whose driver layer
passes, shows the same block as the verdict. The lines asserted are the ones people read, their
numbers taken from the same run's result.json.
"""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from gpuconform.plugin.keys import suites_dir
from gpuconform.report.terminal import DETAIL_HINT
from gpuconform.report.terminal import TITLE
from gpuconform.verdict.judge import LAYERS
from tests.simhost.cc import require_compiler
from tests.simhost.host import build_host
from tests.simhost.host import run_suite
from tests.simhost.spec import SPECS_DIR
from tests.simhost.spec import load_spec

PCI = "driver::nvidia_gpu_is_on_the_pci_bus"
BUILD = "framework::tensorflow_build_can_use_the_gpu"
SEES = "framework::tensorflow_sees_the_expected_gpus"
CASCADE = "platform or driver or libraries or framework or memory or determinism"
COMPAT = "TensorFlow releases on this host (--host-compat)"


def run_t4(cwd: Path, *args: str) -> tuple[list[str], dict[str, Any]]:
    argv = [sys.executable, "-m", "pytest", str(suites_dir()), "-p", "no:cacheprovider", "--host-profile", "t4"]
    proc = subprocess.run([*argv, *args], cwd=cwd, capture_output=True, text=True, timeout=900, check=False)
    assert proc.returncode == 1, (proc.stdout + proc.stderr)[-3000:]
    assert "Traceback" not in proc.stdout + proc.stderr
    return proc.stdout.splitlines(), json.loads((cwd / "reports/result.json").read_text())


@pytest.fixture(scope="module")
def cascade(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[str], dict[str, Any], Path]:
    """The t4 run of every layer but placement and preprocessing: its lines, result.json, reports."""
    cwd = tmp_path_factory.mktemp("cascade")
    lines, result = run_t4(cwd, "-m", CASCADE, "--host-compat")
    return lines, result, cwd / "reports"


def section(lines: list[str]) -> list[str]:
    """The lines of the 'checks that did not pass' section, without its title."""
    start = next(i for i, line in enumerate(lines) if re.fullmatch(rf"-+ {TITLE} -+", line))
    end = next(i for i in range(start + 1, len(lines)) if re.fullmatch(r"[-=]+ .* [-=]+", lines[i]))
    return lines[start + 1 : end]


def checks(result: dict[str, Any], **match: Any) -> list[dict[str, Any]]:
    return [c for c in result["checks"] if all(c[k] == v for k, v in match.items())]


def by_layer(found: list[dict[str, Any]]) -> str:
    counts = Counter(c["layer"] for c in found)
    return ", ".join(f"{layer} {counts[layer]}" for layer in LAYERS if counts[layer])


def test_the_checks_that_did_not_pass_are_listed_under_their_layer(
    cascade: tuple[list[str], dict[str, Any], Path],
) -> None:
    lines, result, _ = cascade
    shown = section(lines)
    (pci,) = checks(result, id=PCI)
    (build,) = checks(result, id=BUILD)
    assert shown[:2] == ["driver: fail", f"  FAILED {pci['nodeid']} - {pci['reason']}"]
    assert shown[2:4] == ["framework: fail", f"  FAILED {build['nodeid']} - {build['reason']}"]
    problems = checks(result, outcome="failed") + checks(result, outcome="error")
    assert len([line for line in shown if line.startswith(("  FAILED ", "  ERROR "))]) == len(problems)


def test_blocked_checks_are_one_line_per_root_check_counted_by_layer(
    cascade: tuple[list[str], dict[str, Any], Path],
) -> None:
    lines, result, _ = cascade
    shown = section(lines)
    under_pci = checks(result, outcome="blocked", blocked_by=PCI)
    under_build = checks(result, outcome="blocked", blocked_by=BUILD)
    assert f"{len(under_pci)} checks blocked by {PCI} [{by_layer(under_pci)}]" in shown
    assert f"{len(under_build)} checks blocked by {BUILD} [{by_layer(under_build)}]" in shown
    assert ", memory 6" in by_layer(under_build)  # the memory layer's cascade, as the issue saw it
    # Every skipped check is counted in exactly one line, and the section ends saying how to see each.
    counted = sum(int(line.split(" ", 1)[0]) for line in shown if line[:1].isdigit())
    skipped = [c for c in result["checks"] if c["outcome"] in ("blocked", "not-applicable", "xfailed")]
    assert counted == len(skipped)
    assert shown[-1] == DETAIL_HINT


def test_each_reason_is_printed_once_and_nothing_points_into_the_plugin(
    cascade: tuple[list[str], dict[str, Any], Path],
) -> None:
    lines, result, _ = cascade
    shown = section(lines)
    (pci,) = checks(result, id=PCI)
    assert sum(pci["reason"] in line for line in shown) == 1
    reasons = [line.split(" ", 1)[1] for line in shown if line[:1].isdigit()]
    assert len(reasons) == len(set(reasons))
    assert not [line for line in lines if line.startswith("SKIPPED") or "plugins/gpuconform" in line]
    assert "short test summary info" not in "\n".join(lines)


def test_a_chain_of_blocked_checks_is_blocked_by_its_root(cascade: tuple[list[str], dict[str, Any], Path]) -> None:
    _, result, _ = cascade
    problems = {c["id"]: c for c in result["checks"] if c["outcome"] in ("failed", "error")}
    blocked = checks(result, outcome="blocked")
    assert blocked
    for check in blocked:
        root = problems[check["blocked_by"]]  # never a blocked check: the chain collapses
        assert check["reason"] == f"blocked by {root['id']}: {root['reason']}"
    # nvml_initialises is blocked through the kernel module check; what needs NVML, through both.
    assert checks(result, id="driver::nvml_initialises")[0]["blocked_by"] == PCI
    assert checks(result, id="driver::gpu_count_matches_the_profile")[0]["blocked_by"] == PCI


def test_no_failure_sends_people_to_the_first_failing_layer_below(
    cascade: tuple[list[str], dict[str, Any], Path],
) -> None:
    lines, result, _ = cascade
    assert "first failing layer" not in "\n".join(lines)
    (golden,) = checks(result, id="determinism::golden_outputs_match_on_each_gpu")
    assert (golden["outcome"], golden["blocked_by"]) == ("blocked", BUILD)
    assert all("first failing layer" not in (c["remediation"] or "") for c in result["checks"])


TWO_FAILURES_ONE_FIX = """
import pytest
from gpuconform.verdict.check import fail

pytestmark = pytest.mark.driver
FIX = "sudo apt install nvidia-driver-555, then reboot"


def test_first_needs_the_new_driver():
    fail("the driver is too old for CUDA 12.5", expected="e", found="f", source="s", why="w", fix=FIX)


def test_second_needs_the_new_driver_too():
    fail("the driver is too old for the container's CUDA", expected="e", found="f", source="s", why="w", fix=FIX)
"""


def test_a_fix_two_failures_share_is_printed_under_the_first_only(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_two=TWO_FAILURES_ONE_FIX)
    result = pytester.runpytest_subprocess("--host-profile", "cpu", "-p", "no:cacheprovider")
    assert result.ret == 1
    lines = result.stdout.lines
    fix = "sudo apt install nvidia-driver-555, then reboot"
    assert sum(line == f"  fix:      {fix}" for line in lines) == 1
    second = lines.index(next(x for x in lines if x.strip("_ ") == "test_second_needs_the_new_driver_too"))
    assert "  fix:      same fix as driver::first_needs_the_new_driver" in lines[second:]
    # result.json keeps every check's own fix: a program reading it needs no cross-reference.
    result_json = json.loads((pytester.path / "reports/result.json").read_text())
    assert [c["remediation"] for c in result_json["checks"]] == [fix, fix]


def test_a_mostly_blocked_layer_is_blocked_in_the_verdict_block_result_json_and_the_report(
    cascade: tuple[list[str], dict[str, Any], Path],
) -> None:
    lines, result, reports = cascade
    memory = next(layer for layer in result["layers"] if layer["layer"] == "memory")
    assert 0 < memory["counts"]["passed"] < memory["counts"]["blocked"]
    assert memory["status"] == "blocked"
    ran = [layer for layer in result["layers"] if layer["status"] != "not-run"]
    layers_line = "layers: " + ", ".join(f"{layer['layer']} {layer['status']}" for layer in ran)
    assert layers_line == (
        "layers: platform pass, driver fail, libraries blocked, framework fail, memory blocked, determinism pass"
    )
    tail = lines[lines.index(layers_line) :]  # the verdict block: after the compatibility table
    assert tail[:3] == [layers_line, f"root check: {PCI}", f"fix: {result['verdict']['fix']}"]
    assert tail[-1] == result["verdict"]["line"]
    page = (reports / "report.html").read_text()
    assert "<span class='gc-badge gc-blocked' style='--c:#8250df'>blocked</span> <b>memory</b>" in page


def test_the_compat_table_is_printed_after_the_checks_next_to_the_verdict(
    cascade: tuple[list[str], dict[str, Any], Path],
) -> None:
    lines, result, _ = cascade
    stats = max(i for i, line in enumerate(lines) if re.fullmatch(r"=+ .* in [\d.]+s.* =+", line))
    table = next(i for i, line in enumerate(lines) if re.fullmatch(rf"-+ {re.escape(COMPAT)} -+", line))
    layers = next(i for i, line in enumerate(lines) if line.startswith("layers: "))
    assert stats < table < layers < len(lines) - 1 and lines[-1] == result["verdict"]["line"]
    rows = [line.split(" ")[0] for line in lines[table:layers] if re.match(r"\d+\.\d+\.\d+", line)]
    assert rows == [r["tensorflow"] for r in result["compat"]["rows"]]


@pytest.mark.parametrize("flag", ["-v", "-rs"])
def test_verbose_or_an_explicit_r_brings_back_pytests_lines_pointing_at_the_checks(
    flag: str, tmp_path: Path
) -> None:
    lines, result = run_t4(tmp_path, "-m", "driver", flag)
    assert not [line for line in lines if re.fullmatch(rf"-+ {TITLE} -+", line)]
    skipped = [re.match(r"SKIPPED \[(\d+)\] (\S+):\d+: (.*)", line) for line in lines if line.startswith("SKIPPED")]
    assert sum(int(m.group(1)) for m in skipped if m) == len(checks(result, outcome="blocked")) > 0
    for match in skipped:
        assert match is not None
        assert (tmp_path / match.group(2)).resolve() == suites_dir() / "test_driver.py"
        assert match.group(3).startswith(f"blocked by {PCI}: ") and match.group(3).count("blocked by") == 1


def test_a_cpu_only_tensorflow_on_a_gpu_host_blocks_every_check_that_needs_a_cuda_build(tmp_path: Path) -> None:
    # A healthy simulated T4 (its driver layer passes) whose TensorFlow is this environment's own
    # CPU-only build: the build check is the root, and what needs a CUDA build is blocked by it,
    # never "not applicable" as though the host needed no GPU.
    require_compiler()
    spec = dataclasses.replace(load_spec(SPECS_DIR / "t4_healthy.toml"), tensorflow=None)
    host = build_host(spec, tmp_path / "host")
    proc = run_suite(host, tmp_path, "--host-probe-timeout", "60", layers="platform or driver or framework")
    assert proc.returncode == 1 and "Traceback" not in proc.stdout + proc.stderr, proc.stdout[-3000:]
    lines = proc.stdout.splitlines()
    result = json.loads((tmp_path / "reports/result.json").read_text())
    (build,) = checks(result, id=BUILD)
    assert build["outcome"] == "failed"
    assert build["reason"] == "tensorflow-cpu 2.21.0 is installed on a GPU host: it has no CUDA support"
    under_build = checks(result, outcome="blocked", blocked_by=BUILD)
    assert {SEES, "framework::gpu_kernels_cover_every_compute_capability"} <= {c["id"] for c in under_build}
    assert all(c["reason"] == f"blocked by {BUILD}: {build['reason']}" for c in under_build)
    assert not [c for c in result["checks"] if "CPU-only build" in (c["reason"] or "") and c["outcome"] != "blocked"]
    shown = section(lines)
    assert shown[:2] == ["framework: fail", f"  FAILED {build['nodeid']} - {build['reason']}"]
    assert f"{len(under_build)} checks blocked by {BUILD} [{by_layer(under_build)}]" in shown
    tail = lines[next(i for i, line in enumerate(lines) if line.startswith("layers: ")) :]
    assert re.fullmatch(r"layers: platform pass, driver (pass|warn), framework fail", tail[0]), tail[0]
    assert tail[1] == f"root check: {BUILD}"
    assert tail[3].startswith(f"blocked by it: {len(under_build)} check(s): ")
    assert result["verdict"]["check_id"] == BUILD and result["verdict"]["also_failing"] == []
    assert tail[-1] == f"host verdict: FAIL at framework: {build['reason']}"
