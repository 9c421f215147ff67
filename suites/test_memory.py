"""Layer `memory`: do memory growth and limits behave as configured, and does configuration fail as documented?

TensorFlow's device configuration is one-shot per process, so each mode runs in
a child of its own (see `gpuconform.frameworks.tensorflow.experiments.memory`). A GPU footprint is
measured from outside with NVML while the child holds its allocation
(`gpuconform.frameworks.tensorflow.memory`, `gpuconform.probes.gpumem` for the accounting fallbacks) and
from inside with `get_memory_info`. On a CPU host the configuration semantics
run for real; the footprints are not applicable.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from gpuconform.expect.expectations import Expectations
from gpuconform.expect.framework_needs import FrameworkNeed
from gpuconform.expect.framework_tables import FrameworkTables
from gpuconform.facts.errors import DataError
from gpuconform.facts.model import Facts
from gpuconform.facts.model import GpuFacts
from gpuconform.frameworks.children import Batch
from gpuconform.frameworks.children import Planned
from gpuconform.frameworks.devices import VISIBLE
from gpuconform.frameworks.devices import visibility
from gpuconform.frameworks.jax import memory as jax_memory
from gpuconform.frameworks.jax.memory import JaxRun
from gpuconform.frameworks.live import LiveChildren
from gpuconform.frameworks.measure import HeldRun
from gpuconform.frameworks.needs import STARTS_CHECKS
from gpuconform.frameworks.needs import judged
from gpuconform.frameworks.tensorflow import DEFAULT_MIN_SHARE
from gpuconform.frameworks.tensorflow import FRAMEWORK
from gpuconform.frameworks.tensorflow import LIMIT_MB
from gpuconform.frameworks.tensorflow import LIMIT_OVERHEAD_MIB
from gpuconform.frameworks.tensorflow import AfterInit
from gpuconform.frameworks.tensorflow import LiveTf
from gpuconform.frameworks.tensorflow import LogicalSplit
from gpuconform.frameworks.tensorflow import MemoryRun
from gpuconform.frameworks.tensorflow import Raised
from gpuconform.frameworks.tensorflow import default_expectation_mib
from gpuconform.frameworks.tensorflow import gpu_build
from gpuconform.frameworks.tensorflow import growth_ceiling_mib
from gpuconform.frameworks.tensorflow import observe
from gpuconform.frameworks.tensorflow import observed
from gpuconform.frameworks.tensorflow import run_mode
from gpuconform.frameworks.torch import memory as torch_memory
from gpuconform.frameworks.torch.memory import TorchRun
from gpuconform.probes.gpumem import MIB
from gpuconform.verdict.check import Finding
from gpuconform.verdict.check import could_not_check
from gpuconform.verdict.check import fail
from gpuconform.verdict.check import not_applicable

pytestmark = pytest.mark.memory

MODULE = "memory"
CHILD = f"a TensorFlow child process ({FRAMEWORK.describe(MODULE)})"
MEASURED_OUTSIDE = "NVML from outside the child (gpuconform.probes.gpumem) while it held its allocation"
MEASURED = f"{MEASURED_OUTSIDE}; get_memory_info inside"
IMPORTS = "framework::tensorflow_imports_as_the_installed_distribution"
SEES = "framework::tensorflow_sees_the_expected_gpus"
VIRTUAL_AFTER_INIT = "Virtual devices cannot be modified after being initialized"
PHYSICAL_AFTER_INIT = "Physical devices cannot be modified after being initialized"
GROWTH_DIFFERS = "Memory growth cannot differ between GPU devices"
LIST_APPS = "nvidia-smi --query-compute-apps=pid,used_memory --format=csv"
#: Configuration before and after initialisation, one child (started when collection ends: `gpuconform.plugin.early`).
CONFIG_CHILD = Planned(MODULE, ("split_cpu", "configure_after_init"))
CONFIGURE_EARLY = (
    "configure devices right after `import tensorflow`, before the first op, tf.data pipeline or Keras model "
    "(and before importing libraries that touch TensorFlow at import)"
)


# ---- fixtures -------------------------------------------------------------------------


@pytest.fixture
def config_batch(tf_live: LiveTf) -> Batch:
    return tf_live.batch(*CONFIG_CHILD.args())


@pytest.fixture
def split(config_batch: Batch) -> LogicalSplit:
    return observe(config_batch, "split_cpu", LogicalSplit)


@pytest.fixture
def after_init(config_batch: Batch) -> AfterInit:
    return observe(config_batch, "configure_after_init", AfterInit)


@pytest.fixture
def measured_gpu(gpu_profile: Expectations, host_expect: Expectations, host_facts: Facts, tf_live: LiveTf) -> GpuFacts:
    """The GPU the footprint checks measure: this worker's pin, else the first one the environment shows."""
    gpu_build(host_expect)
    return _gpu_of(host_facts, tf_live.pin)


