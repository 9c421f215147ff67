"""What a run prints: the checks that did not pass by layer, each skip reason once, the layers,
the compatibility table and the verdict together at the end; -v and -r bring pytest's lines back.

The suites run for real on this GPU-less machine with the t4 profile: the driver layer fails at
the PCI bus and blocks the rest of itself and two library checks; TensorFlow (a CPU build) fails
to see the GPU and blocks most of the memory layer and the GPU determinism checks. The lines
asserted are the ones people read, their numbers taken from the same run's result.json.
"""

from __future__ import annotations

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
    under_sees = checks(result, outcome="blocked", blocked_by=SEES)
    assert f"{len(under_pci)} checks blocked by {PCI} [{by_layer(under_pci)}]" in shown
    assert f"{len(under_sees)} checks blocked by {SEES} [{by_layer(under_sees)}]" in shown
    assert by_layer(under_sees).startswith("framework 2, memory 6")  # the memory layer's cascade, as the issue saw it
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
    assert (golden["outcome"], golden["blocked_by"]) == ("blocked", SEES)
    assert all("first failing layer" not in (c["remediation"] or "") for c in result["checks"])


def test_a_fix_two_failures_share_is_printed_under_the_first_only(
    cascade: tuple[list[str], dict[str, Any], Path],
) -> None:
    lines, result, _ = cascade
    (build,) = checks(result, id=BUILD)
    failures = lines[lines.index(next(x for x in lines if re.fullmatch(r"=+ FAILURES =+", x))) :]
    failures = failures[: failures.index(next(x for x in failures if re.fullmatch(rf"-+ {TITLE} -+", x)))]
    assert sum(f"  fix:      {build['remediation']}" == line for line in failures) == 1
    sees = failures.index(next(x for x in failures if x.strip("_ ") == "test_tensorflow_sees_the_expected_gpus"))
    assert f"  fix:      same fix as {BUILD}" in failures[sees:]
    # result.json keeps every check's own fix: a program reading it needs no cross-reference.
    assert checks(result, id=SEES)[0]["remediation"] == build["remediation"]


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
