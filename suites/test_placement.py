"""Layer `placement`: do ops run where they are told, agree with the CPU, and fall back as documented?

One TensorFlow child runs the CPU, GPU and soft/hard placement experiments
(`gpuconform.frameworks.tensorflow.experiments.placement`); the CUDA_VISIBLE_DEVICES check starts
one child per value, since CUDA reads the variable once. On a CPU host the
CPU parts run for real (explicit /CPU:0 placement, device strings, a
/GPU:0 request falling back to the CPU); the GPU parts are not applicable.
"""

from __future__ import annotations

from typing import Any

import pytest
from packaging.version import Version

from gpuconform.expect.expectations import Expectations
from gpuconform.expect.framework_needs import FrameworkNeed
from gpuconform.expect.framework_tables import FrameworkTables
from gpuconform.facts.model import Facts
from gpuconform.frameworks import placement_findings
from gpuconform.frameworks.agreement import OpAgreements
from gpuconform.frameworks.children import Batch
from gpuconform.frameworks.children import Planned
from gpuconform.frameworks.devices import ORDER
from gpuconform.frameworks.devices import VISIBLE
from gpuconform.frameworks.devices import subsets
from gpuconform.frameworks.devices import visibility
from gpuconform.frameworks.jax import placement as jax_placement_checks
from gpuconform.frameworks.jax.observations import JaxPrecision
from gpuconform.frameworks.live import LiveChildren
from gpuconform.frameworks.needs import STARTS_CHECKS
from gpuconform.frameworks.needs import answer
from gpuconform.frameworks.needs import judged
from gpuconform.frameworks.tensorflow import FRAMEWORK
from gpuconform.frameworks.tensorflow import DeviceList
from gpuconform.frameworks.tensorflow import LiveTf
from gpuconform.frameworks.tensorflow import OpRuns
from gpuconform.frameworks.tensorflow import Placed
from gpuconform.frameworks.tensorflow import gpu_build
from gpuconform.frameworks.tensorflow import is_fully_qualified
from gpuconform.frameworks.tensorflow import observe
from gpuconform.frameworks.tensorflow import observed
from gpuconform.frameworks.tensorflow import op_problem
from gpuconform.frameworks.tensorflow import parse_device
from gpuconform.frameworks.tensorflow import parse_log
from gpuconform.frameworks.tensorflow import subset_problem
from gpuconform.frameworks.torch import placement as torch_placement_checks
from gpuconform.frameworks.torch.observations import TorchTf32
from gpuconform.verdict.check import fail
from gpuconform.verdict.check import not_applicable

pytestmark = pytest.mark.placement

MODULE = "placement"
EXPERIMENTS = ("gpu_ops", "cpu_ops", "soft_placement", "hard_placement")
PLACEMENT_CHILD = Planned(MODULE, EXPERIMENTS)  # started when collection ends (`gpuconform.plugin.early`)
CHILD = f"a TensorFlow child process ({FRAMEWORK.describe(MODULE)})"
IMPORTS = "framework::tensorflow_imports_as_the_installed_distribution"
SEES = "framework::tensorflow_sees_the_expected_gpus"
#: What TF says when an op cannot be placed (eager: "Could not satisfy ...", graph: "Cannot assign ...").
HARD_PLACEMENT_ERRORS = ("Could not satisfy device specification", "Cannot assign a device")
REINSTALL = "pip install --force-reinstall '{name}=={version}'"


@pytest.fixture
def placement_batch(tf_live: LiveTf) -> Batch:
    return tf_live.batch(*PLACEMENT_CHILD.args())


@pytest.fixture
def cpu_runs(placement_batch: Batch) -> OpRuns:
    return observe(placement_batch, "cpu_ops", OpRuns)


@pytest.fixture
def gpu_runs(placement_batch: Batch) -> OpRuns:
    return observe(placement_batch, "gpu_ops", OpRuns)


@pytest.fixture
def soft(placement_batch: Batch) -> Placed:
    return observe(placement_batch, "soft_placement", Placed)


@pytest.fixture
def hard(placement_batch: Batch) -> Placed:
    return observe(placement_batch, "hard_placement", Placed)


def _reinstall(host_expect: Expectations) -> str:
    tf = host_expect.tensorflow
    return REINSTALL.format(name=tf.name, version=tf.version) if tf else "pip install --force-reinstall tensorflow"


