"""Children forked from a zygote behave as fresh interpreters; a hung one errors only its own batch.

Real TensorFlow children, forked and fresh, side by side: device configuration is one-shot per
process (tf-behaviors §1.1-1.2), so a zygote that had initialised anything, or a child that
shared a runtime with another, would show it here.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gpuconform.frameworks.base import Framework
from gpuconform.frameworks.children import Runner
from gpuconform.frameworks.tensorflow.framework import FRAMEWORK

REPO = Path(__file__).resolve().parents[1]
CONFIG = ("memory", ("split_cpu", "configure_after_init"))
#: A bound for what must end at once (closing a run), generous for a loaded machine; never a measured time.
STOP_BOUND = 60.0
#: An experiments variable (read when the experiments run): set in the forked child, same zygote.
LATER = "GPUCONFORM_ZYGOTE_TEST"


@pytest.fixture(scope="module")
def forked() -> Iterator[Runner]:
    runner = Runner(FRAMEWORK, timeout=600, concurrency=2)
    yield runner
    runner.close()


def _config(runner: Runner, run: str) -> dict[str, tuple[bool, Any, str | None]]:
    batch = runner.batch(*CONFIG, {LATER: run})
    assert batch.child.returncode == 0, batch.log[-2000:]
    return {name: (r.ok, r.value, r.error_type) for name, r in batch.results.items() if name != "__import__"}


@pytest.mark.skipif(importlib.util.find_spec("tensorflow") is None, reason="needs TensorFlow (the cpu extra)")
def test_a_forked_child_configures_devices_and_is_refused_after_init_exactly_as_a_fresh_interpreter(
    forked: Runner,
) -> None:
    fresh = Runner(FRAMEWORK, timeout=600, fork=False)
    try:
        expected = _config(fresh, "fresh")
    finally:
        fresh.close()
    first, second = _config(forked, "first"), _config(forked, "second")
    assert "--zygote" in forked.batch(*CONFIG, {LATER: "first"}).child.argv
    assert first == expected
    assert second == expected  # the first child left the zygote's runtime untouched
    split_ok, split, _ = expected["split_cpu"]
    assert split_ok and split["logical_cpus"] == ["/device:CPU:0", "/device:CPU:1"]
    after_ok, after, _ = expected["configure_after_init"]
    assert after_ok and after["cpu"]["error_type"] == "RuntimeError"
    assert "after being initialized" in after["cpu"]["error"]


#: A stand-in framework (tests/zygotefw: numpy imported once) for what TensorFlow cannot be made to do on cue.
STAND_IN = Framework("zygotefw", "stand-in", ("numpy",), "tests.zygotefw", lambda line: False, lambda name: True)
#: The stand-in with an import-time switch its zygote reports (as TF's oneDNN switch), "0" when unset.
SWITCHED = Framework(
    "zygotefw",
    "stand-in",
    ("numpy",),
    "tests.zygotefw",
    lambda line: False,
    lambda name: name != "ZYGOTEFW_SWITCH",
    frozenset({"ZYGOTEFW_SWITCH"}),
)


@pytest.fixture(params=[STAND_IN])
def stand_in(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Iterator[Runner]:
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]))
    monkeypatch.delenv("ZYGOTEFW_SWITCH", raising=False)
    runner = Runner(request.param, timeout=60, concurrency=2)
    yield runner
    runner.close()


@pytest.mark.parametrize("stand_in", [SWITCHED], indirect=True)
def test_a_batch_pinning_a_switch_to_the_value_in_effect_is_forked_from_the_zygote_without_the_pin(
    stand_in: Runner,
) -> None:
    plain, same, other = (
        stand_in.batch("experiments", ("process",), env)["process"].value
        for env in ({}, {"ZYGOTEFW_SWITCH": "0"}, {"ZYGOTEFW_SWITCH": "1"})
    )
    assert same["parent"] == plain["parent"]  # "0" is what the plain zygote imported with: no second import
    assert (same["switch"], same["switch_at_import"]) == ("0", "0")  # the pin is set, as under its own import
    assert other["parent"] != plain["parent"]  # "1" is not in effect there: a zygote of its own
    assert (other["switch"], other["switch_at_import"]) == ("1", "1")


@pytest.mark.parametrize("stand_in", [SWITCHED], indirect=True)
def test_a_batch_waiting_for_a_zygote_that_hangs_importing_is_answered_as_killed_when_the_run_stops(
    stand_in: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZYGOTEFW_HANG_AT_IMPORT", "1")
    stand_in.timeout = 600.0  # far beyond the bound below: only closing can end the wait
    stand_in.start("experiments", ("process",), {"ZYGOTEFW_SWITCH": "1"})  # waits for the plain zygote's switches
    future = stand_in.pending[("experiments", ("process",), (("ZYGOTEFW_SWITCH", "1"),))]
    closing = threading.Thread(target=stand_in.close)
    closing.start()
    closing.join(STOP_BOUND)
    assert not closing.is_alive(), "closing the run waited for a zygote that will never import"
    result = future.result(timeout=STOP_BOUND)["process"]
    assert result.crash is not None and "SIGKILL" in result.crash.message


@pytest.mark.skipif(importlib.util.find_spec("tensorflow") is None, reason="needs TensorFlow (the cpu extra)")
@pytest.mark.parametrize("pin", ["0", "1"])
def test_a_forked_child_has_onednn_as_a_fresh_interpreter_with_the_same_pin_has_it(forked: Runner, pin: str) -> None:
    names = ("environment",)
    fresh = Runner(FRAMEWORK, timeout=600, fork=False)
    try:
        expected = fresh.batch("determinism", names, {"TF_ENABLE_ONEDNN_OPTS": pin})["environment"]
    finally:
        fresh.close()
    got = forked.batch("determinism", names, {"TF_ENABLE_ONEDNN_OPTS": pin})["environment"]
    assert expected.ok and got.ok, (expected, got)
    assert expected.value["onednn_enabled"] is (pin == "1")
    assert (got.value["onednn_opts"], got.value["onednn_enabled"]) == (pin, pin == "1")


def test_each_forked_child_is_a_process_and_session_of_its_own_with_fresh_seeds_and_its_environment(
    stand_in: Runner,
) -> None:
    one, two = (stand_in.batch("experiments", ("process",), {LATER: run})["process"] for run in ("1", "2"))
    assert one.ok and two.ok, (one, two)
    assert one.value["pid"] != two.value["pid"]
    assert one.value["session"] == one.value["pid"] and two.value["session"] == two.value["pid"]
    assert one.value["random"] != two.value["random"] and one.value["numpy"] != two.value["numpy"]
    assert (one.value["later"], two.value["later"]) == ("1", "2")


def _autogroups() -> bool:
    """Whether Linux schedules sessions as groups here (sched(7)): then only a group's own value orders them."""
    try:
        return Path("/proc/sys/kernel/sched_autogroup_enabled").read_text().strip() == "1"
    except OSError:
        return False