def _run(tf_live: LiveTf, gpu: GpuFacts, mode: str, **kwargs: Any) -> MemoryRun:
    try:
        return run_mode(tf_live, gpu, mode, **kwargs)
    except DataError as exc:
        could_not_check(f"the {mode} memory child", exc, source=CHILD)


@pytest.fixture
def default_run(tf_live: LiveTf, measured_gpu: GpuFacts) -> MemoryRun:
    return _run(tf_live, measured_gpu, "default")


@pytest.fixture(params=["set_memory_growth", "TF_FORCE_GPU_ALLOW_GROWTH"])
def growth_run(request: pytest.FixtureRequest, tf_live: LiveTf, measured_gpu: GpuFacts) -> MemoryRun:
    return _run(tf_live, measured_gpu, request.param)


@pytest.fixture
def limit_run(tf_live: LiveTf, measured_gpu: GpuFacts) -> MemoryRun:
    return _run(tf_live, measured_gpu, "memory_limit", limit_mb=LIMIT_MB)


@pytest.fixture
def shared_run(tf_live: LiveTf, measured_gpu: GpuFacts) -> MemoryRun:
    return _run(tf_live, measured_gpu, "set_memory_growth", copies=2)


def _label(run: MemoryRun | HeldRun[Any]) -> str:
    return f"GPU {run.gpu.index} ({run.gpu.name})"


def _children_ran(run: MemoryRun, what: str) -> None:
    """Fail when a child of the run did not get to hold its allocation or did not end cleanly."""
    for position, child in enumerate(run.children):
        if child.report is not None and child.report.error is None and child.problem is None:
            continue
        problem = child.problem or (child.report.error if child.report else None) or "it never reported"
        nth = f"child {position + 1} of {len(run.children)}" if len(run.children) > 1 else "the child"
        fix = "read the child's log: TF_CPP_MIN_LOG_LEVEL=0 and the error above; check for other processes on the GPU"
        why = f"{what} could not be measured because the TensorFlow process failed"
        if any(t in problem for t in ("busy or unavailable", "DEVICE_UNAVAILABLE", "DEVICES_UNAVAILABLE")):
            why = "the GPU is in an exclusive compute mode: a second process cannot create a CUDA context on it"
            fix = f"sudo nvidia-smi -i {run.gpu.index} -c DEFAULT (shared compute mode)"
        elif any(t in problem for t in ("OUT_OF_MEMORY", "ResourceExhausted", "out of memory")):
            why = "the GPU ran out of memory: another process (or the first child) holds it"
            fix = f"stop the other processes ({LIST_APPS}) and use memory growth"
        fail(
            f"{what} on {_label(run)}: {nth} failed: {problem.splitlines()[0][:200]}",
            expected=f"{len(run.children)} TensorFlow process(es) in mode {run.mode!r} allocate, hold and exit cleanly",
            found=problem[:1500],
            source=CHILD,
            why=why,
            fix=fix,
        )


