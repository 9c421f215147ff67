"""The TensorFlow layers end to end on this CPU-only machine, serial and with pytest-xdist.

`pytest --host-profile cpu -m "framework or placement or memory"` must pass with
the CPU-meaningful checks run for real and every GPU check skipped as not
applicable; `-n 2` must reach the same outcomes (the TensorFlow layers form
one scheduling unit, so depends_on blocking and child caching hold), and its
facts.json must carry the children the worker ran, so that replaying it judges
the same checks the same way. Pinning
(`--host-gpu-per-worker`) is run with real xdist workers on a simulated
two-GPU host.
"""

from __future__ import annotations

import fcntl
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gpuconform.facts.model import PackageInfo
from gpuconform.frameworks.children import Runner
from gpuconform.frameworks.tensorflow.framework import FRAMEWORK
from gpuconform.frameworks.tensorflow.live import LiveTf
from gpuconform.plugin.keys import suites_dir
from gpuconform.plugin.xdist import TF_GROUP
from gpuconform.plugin.xdist import TF_LAYER_FILES
from gpuconform.plugin.xdist import pin_for
from gpuconform.plugin.xdist import scope_of
from tests.simhost.cc import require_compiler
from tests.simhost.host import PROFILES
from tests.simhost.host import build_host
from tests.simhost.spec import SPECS_DIR
from tests.simhost.spec import load_spec

TF_LAYERS = ("-m", "framework or placement or memory", "-p", "no:cacheprovider")
#: The checks that mean something without a GPU: each must pass, not skip.
CPU_CHECKS = {
    "framework::tensorflow_imports_as_the_installed_distribution",
    "framework::build_info_matches_the_matrix",
    "framework::tensorflow_sees_the_expected_gpus",
    "placement::ops_placed_on_the_cpu_run_there",
    "placement::soft_placement_falls_back_to_the_cpu",
    "placement::hard_placement_raises_the_documented_error",
    "memory::logical_devices_configured_before_initialisation_take_effect",
    "memory::configuring_after_initialisation_raises_the_documented_error",
}


def checks(directory: Path) -> dict[str, dict[str, Any]]:
    """check id -> its entry in a run's result.json."""
    result = json.loads((directory / "reports" / "result.json").read_text())
    return {c["id"]: c for c in result["checks"]}


def outcomes(directory: Path) -> dict[str, tuple[str, str]]:
    """check id -> (outcome, reason) of a run."""
    return {check: (c["outcome"], c["reason"] or "") for check, c in checks(directory).items()}


@pytest.fixture(scope="module")
def serial(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path]:
    """One serial run of the TensorFlow layers with the cpu profile, shared by the tests below."""
    where = tmp_path_factory.mktemp("serial")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", str(suites_dir()), *TF_LAYERS, "--host-profile", "cpu"],
        cwd=where,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    return proc, where


def test_the_cpu_profile_passes_the_tensorflow_layers(serial: tuple[Any, Path]) -> None:
    proc, where = serial
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert proc.stdout.splitlines()[-1] == "host verdict: PASS (profile cpu)"
    got = outcomes(where)
    assert {check for check, (outcome, _) in got.items() if outcome == "passed"} == CPU_CHECKS


def test_every_gpu_check_skips_as_not_applicable_on_the_cpu_profile(serial: tuple[Any, Path]) -> None:
    _, where = serial
    others = {check: got for check, got in outcomes(where).items() if check not in CPU_CHECKS}
    assert len(others) >= 10
    for check, (outcome, reason) in others.items():
        assert outcome == "not-applicable", (check, outcome)
        assert reason.startswith("not applicable: "), (check, reason)


@pytest.fixture(scope="module")
def parallel(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path]:
    """The same run with two xdist workers."""
    where = tmp_path_factory.mktemp("parallel")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", str(suites_dir()), *TF_LAYERS, "--host-profile", "cpu", "-n", "2"],
        cwd=where,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    return proc, where


def test_two_xdist_workers_reach_the_same_outcomes_as_a_serial_run(
    serial: tuple[Any, Path], parallel: tuple[Any, Path]
) -> None:
    proc, where = parallel
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert outcomes(where) == outcomes(serial[1])


def test_the_controllers_facts_carry_the_children_the_tensorflow_worker_ran(
    serial: tuple[Any, Path], parallel: tuple[Any, Path]
) -> None:
    def children(where: Path) -> list[tuple[str, Any]]:
        facts = json.loads((where / "reports" / "facts.json").read_text())
        return [(b["module"], b["env"]) for b in facts["observations"]]

    assert children(parallel[1]) == children(serial[1])
    assert len(children(serial[1])) >= 3