@pytest.mark.depends_on(IMPORTS)
def test_ops_placed_on_the_cpu_run_there(host_expect: Expectations, cpu_runs: OpRuns) -> None:
    if not cpu_runs.runs:
        fail(
            "the CPU placement experiment ran no op",
            expected="matmul and conv2d results from /CPU:0",
            found="no results",
            source=CHILD,
            why="nothing was placed, so nothing was proven",
            fix=_reinstall(host_expect),
        )
    for run in cpu_runs.runs:
        problem = op_problem(run)
        if problem is None and not is_fully_qualified(run.result_device):
            problem = (
                f"{run.op} on {run.requested} reports the device {run.result_device!r}, not a fully qualified name"
            )
        if problem is not None:
            fail(
                problem,
                expected=f"{run.op} ({run.dtype}) runs on /job:localhost/replica:0/task:0/device:CPU:0 and matches "
                f"{run.reference} within the {run.dtype} tolerance",
                found=f"device {run.result_device}, max abs error {run.max_abs_error}, error {run.error}",
                source=CHILD,
                why="explicit placement is how users pin work to a device; a wrong device or result breaks every model",
                fix=_reinstall(host_expect) + " (and check TF_ENABLE_ONEDNN_OPTS and custom op libraries)",
            )


@pytest.mark.depends_on(IMPORTS)
def test_soft_placement_falls_back_to_the_cpu(host_expect: Expectations, soft: Placed) -> None:
    if parse_device(soft.result_device) == ("CPU", 0):
        return
    found = f"it ran on {soft.result_device}" if soft.result_device else f"it raised {soft.error_type}: {soft.error}"
    fail(
        f"{soft.op} requested on {soft.requested} with soft placement on did not fall back to the CPU: {found}",
        expected=f"{soft.op} (no GPU kernel) runs on /device:CPU:0 when soft placement is on",
        found=found,
        source=CHILD,
        why="soft placement (on by default in eager mode) lets models with CPU-only ops run under tf.device('/GPU:0')",
        fix="leave tf.config.set_soft_device_placement(True) (the default); " + _reinstall(host_expect),
    )


@pytest.mark.depends_on(IMPORTS)
def test_hard_placement_raises_the_documented_error(host_expect: Expectations, hard: Placed) -> None:
    if hard.error_type == "InvalidArgumentError" and any(t in (hard.error or "") for t in HARD_PLACEMENT_ERRORS):
        return
    found = f"it ran on {hard.result_device}" if hard.result_device else f"{hard.error_type}: {hard.error}"
    fail(
        f"{hard.op} on {hard.requested} with soft placement off did not raise the documented InvalidArgumentError",
        expected="InvalidArgumentError: Could not satisfy device specification '.../device:GPU:0'. "
        "enable_soft_placement=0. "
        "Supported device types [CPU] ...",
        found=found,
        source=CHILD,
        why="with soft placement off an impossible placement must fail loudly, not run silently elsewhere",
        fix=_reinstall(host_expect),
    )


@pytest.mark.depends_on(IMPORTS, SEES)
def test_ops_placed_on_each_gpu_run_there_and_match_the_cpu(
    gpu_profile: Expectations, host_expect: Expectations, gpu_runs: OpRuns
) -> None:
    gpu_build(host_expect)
    runs = [r for r in gpu_runs.runs if parse_device(r.requested) != ("CPU", 0)]
    if not runs:
        failed = [r for r in gpu_runs.runs if r.error]
        fail(
            "no op ran on a GPU",
            expected="matmul and conv2d on every GPU TensorFlow lists",
            found=failed[0].error if failed and failed[0].error else "TensorFlow listed no GPU to the placement child",
            source=CHILD,
            why="the framework layer saw the GPUs, but this child could not use them",
            fix="re-run; if it persists, read TensorFlow's log: TF_CPP_MIN_LOG_LEVEL=0 python -c "
            '"import tensorflow as tf; print(tf.matmul(tf.ones((2, 2)), tf.ones((2, 2))).device)"',
        )
    for run in runs:
        problem = op_problem(run)
        if problem is None:
            continue
        device = parse_device(run.requested)
        fix = "check dmesg for Xid errors and run the driver layer's health checks (pytest -m driver)"
        if run.error and "no kernel image" in run.error:
            fix = (
                "see framework::gpu_kernels_cover_every_compute_capability: this TensorFlow has no kernels for the GPU"
            )
        elif run.result_device and device is not None and parse_device(run.result_device) != device:
            fix = "soft placement moved the op: the GPU kernel failed to register; read the framework layer's failures"
        fail(
            problem,
            expected=f"{run.op} ({run.dtype}) runs on {run.requested} and matches {run.reference} within "
            f"{'TF32 ' if run.tf32 and run.dtype == 'float32' else ''}{run.dtype} tolerance",
            found=f"device {run.result_device}, max abs error {run.max_abs_error} "
            f"(max |reference| {run.reference_scale}), TF32 {run.tf32}, error {run.error}",
            source=CHILD,
            why="a GPU that computes wrong results, or silently does not compute at all, fails every model on it",
            fix=fix,
        )


