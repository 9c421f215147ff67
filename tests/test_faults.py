"""The fault catalogue: every fault below is survived, named, bounded in time, and reported.

For each row the suite runs for real in a subprocess against a simulated host with
that one fault. It asserts: the named check fails or errors with the named words,
the pytest process itself survives (exit code 1, never a crash), the run ends
within its time bound, and junit.xml, report.html, facts.json and result.json are
all written and valid. docs/faults.md is generated from this table
(`python -m tests.test_faults > docs/faults.md`) and a test keeps it in sync.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.catalogue import render
from tests.catalogue import untested
from tests.reportcheck import assert_reports_valid
from tests.simhost.cc import require_compiler
from tests.simhost.host import build_host
from tests.simhost.host import run_suite
from tests.simhost.spec import NVML_RETURN_CODES
from tests.simhost.spec import HostSpec
from tests.simhost.spec import load_spec

SPECS = Path(__file__).parent / "simhost" / "specs"
DOC = Path(__file__).resolve().parents[1] / "docs" / "faults.md"
#: The probe timeout of a run whose fault is a hang: the bound the message names.
PROBE_TIMEOUT = 3.0
#: Every other fault's probe answers at once; on a loaded machine (another copy of the tests on
#: two cores) a child's start alone can pass 3 s, which would turn the fault into a timeout.
ANSWERING_PROBE_TIMEOUT = 60.0
#: Start-up, a few probe children and every hang's timeout, with room for a loaded machine.
TIME_BOUND = 300.0


@dataclass(frozen=True)
class Fault:
    """One injected fault and what the user must read."""

    name: str
    seam: str  # where it is injected, for the catalogue
    build: Callable[[], HostSpec]
    check: str
    outcome: str  # failed or error
    words: str
    hangs: bool = False  # the fault never answers: the run's probe timeout is the short one


def _healthy() -> HostSpec:
    return load_spec(SPECS / "t4_healthy.toml")


def _nvml(**changes: Any) -> Callable[[], HostSpec]:
    return lambda: dataclasses.replace(_healthy(), nvml=dataclasses.replace(_healthy().nvml, **changes))


def _lib(name: str, **changes: Any) -> Callable[[], HostSpec]:
    def build() -> HostSpec:
        spec = _healthy()
        libs = tuple(dataclasses.replace(lib, **changes) if lib.name == name else lib for lib in spec.library)
        return dataclasses.replace(spec, library=libs)

    return build


def _pynvml_class(code: str) -> str:
    return "NVMLError_" + "".join(part.capitalize() for part in code.split("_"))


NVML_INIT_CODES = [c for c in NVML_RETURN_CODES if c not in ("SUCCESS",)]

FAULTS: list[Fault] = [
    *[
        Fault(
            f"nvmlInit returns {code}",
            "libnvidia-ml.so.1 shim",
            _nvml(init_error=code),
            "driver::nvml_initialises",
            "failed",
            _pynvml_class(code) if code != "UNKNOWN" else "NVMLError_Unknown",
        )
        for code in NVML_INIT_CODES
    ],
    Fault(
        "NVML segfaults in nvmlInit",
        "libnvidia-ml.so.1 shim",
        _nvml(fault="segfault"),
        "driver::nvml_initialises",
        "error",
        "SIGSEGV",
    ),
    Fault(
        "NVML aborts in nvmlInit",
        "libnvidia-ml.so.1 shim",
        _nvml(fault="abort"),
        "driver::nvml_initialises",
        "error",
        "SIGABRT",
    ),
    Fault(
        "NVML hangs in nvmlInit",
        "libnvidia-ml.so.1 shim",
        _nvml(fault="hang"),
        "driver::nvml_initialises",
        "error",
        "timeout",
        hangs=True,
    ),
    Fault(
        "libnvidia-ml.so.1 is missing",
        "library path",
        _nvml(missing=True),
        "driver::nvml_initialises",
        "failed",
        "NVMLError_LibraryNotFound",
    ),
    Fault(
        "a CUDA library segfaults on load",
        "libcublas shim",
        _lib("cublas", fault="segfault"),
        "libraries::library_loads_and_reports_its_version[cublas]",
        "failed",
        "SIGSEGV",
    ),
    Fault(
        "a CUDA library aborts on load",
        "libcufft shim",
        _lib("cufft", fault="abort"),
        "libraries::library_loads_and_reports_its_version[cufft]",
        "failed",
        "SIGABRT",
    ),
    Fault(
        "a CUDA library hangs on load",
        "libcusparse shim",
        _lib("cusparse", fault="hang"),
        "libraries::library_loads_and_reports_its_version[cusparse]",
        "failed",
        "hangs on load",
        hangs=True,
    ),
]


#: Faults of the run itself, each with its own test in tests/test_faults_runtime.py (or the named file).
OTHER_ROWS = [
    (
        "a TensorFlow child killed by a signal",
        "sitecustomize in the TF child",
        "test_faults_runtime.py::test_a_broken_tensorflow_child_is_named_and_the_run_goes_on[signal]",
    ),
    (
        "a TensorFlow child that hangs",
        "sitecustomize in the TF child",
        "test_faults_runtime.py::test_a_broken_tensorflow_child_is_named_and_the_run_goes_on[hang]",
    ),
    (
        "a TensorFlow child that prints invalid JSON",
        "sitecustomize in the TF child",
        "test_faults_runtime.py::test_a_broken_tensorflow_child_is_named_and_the_run_goes_on[garbage]",
    ),
    (
        "Ctrl-C in the middle of a run",
        "SIGINT to pytest",
        "test_faults_runtime.py::test_ctrl_c_mid_run_still_writes_the_reports_of_what_ran",
    ),
    (
        "an xdist worker crashes",
        "os._exit in a worker",
        "test_faults_runtime.py::test_a_crashed_xdist_worker_is_reported_and_the_run_goes_on",
    ),
    (
        "reports/ cannot be written",
        "--host-reports under a file",
        "test_faults_runtime.py::test_an_unwritable_reports_directory_is_a_usage_error_before_anything_runs",
    ),
    (
        "NVML garbage: negative count, unterminated name, absurd memory",
        "libnvidia-ml.so.1 shim",
        "test_probe_driver.py (garbage cases)",
    ),
    (
        "sysfs/procfs files missing, empty, unreadable, malformed, or a directory",
        "root tree",
        "test_probe_driver.py (sysfs and procfs edge cases)",
    ),
    ("a CUDA library with no version symbol, or version 0", "library shims", "test_probe_libraries.py"),
]


def catalogue() -> str:
    """The Markdown table of docs/faults.md."""
    lines = [
        "# Fault catalogue",
        "",
        "Generated from `tests/test_faults.py` (`python -m tests.test_faults > docs/faults.md`); one test per row.",
        "Each row: the suite runs against a simulated host with that fault; the named check fails or errors",
        "with the named words, pytest survives (exit 1), the run ends within "
        f"{TIME_BOUND:.0f} s (probe timeout {PROBE_TIMEOUT:.0f} s for a hang, "
        f"{ANSWERING_PROBE_TIMEOUT:.0f} s otherwise), and all four reports are written and valid.",
        "",
        "| # | fault | injected at | check | outcome | the message names |",
        "|---|---|---|---|---|---|",
    ]
    for i, f in enumerate(FAULTS, 1):
        lines.append(f"| {i} | {f.name} | {f.seam} | `{f.check}` | {f.outcome} | {f.words} |")
    lines += [
        "",
        "Faults of the run itself (same guarantees; each row is one test):",
        "",
        "| # | fault | injected at | test |",
        "|---|---|---|---|",
    ]
    for i, (name, seam, test) in enumerate(OTHER_ROWS, len(FAULTS) + 1):
        lines.append(f"| {i} | {name} | {seam} | `tests/{test}` |")
    lines += [
        "",
        "Timeouts: `--host-probe-timeout` (ini `host_probe_timeout`, env `GPUCONFORM_PROBE_TIMEOUT`,",
        "default 20 s) bounds each NVML and library-loading child; `--host-tf-timeout` (ini `host_tf_timeout`,",
        "env `GPUCONFORM_TF_TIMEOUT`, default 300 s) bounds each TensorFlow child. A library that hangs costs",
        "one probe timeout, and the probe stops starting new children after three.",
    ]
    lines += render("faults", len(FAULTS) + len(OTHER_ROWS) + 1)
    return "\n".join(lines) + "\n"


def test_the_catalogue_in_the_docs_matches_the_tests() -> None:
    assert DOC.read_text() == catalogue(), "regenerate with: python -m tests.test_faults > docs/faults.md"


def test_every_catalogued_row_is_a_test() -> None:
    assert untested() == []


@pytest.mark.parametrize("fault", FAULTS, ids=[f.name for f in FAULTS])
def test_the_fault_is_survived_named_bounded_and_reported(fault: Fault, tmp_path: Path) -> None:
    require_compiler()
    host = build_host(fault.build(), tmp_path / "host")
    # The bound is enforced as the run's own timeout (TimeoutExpired fails the test), not as
    # an assertion on a measured time.
    probe_timeout = PROBE_TIMEOUT if fault.hangs else ANSWERING_PROBE_TIMEOUT
    proc = run_suite(host, tmp_path, "--host-probe-timeout", str(probe_timeout), timeout=TIME_BOUND)
    assert proc.returncode == 1, f"pytest exited {proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
    result = assert_reports_valid(tmp_path / "reports")
    checks = {c["id"]: c for c in result["checks"]}
    check = checks[fault.check]
    text = f"{check['reason']}\n{check['message']}"
    assert check["outcome"] == fault.outcome, check
    assert fault.words in text, text


if __name__ == "__main__":
    sys.stdout.write(catalogue())