def _measured_mib(run: MemoryRun | HeldRun[Any], measured: Any) -> int:
    """The footprint in MiB (recorded in the report), or skip when NVML cannot attribute it."""
    footprint = run.footprint
    if footprint.mib is None:
        not_applicable(f"NVML cannot attribute GPU memory to the child on {_label(run)}: {footprint.detail}")
    measured(f"{run.mode}_footprint_mib", footprint.mib)
    measured(f"{run.mode}_footprint_method", footprint.method)
    return footprint.mib


def _first(text: str) -> str:
    return (text.splitlines() or [""])[0][:160]


def _documented(raised: Raised | None, error_type: str, text: str) -> bool:
    return raised is not None and raised.error_type == error_type and text in (raised.error or "")


# ---- configuration semantics (CPU hosts too) -----------------------------------------


@pytest.mark.depends_on(IMPORTS)
def test_logical_devices_configured_before_initialisation_take_effect(
    host_expect: Expectations, split: LogicalSplit
) -> None:
    want = ("/device:CPU:0", "/device:CPU:1")
    if split.logical_cpus == want and (split.op_device or "").endswith("/device:CPU:1"):
        return
    fail(
        "splitting the CPU into two logical devices before initialisation did not take effect",
        expected=f"logical devices {', '.join(want)}, and an op placed on /CPU:1 running there",
        found=f"logical CPUs {', '.join(split.logical_cpus) or 'none'}; the op ran on {split.op_device}",
        source=CHILD,
        why="logical devices are how TensorFlow 2 limits memory (memory_limit) and simulates devices; "
        "a configuration that is ignored leaves every job unlimited",
        fix="configure with tf.config.set_logical_device_configuration before the first op; "
        f"pip install --force-reinstall '{host_expect.tensorflow.name}=={host_expect.tensorflow.version}'",  # type: ignore[union-attr]
    )


@pytest.mark.depends_on(IMPORTS)
def test_configuring_after_initialisation_raises_the_documented_error(after_init: AfterInit) -> None:
    checks = [(after_init.cpu, VIRTUAL_AFTER_INIT)]
    if after_init.gpu is not None:
        checks.append((after_init.gpu, PHYSICAL_AFTER_INIT))
    for raised, text in checks:
        if _documented(raised, "RuntimeError", text):
            continue
        got = f"{raised.error_type}: {raised.error}" if raised.error_type else "it returned without raising"
        fail(
            f"{raised.call} after initialisation did not raise the documented RuntimeError: {_first(got)}",
            expected=f"RuntimeError: {text}",
            found=got,
            source=CHILD,
            why="configuration after the runtime started cannot take effect; without the error, code that configures "
            "too late (a library touching TF at import) silently runs with the default configuration",
            fix=CONFIGURE_EARLY,
        )


@pytest.mark.depends_on(IMPORTS, SEES)
def test_mixed_memory_growth_raises_the_documented_error(
    gpu_profile: Expectations, host_expect: Expectations, host_facts: Facts, tf_live: LiveTf
) -> None:
    gpu_build(host_expect)
    if tf_live.pin is not None:
        not_applicable(f"this xdist worker is pinned to GPU {tf_live.pin}; mixed growth needs two GPUs in one process")
    gpus = visibility(os.environ.get(VISIBLE), host_facts.driver.nvml.gpus).gpus
    if len(gpus) < 2:
        not_applicable("needs two GPUs: memory growth can only differ between GPUs")
    pair = ",".join(g.uuid or str(g.index) for g in gpus[:2])
    batch = tf_live.batch(MODULE, ("mixed_growth",), {VISIBLE: pair})
    raised = _raised_in(batch, "mixed_growth")
    if _documented(raised, "ValueError", GROWTH_DIFFERS):
        return
    got = f"{raised.error_type}: {raised.error}" if raised and raised.error_type else "no error"
    fail(
        f"memory growth set differently on two GPUs did not raise the documented ValueError: {_first(got)}",
        expected=f"ValueError: {GROWTH_DIFFERS}",
        found=got,
        source=f"{CHILD} with {VISIBLE}={pair}",
        why="TensorFlow supports one growth setting for all GPUs of a process; mixing them must fail, not half-apply",
        fix="call tf.config.experimental.set_memory_growth(gpu, True) for every GPU "
        "(or set TF_FORCE_GPU_ALLOW_GROWTH=true)",
    )