def test_replaying_an_xdist_runs_facts_judges_every_live_check_as_the_serial_run_did(
    serial: tuple[Any, Path], parallel: tuple[Any, Path], pytester: pytest.Pytester
) -> None:
    facts = parallel[1] / "reports" / "facts.json"
    result = pytester.runpytest_subprocess(
        str(suites_dir()), *TF_LAYERS, "--host-profile", "cpu", "--host-facts", str(facts), timeout=600
    )
    assert result.ret == 0, result.stdout.str()[-3000:]
    assert outcomes(pytester.path) == outcomes(serial[1])


# ---- scheduling and pinning decisions ---------------------------------------------------


@pytest.mark.parametrize(
    ("nodeid", "scope"),
    [
        ("suites/test_memory.py::test_memory_growth_keeps_a_small_footprint[set_memory_growth]", TF_GROUP),
        ("../work/suites/test_framework.py::test_tensorflow_sees_the_expected_gpus", TF_GROUP),
        ("suites/test_determinism.py::test_x", TF_GROUP),
        ("suites/test_driver.py::test_nvml_initialises", "suites/test_driver.py::test_nvml_initialises"),
    ],
)
def test_the_tensorflow_layers_form_one_scheduling_unit(nodeid: str, scope: str) -> None:
    assert scope_of(nodeid) == scope


def test_the_layers_below_framework_run_no_tensorflow_and_stay_apart() -> None:
    assert {"test_framework.py", "test_placement.py", "test_memory.py"} <= TF_LAYER_FILES
    assert not TF_LAYER_FILES & {"test_platform.py", "test_driver.py", "test_libraries.py"}


@pytest.mark.parametrize(
    ("worker", "gpus", "pin"),
    [("gw0", 2, 0), ("gw1", 2, 1), ("gw2", 2, 0), ("gw5", 8, 5), ("gw0", 0, None), ("master", 2, None)],
)
def test_workers_are_pinned_round_robin_to_nvml_gpus(worker: str, gpus: int, pin: int | None) -> None:
    assert pin_for(worker, gpus) == pin


def test_the_gpu_lock_keeps_a_second_holder_out(tmp_path: Path) -> None:
    runner = Runner(FRAMEWORK, live=False)
    tf = LiveTf(runner, PackageInfo("tensorflow", "2.21.0"), 300.0, 20.0, pin=1, lock_dir=tmp_path)
    with tf.gpu_lock(), open(tmp_path / "gpu1.lock", "a+b") as other, pytest.raises(BlockingIOError):
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
    with open(tmp_path / "gpu1.lock", "a+b") as other:
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released: free again


PIN_PROBE = """
import json, os
from pathlib import Path

from gpuconform.facts.model import PackageInfo
from gpuconform.plugin.frameworks import live_tf


def test_record_the_pin(request):
    worker = os.environ["PYTEST_XDIST_WORKER"]
    tf = live_tf(request.config, PackageInfo("tensorflow", "2.21.0"))
    Path(f"pin-{worker}.json").write_text(json.dumps({"pin": tf.pin, "env": tf.env()}))
"""


