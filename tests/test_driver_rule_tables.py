"""The driver-side rule tables (xid, kernel_module_errors, container_runtimes): their answers and their refusals."""

from __future__ import annotations

from pathlib import Path

import pytest
from packaging.version import Version

from gpuconform.diagnose.driver import driver_api_needed
from gpuconform.expect.loading import load_matrices
from gpuconform.expect.tables.container_runtimes import load_container_runtimes
from gpuconform.expect.tables.kernel_module_errors import load_kernel_module_errors
from gpuconform.expect.tables.xid import load_xid
from gpuconform.facts.errors import DataError
from gpuconform.facts.model import XidEvent

MATRICES = load_matrices()
RULES = MATRICES.rules
META = """[meta]
title = "t"
as_of = 2026-12-01
sources = ["s"]
"""


def _write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "table.toml"
    path.write_text(META + body)
    return path


# ---- xid.toml ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "text", "severity"),
    [
        (79, "GPU has fallen off the bus.", "fatal"),
        (48, "pid=1, DBE (0x1)", "fatal"),
        (13, "pid=1, Graphics Exception", "warning"),
        (94, "pid=7062, Contained: CE User Channel (0x9). RST: No, D-RST: No", "warning"),
        (94, "pid=7062, Contained: CE User Channel (0x9). RST: Yes, D-RST: No", "fatal"),
        (45, "pid=3, Ch 00000010 caused by previous Xid 79", "fatal"),
        (45, "pid=3, Ch 00000010", "warning"),
        (154, "GPU recovery action changed from 0x0 (None) to 0x2 (NODE_REBOOT)", "fatal"),
        (154, "GPU recovery action changed from 0x1 (GPU_RESET) to 0x0 (NONE)", "warning"),
        (9999, "something new", "unknown"),
    ],
)
def test_an_xid_event_gets_the_severity_the_table_gives_it(code: int, text: str, severity: str) -> None:
    assert RULES.xid.judge(XidEvent(code, "0000:01:00", text)).severity == severity


def test_a_fatal_xid_carries_nvidias_recommended_action() -> None:
    judged = RULES.xid.judge(XidEvent(79, "0000:3b:00", "GPU has fallen off the bus."))
    assert judged.label == "Xid 79 (GPU has fallen off the bus) on 0000:3b:00"
    assert "RESTART_BM" in judged.fix and "cooling" in judged.fix


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        ('xid = 79\ngate_severity = "deadly"', "'deadly' is not a severity"),
        (
            'xid = 154\ngate_severity = "judge by new action: NONE -> maybe"',
            "is not 'ACTION[, ACTION] -> fatal|warning'",
        ),
        ('xid = 0\ngate_severity = "fatal"', "0 is not an Xid number"),
    ],
)
def test_an_xid_row_the_gate_cannot_judge_is_refused(tmp_path: Path, row: str, problem: str) -> None:
    body = f'[[xid]]\n{row}\nmnemonic = "m"\ndescription = "d"\naction = "a"\nnvsentinel = "FATAL"\nsource = "s"\n'
    with pytest.raises(DataError, match=problem):
        load_xid(_write(tmp_path, body))


def test_an_xid_listed_twice_is_refused(tmp_path: Path) -> None:
    row = '[[xid]]\nxid = 79\nmnemonic = "m"\ndescription = "d"\naction = "a"\nnvsentinel = "F"\n'
    row += 'gate_severity = "fatal"\nsource = "s"\n'
    with pytest.raises(DataError, match="Xid 79 is listed twice"):
        load_xid(_write(tmp_path, row + row))


# ---- kernel_module_errors.toml -----------------------------------------------------------------


def test_the_first_cause_the_lines_name_comes_first_and_a_taint_notice_is_no_cause() -> None:
    lines = [
        "nvidia: module verification failed: signature and/or required key missing - tainting kernel",
        "Lockdown: modprobe: unsigned module loading is restricted; see man kernel_lockdown.7",
        "modprobe: ERROR: could not insert 'nvidia': Key was rejected by service",
    ]
    causes = [m.message.cause for m in RULES.kernel_module_errors.explain(lines)]
    assert causes == ["secure_boot_lockdown", "module_signature_rejected"]


