"""Every input bounded and validated: FIFOs, devices, links, huge numbers, garbage values, odd text.

Each row runs the real suite in a subprocess. A file the suite must read is a FIFO (which would
block forever), /dev/zero (which never ends) or a link to one; a number has thousands of digits;
a value has the right type but cannot be a version; a string holds lone surrogates or control
characters that XML forbids. Bad input files are usage errors (exit 4) naming the file and key;
bad host files are facts the probes record as unreadable; odd text leaves every report valid.
The Hypothesis tests at the end feed arbitrary content to each file input the same way.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from gpuconform.expect.loading import load_matrices
from gpuconform.plugin.keys import suites_dir
from gpuconform.probes.host import facts_json
from gpuconform.probes.host import probe_host
from tests.catalogue import Row
from tests.catalogue import catalogued
from tests.reportcheck import assert_reports_valid
from tests.simhost.rootfs import materialise_root
from tests.simhost.spec import load_spec

REPO = Path(__file__).resolve().parents[1]
SPECS = Path(__file__).parent / "simhost" / "specs"
READING = "Reading: every input bounded and validated"
TEXT = "Text from outside in every report"
HOST_FILES = "Host files below --host-root"
HUGE = "9" * 5001
PROFILE = '[profile]\nname = "p"\ndescription = "{description}"\n[gpus]\ncount = 0\n'
#: A run reads a whole file in well under this; a FIFO or /dev/zero would never end without the reader's guard.
RUN_TIMEOUT = 300


def _suite(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    run_env = dict(os.environ if env is None else env)
    run_env.pop("GPUCONFORM_PROFILE", None)
    argv = [sys.executable, "-m", "pytest", str(suites_dir()), "-p", "no:cacheprovider", *args]
    return subprocess.run(argv, cwd=cwd, env=run_env, capture_output=True, text=True, timeout=RUN_TIMEOUT, check=False)


@pytest.fixture(scope="module")
def recorded_facts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """This host's facts, as a facts.json holds them."""
    return dict(json.loads(facts_json(probe_host(load_matrices(None)))))


# ---- bad input files: usage errors ---------------------------------------------------------------


def _fifo(name: str) -> Callable[[Path, dict[str, Any]], Path]:
    def make(base: Path, facts: dict[str, Any]) -> Path:
        os.mkfifo(base / name)
        return base / name

    return make


def _link_to_dev_zero(base: Path, facts: dict[str, Any]) -> Path:
    (base / "p.toml").symlink_to("/dev/zero")
    return base / "p.toml"


def _matrix_fifo(base: Path, facts: dict[str, Any]) -> Path:
    target = base / "matrices"
    shutil.copytree(REPO / "matrices", target, ignore=shutil.ignore_patterns("__pycache__"))
    (target / "tensorflow.toml").unlink()
    os.mkfifo(target / "tensorflow.toml")
    return target


def _matrix_huge_number(base: Path, facts: dict[str, Any]) -> Path:
    target = base / "matrices"
    shutil.copytree(REPO / "matrices", target, ignore=shutil.ignore_patterns("__pycache__"))
    path = target / "gpus.toml"
    path.write_text(path.read_text() + f"\n[extra]\nbig = {HUGE}\n")
    return target


def _text(name: str, body: str) -> Callable[[Path, dict[str, Any]], Path]:
    def make(base: Path, facts: dict[str, Any]) -> Path:
        (base / name).write_text(body)
        return base / name

    return make


def _facts(edit: Callable[[dict[str, Any]], None], raw: Callable[[str], str] = lambda t: t) -> Any:
    def make(base: Path, facts: dict[str, Any]) -> Path:
        data = json.loads(json.dumps(facts))
        edit(data)
        (base / "facts.json").write_text(raw(json.dumps(data)))
        return base / "facts.json"

    return make


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node = data
        for key in parents:
            node = node[key]
        node[last] = value

    return edit


