"""The placement layer's checks and decisions, on recorded TensorFlow child outputs of GPU hosts.

Tolerances, device names and CUDA_VISIBLE_DEVICES semantics are tested as
tables; the check functions of suites/test_placement.py are called with the
outputs a T4 or two-A100 host's child gives (tests/data/tf_outputs/). The
subset check starts its children through the run's Runner, whose cache is
filled with the recorded batches, so its real loop and messages run.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import suites.test_placement as pl

from gpuconform.frameworks.children import Batch
from gpuconform.frameworks.devices import Visibility
from gpuconform.frameworks.devices import pinned_env
from gpuconform.frameworks.devices import subsets
from gpuconform.frameworks.devices import visibility
from gpuconform.frameworks.tensorflow.live import LiveTf
from gpuconform.frameworks.tensorflow.live import observe
from gpuconform.frameworks.tensorflow.log import parse_log
from gpuconform.frameworks.tensorflow.observations import DeviceList
from gpuconform.frameworks.tensorflow.observations import OpRun
from gpuconform.frameworks.tensorflow.observations import OpRuns
from gpuconform.frameworks.tensorflow.observations import Placed
from gpuconform.frameworks.tensorflow.placement import is_fully_qualified
from gpuconform.frameworks.tensorflow.placement import op_problem
from gpuconform.frameworks.tensorflow.placement import parse_device
from gpuconform.frameworks.tensorflow.placement import subset_problem
from gpuconform.frameworks.tensorflow.placement import tolerance
from gpuconform.frameworks.tensorflow.record import load_batch
from tests.test_framework_checks import a100
from tests.test_framework_checks import batch
from tests.test_framework_checks import expect
from tests.test_framework_checks import failure
from tests.test_framework_checks import host
from tests.test_framework_checks import live
from tests.test_framework_checks import t4

OUTPUTS = Path(__file__).parent / "data" / "tf_outputs"
GPUS = (t4(0, "0000:00:04.0"), t4(1, "0000:00:05.0"), t4(2, "0000:00:06.0"))
DEV = "/job:localhost/replica:0/task:0/device:"


# ---- CUDA_VISIBLE_DEVICES and device names ----------------------------------------------


@pytest.mark.parametrize(
    ("value", "indices", "stopped_at"),
    [
        (None, [0, 1, 2], None),
        ("", [], None),
        ("-1", [], "-1"),
        ("2", [2], None),
        ("1,0", [1, 0], None),
        ("0,2,-1,1", [0, 2], "-1"),
        ("0,7", [0], "7"),
        ("0,0", [0], "0"),
        ("GPU-t4-1", [1], None),
        ("GPU-t4", [], "GPU-t4"),  # a prefix that matches three GPUs names none
        (" 1 , 2 ", [1, 2], None),
    ],
)
def test_cuda_visible_devices_shows_what_the_cuda_guide_says(
    value: str | None, indices: list[int], stopped_at: str | None
) -> None:
    shown = visibility(value, GPUS)
    assert [g.index for g in shown.gpus] == indices
    assert shown.stopped_at == stopped_at


def test_a_mig_identifier_cannot_be_resolved_and_says_so() -> None:
    shown = visibility("MIG-GPU-t4-0/1/0", GPUS)
    assert not shown.resolved


def test_visibility_describes_itself_for_messages() -> None:
    assert visibility("0,9", GPUS).describe() == (
        "CUDA_VISIBLE_DEVICES='0,9' shows GPU 0 (Tesla T4); the list ends at the invalid entry '9'"
    )
    assert visibility(None, GPUS).describe() == "CUDA_VISIBLE_DEVICES is unset (every GPU visible)"


def test_subsets_try_none_the_last_alone_and_the_first_two_both_ways() -> None:
    assert subsets(GPUS) == ["", "2", "0,1", "1,0"]
    assert subsets(GPUS[:1]) == ["", "0"]
    assert subsets(()) == [""]


def test_a_pinned_child_sees_its_gpu_in_pci_order() -> None:
    assert pinned_env(3) == {"CUDA_VISIBLE_DEVICES": "3", "CUDA_DEVICE_ORDER": "PCI_BUS_ID"}
    assert pinned_env(None) == {}


@pytest.mark.parametrize(
    ("name", "parsed"),
    [
        (f"{DEV}GPU:1", ("GPU", 1)),
        ("/device:CPU:0", ("CPU", 0)),
        ("/GPU:3", ("GPU", 3)),
        ("", None),
        (None, None),
        ("GPU", None),
    ],
)
def test_device_strings_parse_in_every_form_tf_uses(name: str | None, parsed: tuple[str, int] | None) -> None:
    assert parse_device(name) == parsed


def test_only_the_job_replica_task_form_is_fully_qualified() -> None:
    assert is_fully_qualified(f"{DEV}CPU:0")
    assert not is_fully_qualified("/device:CPU:0")
    assert not is_fully_qualified(None)


# ---- tolerances ---------------------------------------------------------------------------


def run(dtype: str = "float32", error: float = 1e-6, device: str = "/GPU:0", tf32: bool = False) -> OpRun:
    return OpRun("matmul", dtype, device, "/CPU:0", f"{DEV}{device[1:]}", error, 40.0, tf32=tf32)


@pytest.mark.parametrize(
    ("op", "allowed"),
    [
        (run("float32"), 1e-4),
        (run("float32", tf32=True), 5e-3),
        (run("float32", device="/CPU:0", tf32=True), 1e-4),  # TF32 is a GPU thing
        (run("float16"), 1e-2),
        (run("float64"), 1e-10),
    ],
)
def test_each_dtype_gets_its_tolerance(op: OpRun, allowed: float) -> None:
    assert tolerance(op) == allowed


def test_an_error_within_tolerance_of_the_reference_scale_passes_and_beyond_fails() -> None:
    assert op_problem(run(error=40.0 * 1e-4)) is None
    assert op_problem(run(error=40.0 * 2e-4)) == (
        "matmul (float32) on /GPU:0 differs from the /CPU:0 result by 0.008 "
        "(allowed 0.004: 0.0001 x max |reference| 40)"
    )


def test_nan_never_passes() -> None:
    assert op_problem(run(error=float("nan"))) is not None


def test_a_result_on_another_device_or_an_exception_is_a_problem() -> None:
    assert op_problem(dataclasses.replace(run(), result_device=f"{DEV}CPU:0")) == (
        f"matmul (float32) on /GPU:0 ran on {DEV}CPU:0"
    )
    assert op_problem(dataclasses.replace(run(), error="InternalError: boom")) == (
        "matmul (float32) on /GPU:0 raised InternalError: boom"
    )


# ---- the checks on recorded outputs ---------------------------------------------------------


def runs(recording: str, name: str) -> OpRuns:
    return observe(batch(recording), name, OpRuns)


def placed(recording: str, name: str) -> Placed:
    return observe(batch(recording), name, Placed)


def test_cpu_ops_of_a_healthy_child_pass() -> None:
    pl.test_ops_placed_on_the_cpu_run_there(expect("t4", host()), runs("t4_placement_healthy", "cpu_ops"))


def test_a_cpu_op_reporting_a_short_device_name_fails() -> None:
    good = runs("t4_placement_healthy", "cpu_ops")
    bad = OpRuns((dataclasses.replace(good.runs[0], result_device="/device:CPU:0"),))
    f = failure(pl.test_ops_placed_on_the_cpu_run_there, expect("t4", host()), bad)
    assert f.summary == "matmul on /CPU:0 reports the device '/device:CPU:0', not a fully qualified name"


def test_a_cpu_experiment_that_ran_nothing_fails() -> None:
    f = failure(pl.test_ops_placed_on_the_cpu_run_there, expect("t4", host()), OpRuns())
    assert f.summary == "the CPU placement experiment ran no op"


def test_soft_and_hard_placement_of_a_healthy_child_pass() -> None:
    pl.test_soft_placement_falls_back_to_the_cpu(expect("t4", host()), placed("t4_placement_healthy", "soft_placement"))
    pl.test_hard_placement_raises_the_documented_error(
        expect("t4", host()), placed("t4_placement_healthy", "hard_placement")
    )


def test_soft_placement_that_raises_instead_of_falling_back_fails() -> None:
    hard = placed("t4_placement_healthy", "hard_placement")
    f = failure(
        pl.test_soft_placement_falls_back_to_the_cpu,
        expect("t4", host()),
        dataclasses.replace(hard, soft_placement=True),
    )
    assert f.summary.startswith(
        "StringLength requested on /GPU:0 with soft placement on did not fall back to the CPU: "
        "it raised InvalidArgumentError"
    )


def test_hard_placement_that_runs_anyway_fails() -> None:
    soft = placed("t4_placement_healthy", "soft_placement")
    f = failure(pl.test_hard_placement_raises_the_documented_error, expect("t4", host()), soft)
    assert (
        f.summary == "StringLength on /GPU:0 with soft placement off did not raise the documented InvalidArgumentError"
    )
    assert f.found == f"it ran on {DEV}CPU:0"


def gpu_check(recording: str, profile: str = "t4") -> None:
    facts = host() if profile == "t4" else host(gpus=(a100(0), a100(1)))
    e = expect(profile, facts)
    pl.test_ops_placed_on_each_gpu_run_there_and_match_the_cpu(e, e, runs(recording, "gpu_ops"))


def test_gpu_ops_of_a_healthy_t4_pass() -> None:
    gpu_check("t4_placement_healthy")


def test_tf32_errors_on_ampere_pass_within_the_tf32_tolerance() -> None:
    gpu_check("a100x2_placement_tf32", "a100")


def test_a_gpu_matmul_far_from_the_cpu_fails_with_the_health_checks_as_the_fix() -> None:
    f = failure(gpu_check, "t4_placement_wrong_matmul")
    assert f.summary == (
        "matmul (float32) on /GPU:0 differs from the /CPU:0 result by 0.75 "
        "(allowed 0.00381: 0.0001 x max |reference| 38.1)"
    )
    assert "Xid" in f.fix


def test_no_kernel_image_points_at_the_kernel_coverage_check() -> None:
    f = failure(gpu_check, "gtx960_placement_no_kernel_image")
    assert f.summary.startswith(
        "matmul (float32) on /GPU:0 raised InternalError: CUDA error: no kernel image is available"
    )
    assert "framework::gpu_kernels_cover_every_compute_capability" in f.fix


def test_an_op_soft_placement_moved_off_the_gpu_fails() -> None:
    f = failure(gpu_check, "t4_placement_ran_on_cpu")
    assert f.summary == f"matmul (float32) on /GPU:0 ran on {DEV}CPU:0"
    assert "soft placement moved the op" in f.fix


# ---- CUDA_VISIBLE_DEVICES subsets ----------------------------------------------------------

A100X2 = (a100(0), a100(1))
SUBSET_RECORDINGS = {
    "": "a100x2_subset_none",
    "1": "a100x2_subset_1",
    "0,1": "a100x2_subset_0_1",
    "1,0": "a100x2_subset_1_0",
}


def prime(tf: LiveTf, recordings: dict[str, str], child: Batch | None = None) -> None:
    """Fill the run's batch cache with the recorded child of each CUDA_VISIBLE_DEVICES value (or `child`)."""
    for value, recording in recordings.items():
        env = tf.env({"CUDA_VISIBLE_DEVICES": value, "CUDA_DEVICE_ORDER": "PCI_BUS_ID", "TF_CPP_MIN_LOG_LEVEL": "0"})
        key = ("framework", ("devices", "gpu_init"), tuple(sorted(env.items())))
        tf.runner.cache[key] = child or batch(recording)


