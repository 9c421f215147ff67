"""Signals and children: SIGTERM stops a run as Ctrl-C does, and no child outlives the pytest process.

Each catalogued row runs the real suite in a subprocess and signals it for real, at a point a
file or the process tree says has been reached (never a clock): a probe child hanging in a
simulated host's NVML or CUDA library, a TensorFlow child hanging through the faultseams, or a
test-only plugin that signals its own process between two checks or while the reports are
written. Processes are followed through /proc, each by PID and start time, and every wait is
a poll with a generous bound.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from gpuconform.plugin.keys import suites_dir
from gpuconform.probes import reaper
from gpuconform.probes.child import private_keras_home
from gpuconform.probes.child import run_python
from tests.catalogue import Row
from tests.catalogue import catalogued
from tests.reportcheck import assert_reports_valid
from tests.reportcheck import reported
from tests.simhost.cc import require_compiler
from tests.simhost.host import build_host
from tests.simhost.spec import HostSpec
from tests.simhost.spec import load_spec

REPO = Path(__file__).resolve().parents[1]
SEAMS = Path(__file__).parent / "faultseams"
SPECS = Path(__file__).parent / "simhost" / "specs"
SECTION = "Signals and children"
#: Generous bounds for polls (a loaded 2-core machine starts a pytest run in seconds, not minutes).
STARTUP_BOUND = 300.0
GONE_BOUND = 120.0
VICTIM = "test_python_is_inside_the_tensorflow_range"
VICTIM_ID = "platform::python_is_inside_the_tensorflow_range"
LOW_LAYERS = "platform or driver or libraries"

if not sys.platform.startswith("linux"):
    pytest.skip("follows processes through /proc", allow_module_level=True)


def _row(case: str, seam: str, expect: str, id: str) -> Row:
    return Row("faults", SECTION, case, seam, expect, id)


DURING_A_CHILD = [
    _row(
        "SIGTERM while the NVML probe child hangs (before any check runs)",
        "SIGTERM to pytest; NVML shim hangs in nvmlInit",
        "exit 2; the terminal says SIGTERM; the probe child is killed",
        "sigterm-nvml-probe",
    ),
    _row(
        "SIGTERM while a library-loading child hangs (before any check runs)",
        "SIGTERM to pytest; libcufft shim hangs on load",
        "exit 2; the terminal says SIGTERM; the load child is killed",
        "sigterm-library-probe",
    ),
    _row(
        "SIGTERM while a TensorFlow child runs",
        "SIGTERM to pytest; sitecustomize hangs the TF child",
        "exit 2; the terminal says SIGTERM; the child is killed; the reports of the checks that ran are written",
        "sigterm-tensorflow-child",
    ),
    _row(
        "SIGTERM to the controller of an xdist run (-n 2) while a worker runs a TensorFlow child",
        "SIGTERM to pytest; sitecustomize hangs the TF child",
        "exit 2; the terminal says SIGTERM; no worker and no child remains; the reports are written",
        "sigterm-xdist-controller",
    ),
]
BETWEEN_CHECKS = [
    _row(
        "SIGTERM between two checks",
        "SIGTERM to pytest (test plugin, after a platform check)",
        "exit 2; the terminal says SIGTERM; the reports list the checks that ran and none after",
        "sigterm-between-checks",
    ),
    _row(
        "SIGINT (Ctrl-C) between two checks, with the SIGTERM handling installed",
        "SIGINT to pytest (test plugin, after a platform check)",
        "exit 2; KeyboardInterrupt; the reports list the checks that ran",
        "sigint-between-checks",
    ),
    _row(
        "a second SIGTERM while the reports are being written",
        "SIGTERM between checks, then again in sessionfinish",
        "the second is noted, not raised: all four reports complete and valid; exit 2; 'SIGTERM (2 times)'",
        "second-sigterm-while-finishing",
    ),
    _row(
        "SIGTERM after the last check, while the reports are being written",
        "SIGTERM to pytest in sessionfinish",
        "noted, not raised: every check reported, all four reports valid; exit 2; the terminal says SIGTERM",
        "sigterm-while-finishing",
    ),
]
SIGKILL = [
    _row(
        "SIGKILL of pytest while the NVML probe child hangs",
        "SIGKILL to pytest; NVML shim hangs in nvmlInit",
        "no process the run started remains (the kernel's death signal, the reaper)",
        "sigkill-nvml-probe",
    ),
    _row(
        "SIGKILL of pytest while a library-loading child hangs",
        "SIGKILL to pytest; libcufft shim hangs on load",
        "no process the run started remains",
        "sigkill-library-probe",
    ),
    _row(
        "SIGKILL of pytest while a TensorFlow child hangs with a process of its own",
        "SIGKILL to pytest; sitecustomize spawns a grandchild and hangs",
        "neither the child nor its grandchild remains (the reaper kills the child's process group)",
        "sigkill-tensorflow-grandchild",
    ),
    _row(
        "SIGKILL of a process holding a memory-layer child (tfhold)",
        "SIGKILL to the parent of gpuconform.frameworks.hold.hold",
        "the holding child and what it spawned do not remain",
        "sigkill-hold-child",
    ),
]
LEFT_BEHIND = [
    _row(
        "a TensorFlow child exits and leaves a process of its own running",
        "sitecustomize spawns a grandchild and exits",
        "the grandchild is killed with the child's process group when the child ends",
        "child-leaves-a-process",
    ),
]
HOME_ROWS = [
    _row(
        "a whole run with HOME an empty directory (Keras writes ~/.keras/keras.json on import)",
        "HOME, KERAS_HOME",
        "exit 0 and HOME stays empty: every child gets a temporary KERAS_HOME, removed afterwards",
        "home-untouched",
    ),
]
CATALOGUE = [*DURING_A_CHILD, *BETWEEN_CHECKS, *SIGKILL, *LEFT_BEHIND, *HOME_ROWS]


# ---- processes, followed through /proc --------------------------------------------------------


@dataclass(frozen=True)
class Proc:
    """A process, identified by PID and start time (a PID can be reused; the pair cannot)."""

    pid: int
    started: int
    cmdline: str


def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state, ppid, start time) of `pid`, or None when there is no such process."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rpartition(")")[2].split()  # the command name, in parentheses, may hold spaces
    return fields[0], int(fields[1]), int(fields[19])


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def process(pid: int) -> Proc | None:
    stat = _stat(pid)
    return None if stat is None else Proc(pid, stat[2], _cmdline(pid))


def alive(p: Proc) -> bool:
    """Whether `p` still runs (a zombie waiting for init to reap it has ended)."""
    stat = _stat(p.pid)
    return stat is not None and stat[0] not in ("Z", "X") and stat[2] == p.started


def descendants(pid: int) -> list[Proc]:
    """Every live process below `pid` in the process tree."""
    parent_of: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = _stat(int(entry.name))
            if stat is not None and stat[0] not in ("Z", "X"):
                parent_of[int(entry.name)] = stat[1]
    found: list[int] = []
    frontier = {pid}
    while frontier:
        children = [p for p, ppid in parent_of.items() if ppid in frontier and p not in found]
        found += children
        frontier = set(children)
    return [p for p in map(process, found) if p is not None]


def poll(condition: Callable[[], bool], what: str, bound: float) -> None:
    """Wait until `condition()` holds; fail naming `what` if it has not after `bound` seconds."""
    deadline = time.monotonic() + bound
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"still waiting after {bound:.0f} s for {what}")
        time.sleep(0.1)


def assert_all_gone(procs: list[Proc]) -> None:
    """Every process of `procs` ends (polled): none outlives the run that started it."""
    poll(lambda: not [p for p in procs if alive(p)], "the run's processes to end", GONE_BOUND)


# ---- runs --------------------------------------------------------------------------------------


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(SEAMS), str(REPO), *filter(None, [env.get("PYTHONPATH")])])
    env.pop("GPUCONFORM_PROFILE", None)
    env.update(extra)
    return env


@dataclass
class Run:
    """A pytest run in the background, its output going to a file."""

    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait(self) -> int:
        return self.proc.wait(timeout=STARTUP_BOUND)

    def children_matching(self, needle: str) -> list[Proc]:
        return [p for p in descendants(self.proc.pid) if needle in p.cmdline]


@dataclass(frozen=True)
class Scenario:
    """How to start a run that reaches a child, and how to tell that it has."""

    argv: list[str]
    env: dict[str, str]
    ready: Callable[[Run], bool]
    reports: bool  # whether checks ran before the signal, so reports must be written


def _start(scenario: Scenario, tmp_path: Path) -> Run:
    log = tmp_path / "output.txt"
    with log.open("wb") as out:
        popen = subprocess.Popen(scenario.argv, cwd=tmp_path, env=scenario.env, stdout=out, stderr=subprocess.STDOUT)
    run = Run(popen, log)
    poll(lambda: scenario.ready(run) or popen.poll() is not None, "the run to reach its child", STARTUP_BOUND)
    assert popen.poll() is None, f"the run ended before reaching its child:\n{run.output[-3000:]}"
    return run


def _suite(*args: str) -> list[str]:
    return [sys.executable, "-m", "pytest", str(suites_dir()), "-p", "no:cacheprovider", *args]


def _maps(p: Proc) -> str:
    try:
        return Path(f"/proc/{p.pid}/maps").read_text()
    except OSError:
        return ""


def _simulated(spec: HostSpec, tmp_path: Path, needle: str, hangs_in: str) -> Scenario:
    """A simulated host whose probe child `needle` hangs inside library `hangs_in`."""
    require_compiler()
    host = build_host(spec, tmp_path / "host")
    argv = _suite("-m", LOW_LAYERS, "--host-root", str(host.root), "--host-profile", host.profile_arg)
    argv += ["--host-probe-timeout", "600"]

    def hanging(run: Run) -> bool:
        # Ready once the child has the hanging library mapped: it is inside its constructor or
        # nvmlInit, and will not die on its own (a child still printing would die of the closed
        # pipe once its parent is gone, and prove nothing).
        return any(hangs_in in _maps(p) for p in run.children_matching(needle))

    return Scenario(argv, host.env, hanging, reports=False)


def _healthy() -> HostSpec:
    return load_spec(SPECS / "t4_healthy.toml")


def _nvml_hangs(tmp_path: Path) -> Scenario:
    spec = _healthy()
    spec = dataclasses.replace(spec, nvml=dataclasses.replace(spec.nvml, fault="hang"))
    return _simulated(spec, tmp_path, "gpuconform.probes.nvml_child", "libnvidia-ml.so")


def _library_hangs(tmp_path: Path) -> Scenario:
    return _simulated(load_spec(SPECS / "lib_hang.toml"), tmp_path, "gpuconform.probes.libload_child", "libcufft")


def _pids(path: Path) -> list[int]:
    return [int(line) for line in path.read_text().split()] if path.exists() else []


def _tensorflow_hangs(tmp_path: Path, fault: str = "hang", processes: int = 1, *args: str) -> Scenario:
    pids = tmp_path / "tf-children.txt"
    env = _env(GPUCONFORM_TEST_TF_FAULT=fault, GPUCONFORM_TEST_TF_PIDS=str(pids), PYTHONUNBUFFERED="1")
    argv = _suite("--host-profile", "cpu", "-m", "platform or framework", "--host-tf-timeout", "600", "-v", *args)
    # Children start when collection ends: on a loaded machine the child may hang before the
    # platform check the reports must show has run, so wait for both.
    return Scenario(argv, env, lambda run: len(_pids(pids)) >= processes and reported(run.output, VICTIM), reports=True)


SCENARIOS: dict[str, Callable[[Path], Scenario]] = {
    "sigterm-nvml-probe": _nvml_hangs,
    "sigterm-library-probe": _library_hangs,
    "sigterm-tensorflow-child": _tensorflow_hangs,
    "sigterm-xdist-controller": lambda tmp_path: _tensorflow_hangs(tmp_path, "hang", 1, "-n", "2"),
    "sigkill-nvml-probe": _nvml_hangs,
    "sigkill-library-probe": _library_hangs,
    "sigkill-tensorflow-grandchild": lambda tmp_path: _tensorflow_hangs(tmp_path, "hang-with-grandchild", 2),
}


# ---- SIGTERM -----------------------------------------------------------------------------------


@catalogued(DURING_A_CHILD)
def test_sigterm_while_a_child_runs_stops_the_run_as_ctrl_c_does(row: Row, tmp_path: Path) -> None:
    scenario = SCENARIOS[row.id](tmp_path)
    run = _start(scenario, tmp_path)
    started = descendants(run.proc.pid)
    run.proc.send_signal(signal.SIGTERM)
    code = run.wait()
    output = run.output
    assert code == pytest.ExitCode.INTERRUPTED, output[-3000:]
    assert "SIGTERM" in output
    assert "INTERNALERROR" not in output and "Traceback" not in output, output[-3000:]
    assert_all_gone(started)
    if scenario.reports:
        result = assert_reports_valid(tmp_path / "reports")
        assert VICTIM_ID in {c["id"] for c in result["checks"]}  # what ran before SIGTERM is reported


SIGNAL_AT = {
    "sigterm-between-checks": {"GPUCONFORM_TEST_SIGNAL_AFTER": f"{VICTIM}:SIGTERM"},
    "sigint-between-checks": {"GPUCONFORM_TEST_SIGNAL_AFTER": f"{VICTIM}:SIGINT"},
    "second-sigterm-while-finishing": {
        "GPUCONFORM_TEST_SIGNAL_AFTER": f"{VICTIM}:SIGTERM",
        "GPUCONFORM_TEST_SIGNAL_AT_FINISH": "SIGTERM",
    },
    "sigterm-while-finishing": {"GPUCONFORM_TEST_SIGNAL_AT_FINISH": "SIGTERM"},
}
SAYS = {
    "sigterm-between-checks": "gpuconform: interrupted by SIGTERM: the reports cover the checks that ran",
    "sigint-between-checks": "KeyboardInterrupt",
    "second-sigterm-while-finishing": "gpuconform: interrupted by SIGTERM (2 times)",
    "sigterm-while-finishing": "gpuconform: interrupted by SIGTERM: the reports cover the checks that ran",
}


@catalogued(BETWEEN_CHECKS)
def test_a_signal_between_checks_or_at_the_end_leaves_the_reports_of_what_ran(row: Row, tmp_path: Path) -> None:
    argv = _suite("--host-profile", "cpu", "-m", "platform or driver", "-p", "tests.faultseams.signals")
    proc = subprocess.run(
        argv, cwd=tmp_path, env=_env(**SIGNAL_AT[row.id]), capture_output=True, text=True, timeout=600, check=False
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == pytest.ExitCode.INTERRUPTED, output[-3000:]
    assert SAYS[row.id] in output, output[-3000:]
    assert "INTERNALERROR" not in output, output[-3000:]
    result = assert_reports_valid(tmp_path / "reports")
    ran = {c["id"]: c["outcome"] for c in result["checks"]}
    assert ran.get(VICTIM_ID) == "passed"
    # What ran passed, but a run cut short never says PASS: the layers after the signal went unchecked.
    last = proc.stdout.rstrip().splitlines()[-1]
    assert last.startswith("host verdict: INCOMPLETE (profile cpu): the run was interrupted; the "), last
    driver_ran = [i for i, outcome in ran.items() if i.startswith("driver::") and outcome != "not-run"]
    if row.id == "sigterm-while-finishing":
        assert driver_ran, "every check ran before the signal, and each is reported"
    else:
        assert not driver_ran, f"checks after the signal must not run: {driver_ran}"


# ---- SIGKILL -----------------------------------------------------------------------------------

#: A held child (tfhold protocol) that never gets ready, with a process of its own.
HOLDING = """
import subprocess, sys, time
grandchild = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(10**6)'])
with open(sys.argv[1], 'a') as f:
    f.write(f'{grandchild.pid}\\n')