def _with_gpu(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(data: dict[str, Any]) -> None:
        data["driver"]["nvml"]["gpus"] = [{"index": 0, "name": "Tesla T4", key: value}]

    return edit


def _with_pci(key: str, value: int) -> Callable[[dict[str, Any]], None]:
    def edit(data: dict[str, Any]) -> None:
        device = {"address": "0000:00:04.0", "vendor_id": 0x10DE, "device_id": 0x1EB8, "class_code": 0x030200}
        data["driver"]["pci_devices"] = [{**device, "bound_driver": "nvidia", key: value}]

    return edit


BAD: dict[str, tuple[str, Any, tuple[str, ...]]] = {
    # id: (flag, make, words the ERROR line must contain)
    "profile-fifo": ("--host-profile", _fifo("p.toml"), ("is a FIFO (named pipe), expected a regular file",)),
    "facts-fifo": ("--host-facts", _fifo("facts.json"), ("is a FIFO (named pipe), expected a regular file",)),
    "matrix-fifo": ("--host-matrices", _matrix_fifo, ("tensorflow.toml", "is a FIFO (named pipe)")),
    "facts-dev-zero": ("--host-facts", lambda base, facts: Path("/dev/zero"), ("/dev/zero: is a character device",)),
    "profile-link-dev-zero": ("--host-profile", _link_to_dev_zero, ("is a link to /dev/zero, a character device",)),
    "profile-huge-number": (
        "--host-profile",
        _text("p.toml", f'[profile]\nname = "p"\ndescription = "d"\n[gpus]\ncount = {HUGE}\n'),
        ("holds a number with more than 4300 digits",),
    ),
    "facts-huge-number": (
        "--host-facts",
        _facts(_set("host.hostname", "HUGE"), lambda t: t.replace('"HUGE"', HUGE)),
        ("holds a number with more than 4300 digits",),
    ),
    "matrix-huge-number": ("--host-matrices", _matrix_huge_number, ("gpus.toml", "holds a number with more than 4300")),
    "facts-python-banana": (
        "--host-facts",
        _facts(_set("platform.python_version", "banana")),
        ("platform.python_version: not a version: 'banana'",),
    ),
    "facts-driver-garbage": (
        "--host-facts",
        _facts(_set("driver.nvml.driver_version", "5x0.54")),
        ("driver.nvml.driver_version: not a driver version: '5x0.54'",),
    ),
    "facts-int-beyond-64-bits": (
        "--host-facts",
        _facts(_with_gpu("memory_total_mib", 2**70)),
        ("driver.nvml.gpus[0].memory_total_mib: integer out of range",),
    ),
    "facts-pci-id-beyond-16-bits": (
        "--host-facts",
        _facts(_with_pci("vendor_id", 0x10DE0)),
        ("driver.pci_devices[0].vendor_id: 0x10de0 does not fit in 16 bits",),
    ),
    "facts-cc-out-of-range": (
        "--host-facts",
        _facts(_with_gpu("compute_capability", [7, 55])),
        ("driver.nvml.gpus[0].compute_capability: compute capability 7.55 is out of range",),
    ),
    "profile-driver-min-above-max": (
        "--host-profile",
        _text(
            "p.toml",
            '[profile]\nname = "p"\ndescription = "d"\n[gpus]\ncount = 0\n'
            '[driver]\nmin_version = "560.28"\nmax_version = "550"\n',
        ),
        ("driver.min_version: '560.28' is not below driver.max_version '550'",),
    ),
}
BAD_ROWS = [
    Row(
        "bad-input",
        READING,
        case_id.replace("-", " "),
        f"`{flag}`",
        "exit 4; " + "; ".join(f"`{w}`" for w in words),
        case_id,
    )
    for case_id, (flag, _, words) in BAD.items()
]


@catalogued(BAD_ROWS)
def test_a_bad_input_file_is_a_usage_error_naming_it(
    row: Row, tmp_path: Path, recorded_facts: dict[str, Any]
) -> None:
    flag, make, words = BAD[row.id]
    target = make(tmp_path, recorded_facts)
    args = ["-m", "platform", f"{flag}={target}"]
    if flag != "--host-profile":
        args += ["--host-profile", "cpu"]
    proc = _suite(tmp_path, *args)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 4, output[-3000:]
    assert "Traceback" not in output and "INTERNALERROR" not in output, output[-3000:]
    error = next(line for line in proc.stderr.splitlines() if line.startswith("ERROR:"))
    assert target.name in error, error
    for word in words:
        assert word in error, error


# ---- text from outside: every report stays valid --------------------------------------------------


def _hostname_surrogate(tmp_path: Path, facts: dict[str, Any]) -> tuple[list[str], dict[str, str] | None]:
    data = json.loads(json.dumps(facts))
    data["host"]["hostname"] = "node-\udcff-\u0001"
    (tmp_path / "facts.json").write_text(json.dumps(data))  # json escapes both: a valid file of a bad name
    return ["--host-facts", str(tmp_path / "facts.json"), "--host-profile", "cpu"], None


def _node_name_not_utf8(tmp_path: Path, facts: dict[str, Any]) -> tuple[list[str], dict[str, str] | None]:
    env = dict(os.environ)
    env["GPUCONFORM_NODE_NAME"] = os.fsdecode(b"node-\xff\x01")  # what a shell's $'\xff\x01' gives us
    return ["--host-profile", "cpu"], env


def _profile_control_chars(tmp_path: Path, facts: dict[str, Any]) -> tuple[list[str], dict[str, str] | None]:
    (tmp_path / "p.toml").write_text(PROFILE.format(description="lab \\u0001 box \\u001b[31m <b>&"))
    return ["--host-profile", str(tmp_path / "p.toml")], None


ODD_TEXT = {
    "facts-hostname-surrogate": ("a facts hostname with a lone surrogate and a control character", _hostname_surrogate),
    "node-name-not-utf8": ("GPUCONFORM_NODE_NAME=$'\\xff\\x01'", _node_name_not_utf8),
    "profile-description-control": (
        "a profile description with \\u0001, an escape sequence and markup",
        _profile_control_chars,
    ),
}
ALL_VALID = "exit 0; junit.xml, report.html, facts.json, result.json valid"
TEXT_ROWS = [Row("faults", TEXT, case, "facts, environment, profile", ALL_VALID, i) for i, (case, _)
             in ODD_TEXT.items()]


@catalogued(TEXT_ROWS)
def test_text_from_outside_leaves_every_report_valid(row: Row, tmp_path: Path, recorded_facts: dict[str, Any]) -> None:
    args, env = ODD_TEXT[row.id][1](tmp_path, recorded_facts)
    proc = _suite(tmp_path, "-m", "platform", *args, env=env)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-3000:]
    assert "Traceback" not in output and "INTERNALERROR" not in output
    assert_reports_valid(tmp_path / "reports")
    page = (tmp_path / "reports/report.html").read_text(encoding="utf-8")
    assert page.rstrip().endswith("</html>")
    assert "\x01" not in page and "<b>&" not in page