def subset_check(tf: LiveTf, replace: dict[str, str] | None = None) -> None:
    """Run the subset check on two A100 against the recorded children (`replace`: other recordings)."""
    prime(tf, {**SUBSET_RECORDINGS, **(replace or {})})
    facts = host(gpus=A100X2)
    e = expect("a100", facts)
    pl.test_cuda_visible_devices_subsets_are_renumbered_from_zero(e, e, facts, tf)


def test_every_subset_renumbered_from_zero_passes() -> None:
    subset_check(live())


def test_a_subset_that_names_the_wrong_device_fails_with_its_bus_id() -> None:
    f = failure(subset_check, live(), {"1": "a100x2_subset_1_wrong_device"})
    assert f.summary == (
        "with CUDA_VISIBLE_DEVICES='1' TensorFlow's GPU:0 is the device at 0000:00:04.0, "
        "but the list names NVML GPU 1 at 0000:00:05.0"
    )


def test_a_subset_tensorflow_ignores_fails_with_the_count() -> None:
    f = failure(subset_check, live(), {"1": "a100x2_subset_1_not_applied"})
    assert f.summary.startswith("with CUDA_VISIBLE_DEVICES='1' TensorFlow sees 2 GPU(s)")
    assert "before TensorFlow starts" in f.fix