def test_gpu_per_worker_pins_each_worker_to_its_own_gpu(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_compiler()
    spec = load_spec(SPECS_DIR / "a100x2_healthy.toml")
    host = build_host(spec, pytester.path / "host")
    for key in ("LD_LIBRARY_PATH", "PYTHONPATH"):
        monkeypatch.setenv(key, host.env[key])
    pytester.makepyfile(test_pin=PIN_PROBE)
    args = ("--host-root", str(host.root), "--host-profile", str(PROFILES / "a100x2.toml"), "-p", "no:cacheprovider")
    result = pytester.runpytest_subprocess("test_pin.py", *args, "-n", "2", "--host-gpu-per-worker", timeout=600)
    assert result.ret == 0, result.stdout.str()[-3000:]
    pins = {p.stem: json.loads(p.read_text()) for p in pytester.path.glob("pin-gw*.json")}
    assert pins == {
        "pin-gw0": {"pin": 0, "env": {"CUDA_VISIBLE_DEVICES": "0", "CUDA_DEVICE_ORDER": "PCI_BUS_ID"}},
        "pin-gw1": {"pin": 1, "env": {"CUDA_VISIBLE_DEVICES": "1", "CUDA_DEVICE_ORDER": "PCI_BUS_ID"}},
    }


def test_a_tensorflow_child_that_times_out_is_could_not_check_and_blocks_the_rest(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess(
        str(suites_dir()), *TF_LAYERS, "--host-profile", "cpu", "--host-tf-timeout", "0.01", timeout=600
    )
    assert result.ret == 1, result.stdout.str()[-3000:]
    got = checks(pytester.path)
    assert got["framework::tensorflow_imports_as_the_installed_distribution"]["outcome"] == "error"
    assert got["placement::ops_placed_on_the_cpu_run_there"]["outcome"] == "blocked"
    result.stdout.fnmatch_lines(
        ["host verdict: FAIL at framework: could not check TensorFlow: timeout: no answer within *"]
    )


def test_a_workers_recording_reads_back_as_the_controller_receives_it(tmp_path: Path) -> None:
    from gpuconform.facts import serde
    from gpuconform.facts.observed import ObservedBatch
    from gpuconform.frameworks.children import Recording
    from gpuconform.frameworks.replay import load_recording

    sent = Recording(observations=(ObservedBatch("tensorflow", "framework", env=(("TF_CPP_MIN_LOG_LEVEL", "1"),)),))
    assert load_recording(json.dumps(serde.dump(sent)), "worker gw0") == sent
    # The whole path, with real workers: no INTERNALERROR when they go down and hand over.
    argv = [sys.executable, "-m", "pytest", str(suites_dir()), "-p", "no:cacheprovider", "-n", "2"]
    argv += ["-m", "platform or driver", "--host-profile", "t4"]
    proc = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 1 and "INTERNALERROR" not in proc.stdout + proc.stderr, proc.stdout[-3000:]
    assert proc.stdout.splitlines()[-1].startswith("host verdict: FAIL at driver: ")


# ---- blocked across workers ---------------------------------------------------------------


def _verdict_block(lines: list[str]) -> list[str]:
    """The lines from the layers line to the verdict line: what the run concludes."""
    start = next(i for i, line in enumerate(lines) if line.startswith("layers: "))
    return lines[start:]


def _grouped(lines: list[str]) -> list[str]:
    """The "N checks blocked by ..." and "N not applicable: ..." lines of the checks that did not pass."""
    return [line for line in lines if line[:1].isdigit() and (" blocked by " in line or " not applicable: " in line)]


def test_a_check_whose_prerequisite_failed_on_the_other_worker_is_blocked_as_in_a_serial_run(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The nvidia module is not loaded: most driver checks depend on its check, which runs on one
    # worker while they run on both. On the other worker nothing blocks them in setup; they fail on
    # their own, and the controller must still call them blocked by the module check, as a serial run does.
    require_compiler()
    host = build_host(load_spec(SPECS_DIR / "gpu_no_module.toml"), pytester.path / "host")
    for key in ("LD_LIBRARY_PATH", "PYTHONPATH"):
        monkeypatch.setenv(key, host.env[key])
    args = [str(suites_dir()), "-p", "no:cacheprovider", "-m", "platform or driver or libraries"]
    args += ["--host-root", str(host.root), "--host-profile", host.profile_arg, "--host-probe-timeout", "60"]
    runs = {}
    for name, extra in (("serial", []), ("parallel", ["-n", "2"])):
        result = pytester.runpytest_subprocess(*args, "--host-reports", name, *extra, timeout=600)
        assert result.ret == 1, result.stdout.str()[-3000:]
        assert "Traceback" not in result.stdout.str() + result.stderr.str()
        runs[name] = (result.stdout.lines, json.loads((pytester.path / name / "result.json").read_text()))
    (serial, serial_json), (parallel, parallel_json) = runs["serial"], runs["parallel"]
    module = "driver::the_nvidia_kernel_module_is_loaded"
    assert _verdict_block(parallel) == _verdict_block(serial)
    assert f"root check: {module}" in serial and not [line for line in serial if line.startswith("also failing:")]
    assert _grouped(parallel) == _grouped(serial)
    under_module = [c for c in serial_json["checks"] if c["blocked_by"] == module]
    assert any(line.startswith(f"{len(under_module)} checks blocked by {module} ") for line in serial)
    assert parallel_json["verdict"] == serial_json["verdict"]

    def classes(result: dict[str, Any]) -> dict[str, tuple[str, str | None, str]]:
        return {c["id"]: (c["outcome"], c["blocked_by"], c["reason"]) for c in result["checks"]}

    assert classes(parallel_json) == classes(serial_json)
    assert [c["id"] for c in parallel_json["checks"]] == [c["id"] for c in serial_json["checks"]]
    assert classes(serial_json)["driver::nvml_initialises"][:2] == ("blocked", module)