def _raised_in(batch: Batch, name: str) -> Raised | None:
    result = batch[name]
    if batch.import_error or result.crash is not None or not result.ok:
        return Raised(
            name, "child failure", batch.import_error or (result.crash.message if result.crash else result.error)
        )
    try:
        return observed(Raised, result, name)
    except DataError:
        return None


# ---- footprints (GPU hosts) -------------------------------------------------------------


@pytest.mark.depends_on(IMPORTS, SEES)
def test_default_mode_reserves_most_of_the_gpu(default_run: MemoryRun, measured: Any) -> None:
    run = default_run
    _children_ran(run, "TensorFlow's default allocation")
    held = _measured_mib(run, measured)
    expected = default_expectation_mib(run)
    if expected is None or held >= DEFAULT_MIN_SHARE * expected:
        return
    total = (run.total_bytes or 0) // MIB
    free = (run.free_before_bytes or 0) // MIB
    before = run.before.gpu(run.gpu.index)
    others = before.processes if before is not None else ()
    log = run.children[0].log
    if held >= DEFAULT_MIN_SHARE * (free - (total - expected)):  # it took what was free: others hold the rest
        pids = ", ".join(f"pid {p.pid}: {(p.used_bytes or 0) // MIB} MiB" for p in others) or "not attributable"
        cause = f"other processes already held {total - free} MiB before TensorFlow started ({pids})"
        fix = f"stop them ({LIST_APPS}) before running jobs on this GPU"
    elif log.allocator == "cuda_malloc_async":
        cause = "TF_GPU_ALLOCATOR=cuda_malloc_async is in effect: its pool grows on demand"
        fix = "unset TF_GPU_ALLOCATOR (or set it where intended: it changes every process on the host)"
    else:
        cause = "TensorFlow did not take the free memory it takes by default"
        fix = "check the environment and sitecustomize for TF_FORCE_GPU_ALLOW_GROWTH / TF_GPU_ALLOCATOR"
    fail(
        f"by default TensorFlow reserved only {held} MiB of {_label(run)}'s {total} MiB: {cause}",
        expected=f"at least {DEFAULT_MIN_SHARE:.0%} of {expected} MiB (the card minus TF's system reserve)",
        found=f"{held} MiB ({run.footprint.detail}); {free} MiB were free before the child started",
        source=MEASURED,
        why="a GPU shared with other processes, or an allocator that does not reserve, changes how many jobs fit",
        fix=fix,
    )


@pytest.mark.depends_on(IMPORTS, SEES)
def test_memory_growth_keeps_a_small_footprint(growth_run: MemoryRun, measured: Any) -> None:
    run = growth_run
    how = "set_memory_growth(gpu, True)" if run.mode == "set_memory_growth" else "TF_FORCE_GPU_ALLOW_GROWTH=true"
    _children_ran(run, f"a small model with {how}")
    held = _measured_mib(run, measured)
    ceiling = growth_ceiling_mib(run)
    if held <= ceiling:
        return
    report = run.children[0].report
    peak = report.peak_bytes // MIB if report is not None and report.peak_bytes is not None else None
    inside = f"; get_memory_info inside: {peak} MiB peak" if peak is not None else ""
    total = (run.total_bytes or 0) // MIB
    if total and held < total // 2:
        # Growth worked (the allocator did not take the card): the excess sits outside TF's tensors.
        cause = "the CUDA context and library kernels outside TensorFlow's allocator are that large"
        fix = "keep CUDA_MODULE_LOADING=LAZY (the default since CUDA 11.7; EAGER loads every kernel of every library)"
    else:
        cause = "memory growth did not take effect: the allocator reserved the card up front"
        fix = f"{CONFIGURE_EARLY}; growth is dropped when logical devices are configured (TF #38367)"
    fail(
        f"with {how} a small model holds {held} MiB of {_label(run)}: {cause}",
        expected=f"at most {ceiling} MiB (CUDA context, library handles and a few MiB of tensors)",
        found=f"{held} MiB ({run.footprint.detail}){inside}",
        source=MEASURED,
        why="with growth, TensorFlow must take memory as it needs it, so several jobs can share the GPU",
        fix=fix,
    )