def test_subset_problem_compares_counts_names_and_bus_ids() -> None:
    recorded = batch("a100x2_subset_1_0")
    seen = observe(recorded, "devices", DeviceList)
    created = parse_log(recorded.log).created
    assert subset_problem(visibility("1,0", A100X2), seen, created) is None
    assert subset_problem(visibility("0,1", A100X2), seen, created) == (
        "with CUDA_VISIBLE_DEVICES='0,1' TensorFlow's GPU:0 is the device at 0000:00:05.0, "
        "but the list names NVML GPU 0 at 0000:00:04.0"
    )
    renamed = dataclasses.replace(seen, gpus=(seen.gpus[1], seen.gpus[0]))
    assert "numbers the GPUs /physical_device:GPU:1, /physical_device:GPU:0" in str(
        subset_problem(Visibility("1,0", A100X2), renamed, created)
    )


def test_a_pinned_worker_tries_subsets_of_its_own_gpu_only() -> None:
    tf = live(pin=1)
    subset_check(tf, {"": "a100x2_subset_none", "1": "a100x2_subset_1"})
    assert {dict(key[2])["CUDA_VISIBLE_DEVICES"] for key in tf.runner.cache} >= {"", "1"}
    assert len([b for b in tf.runner.cache.values() if b.results]) == len(tf.runner.cache)


def test_a_gpu_experiment_that_ran_on_no_gpu_fails() -> None:
    e = expect("t4", host())
    f = failure(
        pl.test_ops_placed_on_each_gpu_run_there_and_match_the_cpu, e, e, runs("t4_placement_healthy", "cpu_ops")
    )
    assert f.summary == "no op ran on a GPU"


def test_a_subset_child_that_cannot_start_tensorflow_fails_with_its_error() -> None:
    data = json.loads((OUTPUTS / "a100x2_subset_1.json").read_text())
    del data["results"]["devices"], data["results"]["gpu_init"]
    data["returncode"] = -6  # SIGABRT
    tf = live()
    prime(tf, SUBSET_RECORDINGS)
    prime(tf, {"1": ""}, load_batch(data))
    facts = host(gpus=A100X2)
    e = expect("a100", facts)
    f = failure(pl.test_cuda_visible_devices_subsets_are_renumbered_from_zero, e, e, facts, tf)
    assert f.summary == "TensorFlow fails to start with CUDA_VISIBLE_DEVICES='1'"
    assert "SIGABRT" in f.found