@pytest.mark.depends_on(IMPORTS, SEES)
def test_cuda_visible_devices_subsets_are_renumbered_from_zero(
    gpu_profile: Expectations, host_expect: Expectations, host_facts: Facts, tf_live: LiveTf
) -> None:
    gpu_build(host_expect)
    gpus = host_facts.driver.nvml.gpus
    if tf_live.pin is not None:
        gpus = tuple(g for g in gpus if g.index == tf_live.pin)
    if not gpus:
        not_applicable("NVML lists no GPU to choose subsets from")
    for value in subsets(gpus):
        env = {VISIBLE: value, ORDER: "PCI_BUS_ID", "TF_CPP_MIN_LOG_LEVEL": "0"}
        batch = tf_live.batch("framework", ("devices", "gpu_init"), env)
        seen = _subset_devices(batch, value)
        expected = visibility(value, host_facts.driver.nvml.gpus)
        problem = subset_problem(expected, seen, parse_log(batch.log).created)
        if problem is not None:
            fail(
                problem,
                expected=expected.describe() + ", numbered /physical_device:GPU:0 upwards",
                found=", ".join(f"{g.name} {g.device_name} {g.compute_capability}" for g in seen.gpus) or "no GPU",
                source=f"one TensorFlow child per {VISIBLE} value ({ORDER}=PCI_BUS_ID); NVML",
                why=f"sharing a multi-GPU box relies on {VISIBLE}: each job must get exactly the GPUs it was given",
                fix=f"set {VISIBLE} before TensorFlow starts (in the job's environment, not in Python after import), "
                f"with {ORDER}=PCI_BUS_ID so that indices match nvidia-smi",
            )


def _subset_devices(batch: Batch, value: str) -> DeviceList:
    result = batch["devices"]
    if batch.import_error or not result.ok:
        why = batch.import_error or (result.crash.message if result.crash else f"{result.error_type}: {result.error}")
        fail(
            f"TensorFlow fails to start with {VISIBLE}={value!r}",
            expected="TensorFlow starts and lists the GPUs of the subset",
            found=why,
            source=f"a TensorFlow child with {VISIBLE}={value!r}",
            why="a job given a subset of the GPUs could not start",
            fix=f"read the child's log: {VISIBLE}={value!r} TF_CPP_MIN_LOG_LEVEL=0 python -c 'import tensorflow'",
        )
    return observed(DeviceList, result, "devices")


# ---- PyTorch and JAX: the same ops, in their own children ------------------------------------
#
# One child per framework runs its placement experiments (`gpuconform.frameworks.torch.experiments.placement`,
# `gpuconform.frameworks.jax.experiments.placement`): the CPU ops run on every host; the GPU ops and the
# TF32 defaults apply where the profile expects GPUs. Failures of a framework the profile only finds
# installed are warnings (`gpuconform.frameworks.needs.judged`).

TORCH_PLACEMENT = Planned(MODULE, ("tf32", "cpu_ops", "gpu_ops"), framework="torch")
JAX_PLACEMENT = Planned(MODULE, ("precision", "cpu_ops", "gpu_ops"), framework="jax")
TORCH_IMPORTS = "framework::torch_imports_as_the_installed_distribution"
TORCH_BUILD = "framework::torch_build_can_use_the_gpu"
TORCH_SEES = "framework::torch_sees_the_expected_gpus"
TORCH_KERNELS = "framework::torch_build_has_kernels_for_each_gpu"
JAX_IMPORTS = "framework::jax_imports_as_the_installed_distribution"
JAX_STARTS = STARTS_CHECKS["jax"]
JAX_BUILD = "framework::jax_build_can_use_the_gpu"
JAX_SEES = "framework::jax_sees_the_expected_gpus"


@pytest.fixture
def torch_placement(torch_live: LiveChildren) -> Batch:
    return torch_live.batch(*TORCH_PLACEMENT.args())


@pytest.fixture
def jax_placement(jax_live: LiveChildren) -> Batch:
    return jax_live.batch(*JAX_PLACEMENT.args())


def _reinstall_of(need: FrameworkNeed) -> str:
    assert need.installed is not None  # the imports check blocks the rest without
    return f"pip install --force-reinstall '{need.installed.name}=={need.installed.version}'"


@pytest.mark.depends_on(TORCH_IMPORTS)
def test_torch_ops_placed_on_the_cpu_run_there(
    torch_need: FrameworkNeed, torch_live: LiveChildren, torch_placement: Batch, host_warn: Any
) -> None:
    """PyTorch's matmul and conv2d on device "cpu" return there and match NumPy float64."""
    runs: OpAgreements = answer(torch_live, torch_need, torch_placement, "cpu_ops", OpAgreements)
    found = placement_findings.cpu_runs("PyTorch", runs, torch_live.source(MODULE), _reinstall_of(torch_need))
    judged(torch_need, found, host_warn)