time.sleep(10**6)
"""
#: The parent: holds such a child with gpuconform.frameworks.hold.hold, as the memory layer does.
HOLDER = """
import sys
from gpuconform.frameworks.hold import hold
from gpuconform.frameworks.tensorflow.framework import FRAMEWORK
with hold(FRAMEWORK, 'm', 'x', env={}, timeout=600, argv=[sys.executable, '-c', sys.argv[1], sys.argv[2]]):
    pass
"""


def _holder(tmp_path: Path) -> Scenario:
    pids = tmp_path / "held.txt"
    argv = [sys.executable, "-c", HOLDER, HOLDING, str(pids)]
    return Scenario(argv, _env(), lambda run: len(_pids(pids)) >= 1, reports=False)


SCENARIOS["sigkill-hold-child"] = _holder


@catalogued(SIGKILL)
def test_no_process_the_run_started_outlives_a_sigkill_of_it(row: Row, tmp_path: Path) -> None:
    run = _start(SCENARIOS[row.id](tmp_path), tmp_path)
    started = descendants(run.proc.pid)
    assert started, "the run has children to leave behind"
    run.proc.send_signal(signal.SIGKILL)
    assert run.wait() == -signal.SIGKILL
    assert_all_gone(started)


# ---- what a child leaves behind -----------------------------------------------------------------


@catalogued(LEFT_BEHIND)
def test_a_process_a_child_leaves_behind_is_killed_when_the_child_ends(row: Row, tmp_path: Path) -> None:
    pids = tmp_path / "tf-children.txt"
    proc = subprocess.run(
        _suite("--host-profile", "cpu", "-m", "framework", "--host-tf-timeout", "600"),
        cwd=tmp_path,
        env=_env(GPUCONFORM_TEST_TF_FAULT="leave-a-process", GPUCONFORM_TEST_TF_PIDS=str(pids)),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    started = _pids(pids)
    assert len(started) >= 2, "a TensorFlow child and the process it left behind"
    assert_all_gone([p for p in map(process, started) if p is not None])


# ---- HOME ---------------------------------------------------------------------------------------


@catalogued(HOME_ROWS)
def test_a_run_leaves_home_untouched(row: Row, tmp_path: Path) -> None:
    home = tmp_path / "home"
    scratch = tmp_path / "tmp"
    work = tmp_path / "work"
    for directory in (home, scratch, work):
        directory.mkdir()
    env = _env(HOME=str(home), TMPDIR=str(scratch))
    env.pop("KERAS_HOME", None)
    proc = subprocess.run(
        _suite("--host-profile", "cpu"), cwd=work, env=env, capture_output=True, text=True, timeout=1200, check=False
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert sorted(p.name for p in home.rglob("*")) == []
    assert sorted(p.name for p in scratch.glob("gpuconform-keras-home-*")) == []  # and removed after use


# ---- the pieces, one by one ----------------------------------------------------------------------


def test_a_child_sees_a_private_keras_home_with_a_copy_of_the_users_config(tmp_path: Path) -> None:
    (tmp_path / ".keras").mkdir()
    (tmp_path / ".keras" / "keras.json").write_text('{"image_data_format": "channels_first"}')
    env = {**os.environ, "HOME": str(tmp_path)}
    env.pop("KERAS_HOME", None)
    script = "import os; print(os.environ['KERAS_HOME']); print(open(os.environ['KERAS_HOME'] + '/keras.json').read())"
    result = run_python(["-c", script], env=env)
    keras_home, config = result.stdout.splitlines()[:2]
    assert config == '{"image_data_format": "channels_first"}'
    assert not Path(keras_home).exists()  # removed once the child has ended
    assert sorted(p.name for p in tmp_path.rglob("*")) == [".keras", "keras.json"]


def test_a_fifo_where_keras_json_would_be_is_not_read(tmp_path: Path) -> None:
    (tmp_path / ".keras").mkdir()
    os.mkfifo(tmp_path / ".keras" / "keras.json")
    with private_keras_home({"HOME": str(tmp_path)}) as env:
        assert list(Path(env["KERAS_HOME"]).iterdir()) == []


def test_the_reaper_kills_the_groups_it_watches_when_its_parent_goes(tmp_path: Path) -> None:
    sleeper = [sys.executable, "-c", "import time; time.sleep(10**6)"]
    group = subprocess.Popen(sleeper, start_new_session=True)
    try:
        member = process(group.pid)
        assert member is not None
        r, w = os.pipe()
        reaper_proc = subprocess.Popen(
            [sys.executable, "-m", "gpuconform.probes.reaper", str(os.getpid())],
            stdin=r,
            env=_env(),
            start_new_session=True,
        )
        os.close(r)
        os.write(w, f"+{group.pid}\n+1\n+0\n+junk\n".encode())
        os.close(w)  # what the parent's death does to the pipe
        assert reaper_proc.wait(timeout=GONE_BOUND) == 0
        assert_all_gone([member])
    finally:
        group.kill()
        group.wait()


def test_the_reaper_forgets_groups_that_ended() -> None:
    r, w = os.pipe()
    os.write(w, b"+4242\n+4343\n-4242\n")
    os.close(w)
    assert reaper.serve(os.getppid(), r) == {4343}
    os.close(r)