@pytest.mark.depends_on(IMPORTS, SEES)
def test_memory_limit_caps_the_process(limit_run: MemoryRun, measured: Any) -> None:
    run = limit_run
    limit = run.limit_mb or LIMIT_MB
    what = f"a logical device with memory_limit={limit}"
    _children_ran(run, what)
    total = (run.total_bytes or 0) // MIB
    if total and total < 2 * (limit + LIMIT_OVERHEAD_MIB):
        not_applicable(f"{_label(run)} has {total} MiB: too small to tell a {limit} MiB limit from the default")
    child = run.children[0]
    report = child.report
    log = child.log
    created = log.created[0].memory_mb if log.created else None
    async_note = (
        " under TF_GPU_ALLOCATOR=cuda_malloc_async, where the limit is only a release threshold"
        if log.allocator == "cuda_malloc_async"
        else ""
    )
    problems = []
    if report is not None and report.over_limit is not None and not report.over_limit.startswith("refused"):
        problems.append(f"an allocation of {limit + 256} MiB {report.over_limit} inside the limit")
    if created is not None and created > limit:
        problems.append(f"TensorFlow created /device:GPU:0 with {created} MB")
    held = _measured_mib(run, measured)
    if held > limit + LIMIT_OVERHEAD_MIB:
        problems.append(f"the process holds {held} MiB ({run.footprint.detail})")
    if not problems:
        return
    fail(
        f"{what} does not cap TensorFlow on {_label(run)}: {problems[0]}{async_note}",
        expected=f"at most {limit} MB for tensors (larger allocations refused with ResourceExhaustedError), "
        f"{limit + LIMIT_OVERHEAD_MIB} MiB for the process",
        found="; ".join(problems),
        source=MEASURED + "; TensorFlow's 'Created device' log line",
        why="memory_limit (the TF2 per_process_gpu_memory_fraction) is how jobs share a GPU safely",
        fix="unset TF_GPU_ALLOCATOR"
        if async_note
        else "set the limit before the first op: "
        "tf.config.set_logical_device_configuration(gpu, [tf.config.LogicalDeviceConfiguration(memory_limit=MB)])",
    )


@pytest.mark.depends_on(IMPORTS, SEES)
def test_two_processes_with_memory_growth_share_a_gpu(shared_run: MemoryRun, measured: Any) -> None:
    run = shared_run
    _children_ran(run, "two TensorFlow processes with memory growth")
    footprint = run.footprint
    if footprint.mib is not None:
        measured("shared_footprint_mib", footprint.mib)


# ---- PyTorch and JAX: their allocators, measured from outside the same way ------------------
#
# Each mode is a child holding its allocation while NVML measures it (`gpuconform.frameworks.torch.memory`,
# `gpuconform.frameworks.jax.memory`); what they judge against is torch's own view (memory_reserved) and
# jax.toml [runtime] (the documented preallocation). GPU hosts only; a framework the profile only finds
# installed warns instead of failing.

TORCH_IMPORTS = "framework::torch_imports_as_the_installed_distribution"
TORCH_BUILD = "framework::torch_build_can_use_the_gpu"
TORCH_SEES = "framework::torch_sees_the_expected_gpus"
JAX_IMPORTS = "framework::jax_imports_as_the_installed_distribution"
JAX_STARTS = STARTS_CHECKS["jax"]
JAX_BUILD = "framework::jax_build_can_use_the_gpu"
JAX_SEES = "framework::jax_sees_the_expected_gpus"


def _gpu_of(host_facts: Facts, pin: int | None) -> GpuFacts:
    """The GPU a memory check measures: this worker's pin, else the first one the environment shows."""
    gpus = host_facts.driver.nvml.gpus
    shown = [g for g in gpus if g.index == pin] if pin is not None else visibility(os.environ.get(VISIBLE), gpus).gpus
    if not shown:
        not_applicable(f"NVML lists no GPU this run may use ({visibility(os.environ.get(VISIBLE), gpus).describe()})")
    return shown[0]