def test_modprobe_finding_no_module_for_the_running_kernel_is_a_cause() -> None:
    [match] = RULES.kernel_module_errors.explain(
        ["modprobe: FATAL: Module nvidia not found in directory /lib/modules/x"]
    )
    assert match.message.cause == "module_not_installed_for_kernel"
    assert "for the running kernel" in match.message.fix


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        ('cause = "x"\nmatch = "(unclosed"', "not a regular expression"),
        ('cause = "x"\nmatch = "ok"\nseverity = "loud"', "'loud' is not a severity"),
        ('cause = "Not Snake"\nmatch = "ok"', "is not a cause name"),
    ],
)
def test_a_module_message_that_cannot_match_or_be_judged_is_refused(tmp_path: Path, row: str, problem: str) -> None:
    body = f'[[message]]\n{row}\nwhere = "kernel log"\nfix = "f"\nsource = "s"\n'
    with pytest.raises(DataError, match=problem):
        load_kernel_module_errors(_write(tmp_path, body))


# ---- container_runtimes.toml -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("container", "runtime"),
    [("docker", "docker"), ("lxc", "lxc_lxd"), ("lxd", "lxc_lxd"), ("apptainer", "apptainer_singularity"), ("x", None)],
)
def test_a_container_name_finds_its_runtime_row(container: str, runtime: str | None) -> None:
    row = RULES.container_runtimes.runtime(container)
    assert (row.name if row else None) == runtime


def test_a_refusal_names_the_layer_of_its_cause_and_the_cuda_it_requires() -> None:
    table = RULES.container_runtimes
    toolkit = table.refusal(
        'docker: Error response from daemon: could not select device driver "" with capabilities: [[gpu]].'
    )
    too_old = table.refusal("nvidia-container-cli: requirement error: unsatisfied condition: cuda >= 9.2")
    assert toolkit is not None and toolkit.layer == "platform"
    assert too_old is not None and too_old.layer == "driver"
    assert too_old.required_cuda("requirement error: unsatisfied condition: cuda >= 9.2") == Version("9.2")
    assert table.refusal("nothing known") is None


def test_a_device_node_problem_gets_its_runtimes_own_fix_or_the_general_one() -> None:
    table = RULES.container_runtimes
    lxc = table.node_fix("uvm_missing", "lxc")
    other = table.node_fix("uvm_missing", "docker")
    assert lxc is not None and "lxc config device add" in lxc.fix
    assert other is not None and other.runtimes == ("*",)


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (
            '[[refusal]]\nmessage = "m"\nmatch = "m"\nlayer = "libraries"\ncause = "c"\nfix = "f"\nsource = "s"\n',
            "'libraries' is not a layer",
        ),
        (
            '[[refusal]]\nmessage = "m"\nmatch = "m"\nlayer = "driver"\ncaptures = "cuda"\ncause = "c"\nfix = "f"\n'
            'source = "s"\n',
            "captures a CUDA version but has no group",
        ),
        (
            '[[device_nodes]]\nproblem = "uvm_missing"\nruntimes = ["rkt"]\ncause = "c"\nfix = "f"\nsource = "s"\n',
            "'rkt' is not a runtime row",
        ),
        (
            '[[runtime]]\nname = "a"\nnames = ["docker"]\ndetect = []\ngpu_request = "g"\nfix = "f"\nsource = "s"\n'
            '[[runtime]]\nname = "b"\nnames = ["docker"]\ndetect = []\ngpu_request = "g"\nfix = "f"\nsource = "s"\n',
            "'docker' names two runtimes",
        ),
    ],
)
def test_a_container_row_that_cannot_be_used_is_refused(tmp_path: Path, body: str, problem: str) -> None:
    with pytest.raises(DataError, match=problem):
        load_container_runtimes(_write(tmp_path, body))


# ---- the driver's CUDA against a runtime's, minor included -------------------------------------


@pytest.mark.parametrize(
    ("runtime", "driver", "needed"),
    [
        ("9.2", "9.1", "9.2"),  # both 9.x, and no minor-version compatibility before CUDA 11
        ("10.1", "10.0", "10.1"),
        ("12.5", "12.4", None),  # CUDA 12 runs newer minors through minor-version compatibility
        ("12.5", "11.8", "12.0"),
        ("9.0", "9.1", None),
    ],
)
def test_a_runtime_needs_a_driver_whose_cuda_covers_its_minor_where_no_compatibility_exists(
    runtime: str, driver: str, needed: str | None
) -> None:
    result = driver_api_needed(Version(runtime), Version(driver), MATRICES)
    assert (str(result) if result else None) == needed