@pytest.mark.depends_on(TORCH_IMPORTS, TORCH_BUILD, TORCH_SEES)
def test_torch_ops_on_each_gpu_agree_with_the_cpu(
    gpu_profile: Expectations, torch_need: FrameworkNeed, torch_live: LiveChildren, torch_placement: Batch,
    host_warn: Any, measured: Any,
) -> None:
    """PyTorch's matmul (float32, float16) and conv2d on every GPU agree with its CPU result (TF32 where allowed)."""
    runs: OpAgreements = answer(torch_live, torch_need, torch_placement, "gpu_ops", OpAgreements)
    for run in runs.runs:
        if run.device in runs.devices and run.dtype == "float32":
            measured(f"{run.op}_{run.device}_tf32_allowed", run.tf32)
    found = placement_findings.gpu_runs("PyTorch", runs, torch_live.source(MODULE), TORCH_KERNELS)
    judged(torch_need, found, host_warn)


@pytest.mark.depends_on(TORCH_IMPORTS, TORCH_BUILD)
def test_torch_tf32_is_as_documented(
    gpu_profile: Expectations, torch_need: FrameworkNeed, torch_live: LiveChildren, torch_placement: Batch,
    other_tables: FrameworkTables, host_warn: Any, measured: Any,
) -> None:
    """A fresh PyTorch process has TF32 off for cuBLAS matmuls and on for cuDNN convolutions, as documented."""
    state: TorchTf32 = answer(torch_live, torch_need, torch_placement, "tf32", TorchTf32)
    measured("matmul_allow_tf32", state.matmul_allow_tf32)
    measured("cudnn_allow_tf32", state.cudnn_allow_tf32)
    assert torch_need.installed is not None
    runtime = other_tables.torch.runtime
    version = torch_need.installed.version
    if runtime is None or not runtime.torch.contains(Version(version).public, prereleases=True):
        not_applicable(f"matrices/torch.toml documents no TF32 defaults for torch {version}")
    found = torch_placement_checks.tf32_finding(version, state, runtime, torch_live.source(MODULE))
    judged(torch_need, found, host_warn)


@pytest.mark.depends_on(JAX_IMPORTS, JAX_STARTS)
def test_jax_ops_placed_on_the_cpu_run_there(
    jax_need: FrameworkNeed, jax_live: LiveChildren, jax_placement: Batch, host_warn: Any
) -> None:
    """JAX's matmul and conv on its CPU device compute there and match NumPy float64."""
    runs: OpAgreements = answer(jax_live, jax_need, jax_placement, "cpu_ops", OpAgreements)
    found = placement_findings.cpu_runs("JAX", runs, jax_live.source(MODULE), _reinstall_of(jax_need))
    judged(jax_need, found, host_warn)


@pytest.mark.depends_on(JAX_IMPORTS, JAX_STARTS, JAX_BUILD, JAX_SEES)
def test_jax_ops_on_each_gpu_agree_with_the_cpu(
    gpu_profile: Expectations, jax_need: FrameworkNeed, jax_live: LiveChildren, jax_placement: Batch,
    host_warn: Any, measured: Any,
) -> None:
    """JAX's matmul (float32, float16) and conv on every GPU agree with its CPU result (TF32 where DEFAULT allows)."""
    runs: OpAgreements = answer(jax_live, jax_need, jax_placement, "gpu_ops", OpAgreements)
    for run in runs.runs:
        if run.device in runs.devices and run.dtype == "float32":
            measured(f"{run.op}_{run.device}_tf32_allowed", run.tf32)
    found = placement_findings.gpu_runs("JAX", runs, jax_live.source(MODULE), JAX_BUILD)
    judged(jax_need, found, host_warn)


@pytest.mark.depends_on(JAX_IMPORTS, JAX_STARTS, JAX_BUILD)
def test_jax_default_matmul_precision_is_as_documented(
    gpu_profile: Expectations, jax_need: FrameworkNeed, jax_live: LiveChildren, jax_placement: Batch,
    other_tables: FrameworkTables, host_warn: Any, measured: Any,
) -> None:
    """A fresh JAX process keeps float32 matmuls at TensorFloat-32 or better (DEFAULT precision), as documented."""
    state: JaxPrecision = answer(jax_live, jax_need, jax_placement, "precision", JaxPrecision)
    measured("default_matmul_precision", jax_placement_checks.precision_label(state))
    assert jax_need.installed is not None
    runtime = other_tables.jax.runtime
    version = jax_need.installed.version
    if runtime is None or not runtime.jax.contains(Version(version).public, prereleases=True):
        not_applicable(f"matrices/jax.toml documents no default precision for jax {version}")
    found = jax_placement_checks.precision_finding(version, state, runtime, jax_live.source(MODULE))
    judged(jax_need, found, host_warn)