@pytest.fixture
def torch_gpu(gpu_profile: Expectations, host_facts: Facts, torch_live: LiveChildren) -> GpuFacts:
    return _gpu_of(host_facts, torch_live.pin)


@pytest.fixture
def jax_gpu(gpu_profile: Expectations, host_facts: Facts, jax_live: LiveChildren) -> GpuFacts:
    return _gpu_of(host_facts, jax_live.pin)


def _torch_run(live: LiveChildren, gpu: GpuFacts, mode: str, copies: int = 1) -> TorchRun:
    try:
        return torch_memory.run_mode(live, gpu, mode, copies)
    except DataError as exc:
        could_not_check(f"the PyTorch {mode} memory child", exc, source=live.source(MODULE))


def _jax_run(live: LiveChildren, gpu: GpuFacts, mode: str, copies: int = 1) -> JaxRun:
    try:
        return jax_memory.run_mode(live, gpu, mode, copies)
    except DataError as exc:
        could_not_check(f"the JAX {mode} memory child", exc, source=live.source(MODULE))


def _judge_children(need: FrameworkNeed, found: Finding | None, warn: Any) -> None:
    """A child that failed fails (or warns) the check; a warned one cannot be judged further."""
    judged(need, found, warn)
    if found is not None:
        not_applicable(f"{found.summary} (warned above)")


@pytest.mark.depends_on(TORCH_IMPORTS, TORCH_BUILD, TORCH_SEES)
def test_torch_caching_allocator_reserves_what_nvml_sees(
    torch_need: FrameworkNeed, torch_live: LiveChildren, torch_gpu: GpuFacts, host_warn: Any, measured: Any
) -> None:
    """NVML sees PyTorch's memory_reserved for the process, and no more than a CUDA context beyond it."""
    run = _torch_run(torch_live, torch_gpu, "caching")
    source = f"{MEASURED_OUTSIDE}; memory_reserved inside ({torch_live.source(MODULE)})"
    _judge_children(torch_need, torch_memory.child_problems(run, "PyTorch's caching allocator", source), host_warn)
    held = _measured_mib(run, measured)
    found = torch_memory.caching_finding(run, held, run.footprint.detail, source)
    judged(torch_need, found, host_warn)


@pytest.mark.depends_on(TORCH_IMPORTS, TORCH_BUILD, TORCH_SEES)
def test_torch_per_process_memory_fraction_is_honoured(
    torch_need: FrameworkNeed, torch_live: LiveChildren, torch_gpu: GpuFacts, host_warn: Any, measured: Any
) -> None:
    """Past torch.cuda.set_per_process_memory_fraction an allocation raises torch.OutOfMemoryError."""
    run = _torch_run(torch_live, torch_gpu, "fraction")
    source = f"{MEASURED_OUTSIDE}; the allocations inside ({torch_live.source(MODULE)})"
    _judge_children(torch_need, torch_memory.child_problems(run, "a PyTorch memory fraction", source), host_warn)
    held = _measured_mib(run, measured)
    judged(torch_need, torch_memory.fraction_finding(run, held, run.footprint.detail, source), host_warn)


@pytest.mark.depends_on(TORCH_IMPORTS, TORCH_BUILD, TORCH_SEES)
def test_torch_expandable_segments_are_accepted(
    torch_need: FrameworkNeed, torch_live: LiveChildren, torch_gpu: GpuFacts, host_warn: Any, measured: Any
) -> None:
    """PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True is taken without an error or a warning."""
    run = _torch_run(torch_live, torch_gpu, "expandable_segments")
    source = torch_live.source(MODULE)
    what = f"PyTorch with PYTORCH_CUDA_ALLOC_CONF={torch_memory.EXPANDABLE}"
    _judge_children(torch_need, torch_memory.child_problems(run, what, source), host_warn)
    _measured_mib(run, measured)
    judged(torch_need, torch_memory.expandable_finding(run, source), host_warn)


