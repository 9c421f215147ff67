"""Faults of the run itself: TensorFlow children that crash, hang or lie; Ctrl-C; a dead xdist worker;
a reports directory that cannot be written. Each run survives, names the fault and writes valid reports.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gpuconform.plugin.keys import suites_dir
from gpuconform.probes.child import ChildResult
from gpuconform.probes.child import run_python
from tests.reportcheck import assert_reports_valid
from tests.reportcheck import reported

REPO = Path(__file__).resolve().parents[1]
SEAMS = Path(__file__).parent / "faultseams"
IMPORT_CHECK = "framework::tensorflow_imports_as_the_installed_distribution"


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(SEAMS), str(REPO), *filter(None, [env.get("PYTHONPATH")])])
    env.pop("GPUCONFORM_PROFILE", None)
    env.update(extra)
    return env


def _pytest(*args: str) -> list[str]:
    return [sys.executable, "-m", "pytest", str(suites_dir()), "-p", "no:cacheprovider", "--host-profile", "cpu", *args]


#: The hang's message states --host-tf-timeout as given, whatever the time the child really took.
TF_FAULTS = {
    "signal": ("failed", "import tensorflow fails: signal: killed by SIGKILL"),
    "hang": ("error", "could not check TensorFlow: timeout: no answer within 15.0 s"),
    "garbage": ("failed", "invalid-output: printed no valid JSON"),
}


@pytest.mark.parametrize("fault", sorted(TF_FAULTS))
def test_a_broken_tensorflow_child_is_named_and_the_run_goes_on(fault: str, tmp_path: Path) -> None:
    outcome, words = TF_FAULTS[fault]
    proc = subprocess.run(
        _pytest("-m", "framework or placement", "--host-tf-timeout", "15"),
        cwd=tmp_path,
        env=_env(GPUCONFORM_TEST_TF_FAULT=fault),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = assert_reports_valid(tmp_path / "reports")
    checks = {c["id"]: c for c in result["checks"]}
    assert checks[IMPORT_CHECK]["outcome"] == outcome
    assert words in checks[IMPORT_CHECK]["reason"]
    blocked = [c for c in checks.values() if c["blocked_by"] == IMPORT_CHECK]
    assert blocked, "the checks that need TensorFlow are shown as blocked by the import check"


#: A platform check: it must have an outcome (pytest -v) before the run is interrupted.
PLATFORM_CHECK = "test_python_is_inside_the_tensorflow_range"


def test_ctrl_c_mid_run_still_writes_the_reports_of_what_ran(tmp_path: Path) -> None:
    pids = tmp_path / "tf-children.txt"
    log = tmp_path / "output.txt"
    with log.open("w") as out:
        proc = subprocess.Popen(
            _pytest("--host-tf-timeout", "600", "-v"),
            cwd=tmp_path,
            env=_env(GPUCONFORM_TEST_TF_FAULT="hang", GPUCONFORM_TEST_TF_PIDS=str(pids), PYTHONUNBUFFERED="1"),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        # Wait (bounded) until a TensorFlow child has started and hangs and a platform check has been
        # reported: children start when collection ends, so either may come first on a loaded machine.
        # Polling a file, so a line without its newline cannot block us.
        for _ in range(2400):
            if pids.exists() and reported(log.read_text(), PLATFORM_CHECK) or proc.poll() is not None:
                break
            time.sleep(0.25)
        assert pids.exists() and reported(log.read_text(), PLATFORM_CHECK), log.read_text()[-3000:]
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=120)
    output = log.read_text()
    assert proc.returncode == pytest.ExitCode.INTERRUPTED, output[-3000:]
    assert "KeyboardInterrupt" in output
    result = assert_reports_valid(tmp_path / "reports")
    ran = {c["id"] for c in result["checks"]}
    assert "platform::python_is_inside_the_tensorflow_range" in ran  # what ran before Ctrl-C is reported
    for pid in map(int, pids.read_text().split()):
        with pytest.raises(ProcessLookupError):  # no TensorFlow child is left behind
            os.kill(pid, 0)


def test_a_crashed_xdist_worker_is_reported_and_the_run_goes_on(tmp_path: Path) -> None:
    proc = subprocess.run(
        _pytest("-m", "platform or driver", "-n", "2", "-p", "tests.faultseams.crash_worker"),
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "crashed" in proc.stdout
    result = assert_reports_valid(tmp_path / "reports")
    check = {c["id"]: c for c in result["checks"]}["platform::python_is_inside_the_tensorflow_range"]
    assert check["outcome"] in ("failed", "error")
    assert result["verdict"]["status"] == "FAIL"


def test_an_unwritable_reports_directory_is_a_usage_error_before_anything_runs(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("not a directory")
    proc = subprocess.run(
        _pytest("-m", "platform", "--host-reports", "afile/reports"),
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 4
    assert f"--host-reports: cannot write reports to {tmp_path}/afile/reports: Not a directory" in proc.stderr
    assert "INTERNALERROR" not in proc.stdout + proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]  # nothing written anywhere else


def test_a_timeout_message_states_the_bound_the_child_was_given_not_the_time_it_took() -> None:
    # A loaded machine notices a timeout late (15.1 s for a 15 s bound): the message must not say so.
    late = ChildResult(("python",), -9, "", "", timed_out=True, duration=15.137, timeout=15.0)
    error = late.error("tensorflow")
    assert error is not None and error.message == "no answer within 15.0 s"


def test_a_child_that_hangs_is_reported_with_its_configured_bound() -> None:
    result = run_python(["-c", "import time; time.sleep(10**6)"], timeout=0.5)
    error = result.error("probe")
    assert result.timed_out and error is not None
    assert error.message == "no answer within 0.5 s"
