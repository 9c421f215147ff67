"""The memory layer's checks on recorded runs of GPU hosts, and the hold protocol with real children.

A `MemoryRun` recording (tests/data/tf_outputs/t4_memory_*.json) holds what the
children reported and the two NVML snapshots around them; each check function
of suites/test_memory.py judges it as it would a live run. The hold protocol
(`gpuconform.frameworks.hold`) runs for real: once with a TensorFlow child on this
CPU-only machine, and with small Python programs that hang or die where a
broken child would, so every wait is shown to be bounded.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import suites.test_memory as mem

from gpuconform.facts.serde import load
from gpuconform.frameworks.children import Batch
from gpuconform.frameworks.hold import hold
from gpuconform.frameworks.tensorflow.framework import FRAMEWORK
from gpuconform.frameworks.tensorflow.live import observe
from gpuconform.frameworks.tensorflow.memory import MemoryRun
from gpuconform.frameworks.tensorflow.memory import child_env
from gpuconform.frameworks.tensorflow.memory import default_expectation_mib
from gpuconform.frameworks.tensorflow.memory import growth_ceiling_mib
from gpuconform.frameworks.tensorflow.memory import system_reserve_mib
from gpuconform.frameworks.tensorflow.observations import AfterInit
from gpuconform.frameworks.tensorflow.observations import LogicalSplit
from tests.test_framework_checks import a100
from tests.test_framework_checks import batch
from tests.test_framework_checks import expect
from tests.test_framework_checks import failure
from tests.test_framework_checks import host
from tests.test_framework_checks import live

OUTPUTS = Path(__file__).parent / "data" / "tf_outputs"
SKIP = pytest.skip.Exception


def recorded_run(name: str) -> MemoryRun:
    data = json.loads((OUTPUTS / f"{name}.json").read_text())
    return load(MemoryRun, data["run"], name)


class Measured(dict[str, object]):
    def __call__(self, name: str, value: object) -> None:
        self[name] = value


# ---- thresholds ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("available", "cc_major", "reserve"),
    [(1500, 9, 225), (15360, 6, 500), (15360, 7, 1050), (40960, 8, 1536), (81559, 9, 1800)],
)
def test_the_system_reserve_follows_gpu_device_cc(available: int, cc_major: int, reserve: int) -> None:
    assert system_reserve_mib(available, cc_major) == reserve


def test_a_t4_expects_the_card_minus_its_reserve_and_a_small_growth_ceiling() -> None:
    run = recorded_run("t4_memory_default")
    assert default_expectation_mib(run) == 15360 - 1050
    assert growth_ceiling_mib(run) == 2048


# ---- footprints -------------------------------------------------------------------------


def test_the_default_reserving_most_of_an_idle_card_passes_and_is_reported() -> None:
    measured = Measured()
    mem.test_default_mode_reserves_most_of_the_gpu(recorded_run("t4_memory_default"), measured)
    assert measured == {"default_footprint_mib": 14250, "default_footprint_method": "per-process"}


def test_a_leftover_process_holding_the_card_is_named_by_pid() -> None:
    f = failure(mem.test_default_mode_reserves_most_of_the_gpu, recorded_run("t4_memory_default_busy"), Measured())
    assert f.summary == (
        "by default TensorFlow reserved only 2312 MiB of GPU 0 (Tesla T4)'s 15360 MiB: "
        "other processes already held 12288 MiB before TensorFlow started (pid 900: 12288 MiB)"
    )
    assert "nvidia-smi --query-compute-apps" in f.fix


def test_growth_keeps_a_small_model_small() -> None:
    mem.test_memory_growth_keeps_a_small_footprint(recorded_run("t4_memory_growth_api"), Measured())


def test_growth_measured_through_host_pids_still_passes() -> None:
    measured = Measured()
    mem.test_memory_growth_keeps_a_small_footprint(recorded_run("t4_memory_growth_host_pids"), measured)
    assert measured["set_memory_growth_footprint_method"] == "only-new-process"


def test_growth_that_did_not_take_effect_fails() -> None:
    f = failure(mem.test_memory_growth_keeps_a_small_footprint, recorded_run("t4_memory_growth_ignored"), Measured())
    assert f.summary == (
        "with TF_FORCE_GPU_ALLOW_GROWTH=true a small model holds 14250 MiB of GPU 0 (Tesla T4): "
        "memory growth did not take effect: the allocator reserved the card up front"
    )


def test_a_footprint_above_the_ceiling_but_not_the_card_blames_eager_module_loading() -> None:
    f = failure(
        mem.test_memory_growth_keeps_a_small_footprint, recorded_run("t4_memory_growth_eager_modules"), Measured()
    )
    assert "CUDA context and library kernels" in f.summary
    assert "CUDA_MODULE_LOADING=LAZY" in f.fix


def test_a_footprint_nvml_cannot_attribute_is_not_applicable_with_the_reason() -> None:
    with pytest.raises(SKIP, match="not applicable: NVML cannot attribute GPU memory to the child on GPU 0"):
        mem.test_memory_growth_keeps_a_small_footprint(recorded_run("t4_memory_growth_unattributable"), Measured())


def test_a_memory_limit_that_caps_passes() -> None:
    mem.test_memory_limit_caps_the_process(recorded_run("t4_memory_limit"), Measured())


def test_a_limit_under_the_async_allocator_fails_and_says_why() -> None:
    f = failure(mem.test_memory_limit_caps_the_process, recorded_run("t4_memory_limit_async"), Measured())
    assert f.summary == (
        "a logical device with memory_limit=1024 does not cap TensorFlow on GPU 0 (Tesla T4): an allocation of "
        "1280 MiB succeeded inside the limit under TF_GPU_ALLOCATOR=cuda_malloc_async, "
        "where the limit is only a release threshold"
    )
    assert f.fix == "unset TF_GPU_ALLOCATOR"


def test_two_processes_sharing_a_gpu_pass_and_report_their_total() -> None:
    measured = Measured()
    mem.test_two_processes_with_memory_growth_share_a_gpu(recorded_run("t4_memory_shared"), measured)
    assert measured == {"shared_footprint_mib": 830}


def test_an_exclusive_compute_mode_gpu_is_named_with_the_nvidia_smi_fix() -> None:
    f = failure(
        mem.test_two_processes_with_memory_growth_share_a_gpu, recorded_run("t4_memory_shared_exclusive"), Measured()
    )
    assert f.summary.startswith("two TensorFlow processes with memory growth on GPU 0 (Tesla T4): child 2 of 2 failed")
    assert f.fix == "sudo nvidia-smi -i 0 -c DEFAULT (shared compute mode)"


# ---- configuration semantics ----------------------------------------------------------------


def test_configuring_a_gpu_after_initialisation_raises_the_documented_error() -> None:
    mem.test_configuring_after_initialisation_raises_the_documented_error(
        observe(batch("t4_memory_config_healthy"), "configure_after_init", AfterInit)
    )


def test_a_late_growth_change_that_passes_silently_fails() -> None:
    after = observe(batch("t4_memory_config_silent"), "configure_after_init", AfterInit)
    f = failure(mem.test_configuring_after_initialisation_raises_the_documented_error, after)
    assert f.summary == (
        "tf.config.experimental.set_memory_growth(GPU:0, False) after initialisation did not raise the documented "
        "RuntimeError: it returned without raising"
    )
    assert f.expected == "RuntimeError: Physical devices cannot be modified after being initialized"


def test_a_cpu_split_that_did_not_take_effect_fails() -> None:
    split = LogicalSplit(logical_cpus=("/device:CPU:0",), op_device="/job:localhost/replica:0/task:0/device:CPU:0")
    f = failure(mem.test_logical_devices_configured_before_initialisation_take_effect, expect("t4", host()), split)
    assert f.summary == "splitting the CPU into two logical devices before initialisation did not take effect"


def mixed_check(recording: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    tf = live()
    env = tf.env({"CUDA_VISIBLE_DEVICES": "GPU-a100-0,GPU-a100-1"})
    tf.runner.cache[(mem.MODULE, ("mixed_growth",), tuple(sorted(env.items())))] = batch(recording)
    facts = host(gpus=(a100(0), a100(1)))
    e = expect("a100", facts)
    mem.test_mixed_memory_growth_raises_the_documented_error(e, e, facts, tf)


def test_mixed_growth_on_two_gpus_raises_the_documented_error(monkeypatch: pytest.MonkeyPatch) -> None:
    mixed_check("a100x2_memory_mixed_growth", monkeypatch)


def test_mixed_growth_that_initialises_anyway_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    f = failure(mixed_check, "a100x2_memory_mixed_growth_silent", monkeypatch)
    assert f.summary == "memory growth set differently on two GPUs did not raise the documented ValueError: no error"
    assert f.source.endswith("with CUDA_VISIBLE_DEVICES=GPU-a100-0,GPU-a100-1")


def test_mixed_growth_needs_two_gpus_and_no_pin(monkeypatch: pytest.MonkeyPatch) -> None:
    facts = host()
    e = expect("t4", facts)
    with pytest.raises(SKIP, match="needs two GPUs"):
        mem.test_mixed_memory_growth_raises_the_documented_error(e, e, facts, live())
    with pytest.raises(SKIP, match="pinned to GPU 0"):
        mem.test_mixed_memory_growth_raises_the_documented_error(e, e, facts, live(pin=0))


# ---- the hold protocol, for real -----------------------------------------------------------

#: A child that speaks the protocol: a ready line, then it waits for the release.
POLITE = """
import json, sys
print('gpuconform-result:' + json.dumps({'name': '__import__', 'ok': True, 'value': {}}), flush=True)
print('gpuconform-result:' + json.dumps({'name': 'ready', 'ok': True, 'value': {'pid': 1}}), flush=True)
line = sys.stdin.readline()
print('gpuconform-result:' + json.dumps({'name': 'x', 'ok': True, 'value': line.strip()}), flush=True)
"""
#: Children that break it: never ready, or ready but deaf to the release.
SILENT = "import time\nprint('starting', flush=True)\ntime.sleep(600)\n"
DEAF = POLITE.replace("line = sys.stdin.readline()", "import time; time.sleep(600); line = ''")
DIES = "import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)\n"


def held_by(script: str, timeout: float = 5.0) -> tuple[bool, Batch]:
    with hold(FRAMEWORK, "m", "x", env={}, timeout=timeout, argv=[sys.executable, "-c", script]) as held:
        ready = held.ready
    assert held.batch is not None
    return ready, held.batch


def test_a_polite_child_is_ready_then_released() -> None:
    ready, b = held_by(POLITE)
    assert ready
    assert b["x"].value == "release"


def test_a_child_that_never_gets_ready_is_killed_and_reported_as_a_timeout() -> None:
    ready, b = held_by(SILENT, timeout=1.0)
    assert not ready
    assert b["x"].crash is not None and b["x"].crash.kind == "timeout"


def test_a_child_deaf_to_the_release_is_killed_and_reported_as_a_timeout() -> None:
    ready, b = held_by(DEAF, timeout=10.0)  # room to start Python and say ready on a loaded machine
    assert ready
    assert b["x"].crash is not None and b["x"].crash.kind == "timeout"


def test_a_child_that_dies_before_ready_is_reported_with_its_signal() -> None:
    ready, b = held_by(DIES)
    assert not ready
    crash = b["x"].crash
    assert crash is not None and "SIGSEGV" in crash.message


def test_a_real_tensorflow_child_holds_and_releases_on_a_cpu_only_machine() -> None:
    with hold(FRAMEWORK, "memory", "hold_growth", env={}, timeout=300) as held:
        assert held.ready, held
        report = held.ready_value
    assert isinstance(report, dict)
    assert report["pid"] == held.pid and report["mode"] == "growth"
    assert report["error"] == "RuntimeError: TensorFlow lists no GPU (soft placement would run the model on the CPU)"
    assert held.batch is not None and held.batch["hold_growth"].value == {"released": True}


ECHO_ENV = POLITE.replace(
    "'value': line.strip()}", "'value': [os.environ.get('TF_GPU_ALLOCATOR'), os.environ.get('EXTRA')]}"
).replace("import json, sys", "import json, os, sys")


def test_a_held_child_gets_variables_added_and_removed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TF_GPU_ALLOCATOR", "cuda_malloc_async")
    env = {"TF_GPU_ALLOCATOR": None, "EXTRA": "1"}
    with hold(FRAMEWORK, "m", "x", env=env, timeout=5, argv=[sys.executable, "-c", ECHO_ENV]) as held:
        assert held.ready
    assert held.batch is not None and held.batch["x"].value == [None, "1"]


def test_memory_children_see_one_gpu_by_uuid_and_none_of_the_shells_allocator_settings() -> None:
    env = child_env(live(), a100(1), {"TF_FORCE_GPU_ALLOW_GROWTH": "true"})
    assert env["CUDA_VISIBLE_DEVICES"] == "GPU-a100-1"
    assert env["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID"
    assert env["TF_FORCE_GPU_ALLOW_GROWTH"] == "true"
    assert env["TF_GPU_ALLOCATOR"] is None