@pytest.mark.depends_on(TORCH_IMPORTS, TORCH_BUILD, TORCH_SEES)
def test_two_torch_processes_share_a_gpu(
    torch_need: FrameworkNeed, torch_live: LiveChildren, torch_gpu: GpuFacts, host_warn: Any, measured: Any
) -> None:
    """Two PyTorch processes each allocate 256 MiB on one GPU at once."""
    run = _torch_run(torch_live, torch_gpu, "caching", copies=2)
    found = torch_memory.child_problems(run, "two PyTorch processes", torch_live.source(MODULE))
    judged(torch_need, found, host_warn)
    if run.footprint.mib is not None:
        measured("shared_footprint_mib", run.footprint.mib)


@pytest.mark.depends_on(JAX_IMPORTS, JAX_STARTS, JAX_BUILD, JAX_SEES)
@pytest.mark.parametrize("mode", ["default", "mem_fraction"])
def test_jax_preallocates_the_configured_share(
    mode: str, jax_need: FrameworkNeed, jax_live: LiveChildren, jax_gpu: GpuFacts, other_tables: FrameworkTables,
    host_warn: Any, measured: Any,
) -> None:
    """JAX preallocates 75% of the GPU by default, and the share XLA_PYTHON_CLIENT_MEM_FRACTION names."""
    runtime = other_tables.jax.runtime
    if runtime is None:
        not_applicable("matrices/jax.toml has no [runtime] table: the documented preallocation is not known")
    run = _jax_run(jax_live, jax_gpu, mode)
    source = f"{MEASURED_OUTSIDE}; memory_stats() inside ({jax_live.source(MODULE)})"
    what = f"JAX with {jax_memory.setting(mode)}"
    _judge_children(jax_need, jax_memory.child_problems(run, what, source), host_warn)
    held = _measured_mib(run, measured)
    if run.total_mib is None:
        not_applicable(f"NVML reports no total memory for {run.label}")
    judged(jax_need, jax_memory.preallocation_finding(run, held, run.footprint.detail, runtime, source), host_warn)


@pytest.mark.depends_on(JAX_IMPORTS, JAX_STARTS, JAX_BUILD, JAX_SEES)
@pytest.mark.parametrize("mode", ["preallocate_false", "platform_allocator"])
def test_jax_allocates_on_demand_when_told(
    mode: str, jax_need: FrameworkNeed, jax_live: LiveChildren, jax_gpu: GpuFacts, host_warn: Any, measured: Any
) -> None:
    """With XLA_PYTHON_CLIENT_PREALLOCATE=false, or XLA_PYTHON_CLIENT_ALLOCATOR=platform, JAX takes what it needs."""
    run = _jax_run(jax_live, jax_gpu, mode)
    source = f"{MEASURED_OUTSIDE}; memory_stats() inside ({jax_live.source(MODULE)})"
    what = f"JAX with {jax_memory.setting(mode)}"
    _judge_children(jax_need, jax_memory.child_problems(run, what, source), host_warn)
    held = _measured_mib(run, measured)
    judged(jax_need, jax_memory.on_demand_finding(run, held, run.footprint.detail, source), host_warn)


@pytest.mark.depends_on(JAX_IMPORTS, JAX_STARTS, JAX_BUILD, JAX_SEES)
def test_two_jax_processes_share_a_gpu(
    jax_need: FrameworkNeed, jax_live: LiveChildren, jax_gpu: GpuFacts, host_warn: Any, measured: Any
) -> None:
    """Two JAX processes with XLA_PYTHON_CLIENT_PREALLOCATE=false each compute on one GPU at once."""
    run = _jax_run(jax_live, jax_gpu, "preallocate_false", copies=2)
    judged(jax_need, jax_memory.child_problems(run, "two JAX processes", jax_live.source(MODULE)), host_warn)
    if run.footprint.mib is not None:
        measured("shared_footprint_mib", run.footprint.mib)