@pytest.mark.parametrize("nice", [0, 7])
def test_a_zygote_and_each_child_it_forks_run_at_the_priority_the_runner_asks(stand_in: Runner, nice: int) -> None:
    stand_in.nice = nice
    child = stand_in.batch("experiments", ("process",))["process"]
    assert child.ok, child.crash
    expected = min(19, os.getpriority(os.PRIO_PROCESS, 0) + nice)
    assert (child.value["parent_nice"], child.value["nice"]) == (expected, expected)
    assert child.value["session"] == child.value["pid"]  # still a session of its own, to be killed with its tree
    if _autogroups():  # the child's new session keeps the zygote's share of the CPU
        assert child.value["session_nice"] == nice
    assert child.value["frozen"] > 0  # the zygote's objects are out of the child's collections


def test_a_forked_child_that_hangs_errors_only_its_own_batch_and_the_zygote_forks_on(stand_in: Runner) -> None:
    stand_in.timeout = 2.0
    hung = stand_in.batch("experiments", ("hang",))
    assert hung["hang"].crash is not None and hung["hang"].crash.kind == "timeout"
    assert hung["hang"].crash.message.startswith("no answer within 2.0 s")
    assert hung.child.signal_name == "SIGKILL"  # killed with its session
    after = stand_in.batch("experiments", ("process",), {LATER: "after"})["process"]
    assert after.ok and after.value["later"] == "after"


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="needs PyTorch (CI's second pass)")
def test_torch_determinism_children_forked_from_its_zygote_answer_as_fresh_interpreters() -> None:
    # A CPU-only build's zygote imports torch._inductor.config for its children (`warm`): what they answer
    # must be what a fresh interpreter answers, bit for bit.
    from gpuconform.frameworks import framework
    from gpuconform.frameworks.reference import ENV_VAR
    from gpuconform.frameworks.reference import reference_dir
    from gpuconform.frameworks.torch.determinism import DETERMINISTIC_WORKSPACE
    from gpuconform.frameworks.torch.determinism import FIRST_CHILD
    from gpuconform.frameworks.torch.determinism import WORKSPACE

    env = {ENV_VAR: str(reference_dir()), WORKSPACE: DETERMINISTIC_WORKSPACE}
    said = []
    for fork in (True, False):
        runner = Runner(framework("torch"), timeout=600, fork=fork)
        try:
            batch = runner.batch("determinism", FIRST_CHILD, env)
        finally:
            runner.close()
        assert batch.import_error is None and batch.crash_text is None, batch.log[-3000:]
        assert ("--zygote" in batch.child.argv) is fork
        said.append({name: (r.ok, r.value) for name, r in batch.results.items() if name != "__import__"})
    assert said[0] == said[1]