# ---- host files below --host-root: recorded as unreadable, never a hang ---------------------------


def _host_root(tmp_path: Path) -> Path:
    return materialise_root(load_spec(SPECS / "t4_healthy.toml"), tmp_path / "root")


def _replace_with_fifo(path: Path) -> None:
    path.unlink()
    os.mkfifo(path)


def _link(path: Path, target: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() or path.is_symlink():
        path.unlink()
    path.symlink_to(target)


HOST = {
    # id: (case, seam, edit of the root, (facts path, words))
    "os-release-dev-zero": (
        "etc/os-release is a link to /dev/zero",
        "`--host-root` etc/os-release",
        lambda root: _link(root / "etc/os-release", "/dev/zero"),
        None,
    ),
    "proc-version-fifo": (
        "a FIFO at proc/driver/nvidia/version",
        "`--host-root` procfs",
        lambda root: _replace_with_fifo(root / "proc/driver/nvidia/version"),
        ("driver.proc_version_error.message", "is a FIFO (named pipe)"),
    ),
    "proc-modules-fifo": (
        "a FIFO at proc/modules",
        "`--host-root` procfs",
        lambda root: _replace_with_fifo(root / "proc/modules"),
        ("driver.modules_error.message", "is a FIFO (named pipe)"),
    ),
    "proc-modules-huge": (
        "proc/modules of 2 MiB",
        "`--host-root` procfs",
        lambda root: (root / "proc/modules").write_text("x" * (2 * 1024 * 1024)),
        ("driver.modules_error.message", "is larger than"),
    ),
    "sysfs-vendor-dev-zero": (
        "a PCI vendor attribute linked to /dev/zero",
        "`--host-root` sysfs",
        lambda root: _link(root / "sys/bus/pci/devices/0000:00:04.0/vendor", "/dev/zero"),
        ("driver.pci_error.message", "a character device"),
    ),
}
HOST_ROWS = [
    Row(
        "faults",
        HOST_FILES,
        case,
        seam,
        "the run ends; the fact is recorded as unreadable" + (f" (`{expect[1]}`)" if expect else "") + "; reports ok",
        case_id,
    )
    for case_id, (case, seam, _, expect) in HOST.items()
]


def _at(data: Any, path: str) -> Any:
    for key in path.split("."):
        data = data[key] if data is not None else None
    return data


@catalogued(HOST_ROWS)
def test_a_host_file_that_is_no_regular_file_is_recorded_never_read(row: Row, tmp_path: Path) -> None:
    _, _, edit, expect = HOST[row.id]
    root = _host_root(tmp_path)
    edit(root)
    proc = _suite(tmp_path, "-m", "platform or driver", "--host-root", str(root), "--host-profile", "cpu")
    output = proc.stdout + proc.stderr
    assert proc.returncode in (0, 1), output[-3000:]
    assert "Traceback" not in output and "INTERNALERROR" not in output
    assert_reports_valid(tmp_path / "reports")
    if expect is not None:
        facts = json.loads((tmp_path / "reports/facts.json").read_text())
        assert expect[1] in str(_at(facts, expect[0])), _at(facts, expect[0].rsplit(".", 1)[0])


# ---- fuzz: arbitrary content in each file input -----------------------------------------------------

FUZZ = settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
#: Any code point, lone surrogates and control characters included.
ANY_TEXT = st.text(st.characters(exclude_categories=()), max_size=40)


def _assert_usage_error_or_valid_run(proc: subprocess.CompletedProcess[str], reports: Path) -> None:
    output = proc.stdout + proc.stderr
    assert "Traceback" not in output and "INTERNALERROR" not in output, output[-3000:]
    assert proc.returncode in (0, 1, 4), output[-3000:]
    if proc.returncode == 4:
        assert any(line.startswith("ERROR:") for line in proc.stderr.splitlines()), output[-3000:]
    else:
        assert_reports_valid(reports)


def _fresh(tmp_path: Path) -> Path:
    work = tmp_path / f"run{len(list(tmp_path.iterdir()))}"
    work.mkdir()
    return work


@FUZZ
@given(raw=st.binary(max_size=300) | ANY_TEXT.map(lambda t: PROFILE.format(description=json.dumps(t)[1:-1]).encode()))
def test_any_profile_content_is_a_usage_error_or_a_valid_run(tmp_path: Path, raw: bytes) -> None:
    work = _fresh(tmp_path)
    (work / "p.toml").write_bytes(raw)
    proc = _suite(work, "-m", "platform", "--host-profile", str(work / "p.toml"))
    _assert_usage_error_or_valid_run(proc, work / "reports")


@FUZZ
@given(
    raw=st.binary(max_size=300),
    text=ANY_TEXT,
    where=st.sampled_from(["host.hostname", "platform.distro", "platform.kernel_release"]),
)
def test_any_facts_content_is_a_usage_error_or_a_valid_run(
    tmp_path: Path, recorded_facts: dict[str, Any], raw: bytes, text: str, where: str
) -> None:
    work = _fresh(tmp_path)
    data = json.loads(json.dumps(recorded_facts))
    _set(where, text)(data)
    # Half the time arbitrary bytes, half the time a real facts file with an arbitrary string in it.
    (work / "facts.json").write_bytes(raw if len(raw) % 2 else json.dumps(data).encode())
    proc = _suite(work, "-m", "platform", "--host-facts", str(work / "facts.json"), "--host-profile", "cpu")
    _assert_usage_error_or_valid_run(proc, work / "reports")


@FUZZ
@given(raw=st.binary(max_size=300), name=st.sampled_from(["tensorflow.toml", "gpus.toml", "cuda_drivers.toml"]))
def test_any_matrix_content_is_a_usage_error_or_a_valid_run(tmp_path: Path, raw: bytes, name: str) -> None:
    work = _fresh(tmp_path)
    shutil.copytree(REPO / "matrices", work / "matrices", ignore=shutil.ignore_patterns("__pycache__"))
    (work / "matrices" / name).write_bytes(raw)
    proc = _suite(work, "-m", "platform", "--host-matrices", str(work / "matrices"), "--host-profile", "cpu")
    _assert_usage_error_or_valid_run(proc, work / "reports")


HOST_FILE_NAMES = [
    "etc/os-release",
    "proc/modules",
    "proc/driver/nvidia/version",
    "proc/1/cgroup",
    "sys/bus/pci/devices/0000:00:04.0/vendor",
    "sys/bus/pci/devices/0000:00:04.0/class",
    "sys/bus/pci/devices/0000:00:04.0/current_link_width",
]


@FUZZ
@given(raw=st.binary(max_size=400), name=st.sampled_from(HOST_FILE_NAMES), kind=st.sampled_from(["bytes", "fifo", "0"]))
def test_any_host_file_content_is_recorded_and_the_run_is_valid(
    tmp_path: Path, raw: bytes, name: str, kind: str
) -> None:
    work = _fresh(tmp_path)
    root = _host_root(work)
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.unlink()
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "0":
        path.symlink_to("/dev/zero")
    else:
        path.write_bytes(raw)
    proc = _suite(work, "-m", "platform or driver", "--host-root", str(root), "--host-profile", "cpu")
    assert proc.returncode in (0, 1), (proc.stdout + proc.stderr)[-3000:]
    _assert_usage_error_or_valid_run(proc, work / "reports")

CATALOGUE = BAD_ROWS + TEXT_ROWS + HOST_ROWS
