"""JAX's memory layer: its preallocation modes, each measured from outside with NVML and judged by jax.toml [runtime].

Each mode is one child (two for the shared mode) of `gpuconform.frameworks.jax.experiments.memory.hold`
with the mode's variables set and the others of JAX's GPU allocation cleared, so that "default"
measures JAX's default and not this shell's. What NVML attributes to the child is compared with
the share of the GPU's total memory the mode should take: the documented 75% by default,
the configured fraction, or a small footprint when preallocation is off or the platform
allocator is used.
"""

from __future__ import annotations

from gpuconform.expect.tables.jax import JaxRuntime
from gpuconform.facts.model import GpuFacts
from gpuconform.frameworks.jax.experiments.memory import MODE_ENV
from gpuconform.frameworks.jax.experiments.memory import SETTINGS
from gpuconform.frameworks.jax.observations import JaxHoldReport
from gpuconform.frameworks.live import LiveChildren
from gpuconform.frameworks.measure import HeldRun
from gpuconform.frameworks.measure import failed_child
from gpuconform.frameworks.measure import held_run
from gpuconform.verdict.check import Finding

MODULE = "memory"
PREALLOCATE = "XLA_PYTHON_CLIENT_PREALLOCATE"
MEM_FRACTION = "XLA_PYTHON_CLIENT_MEM_FRACTION"
ALLOCATOR = "XLA_PYTHON_CLIENT_ALLOCATOR"
#: The fraction the mem_fraction mode asks for: far enough from the default 75% to tell them apart.
FRACTION = 0.3
MODES: dict[str, dict[str, str]] = {
    "default": {},
    "preallocate_false": {PREALLOCATE: "false"},
    "mem_fraction": {MEM_FRACTION: f"{FRACTION:.2f}"},
    "platform_allocator": {ALLOCATOR: "platform"},
}
#: What a JAX process holds outside its pool: the CUDA context, cuBLAS/cuDNN handles, compiled kernels.
CONTEXT_MIB = 1024
#: A preallocated pool is judged to within this share of the GPU (XLA rounds, and leaves room it needs).
SLACK = 0.05
#: Without preallocation a 64 MiB array's process stays under this (or half the card): JAX's own test
#: (tests/gpu_memory_flags_test.py) allows up to half of bytes_limit.
SMALL_MIB = 2048
JaxRun = HeldRun[JaxHoldReport]


def run_mode(live: LiveChildren, gpu: GpuFacts, mode: str, copies: int = 1) -> JaxRun:
    """`copies` children of `mode` holding `gpu` at once, measured (or the recorded run); DataError for a bad report."""
    env: dict[str, str | None] = {name: None for name in SETTINGS}
    env.update({**MODES[mode], MODE_ENV: mode})
    observed = live.memory_run(MODULE, mode, "hold", gpu, env, copies=copies)
    return held_run(observed, gpu, JaxHoldReport)


def setting(mode: str) -> str:
    """How messages name a mode: 'XLA_PYTHON_CLIENT_PREALLOCATE=false', or 'JAX's default'."""
    return ", ".join(f"{k}={v}" for k, v in MODES[mode].items()) or "JAX's default"


def child_problems(run: JaxRun, what: str, source: str) -> Finding | None:
    """A child that never held its allocation, ended badly, or could not start its GPU backend."""
    failed = failed_child(run)
    if failed is None:
        return None
    nth, problem = failed
    fix = "read the child's log and the error above; check for other processes on the GPU"
    if "RESOURCE_EXHAUSTED" in problem or "out of memory" in problem.lower():
        fix = (
            f"another process holds the GPU: stop it, or give each JAX process its share "
            f"({MEM_FRACTION}) or {PREALLOCATE}=false"
        )
    elif "refused the settings" in problem:
        fix = f"correct the variable jaxlib names ({', '.join(SETTINGS)})"
    return Finding(
        f"{what} on {run.label}: {nth} failed: {problem.splitlines()[0][:200]}",
        expected=f"{len(run.children)} JAX process(es) with {setting(run.mode)} start, allocate, hold and exit",
        found=problem[:1500],
        source=source,
        why=f"{what} could not be measured because the JAX process failed",
        fix=fix,
    )


def _share(held_mib: int, total_mib: int) -> str:
    return f"{held_mib} MiB ({held_mib / total_mib:.0%} of {total_mib} MiB)"


def preallocation_finding(
    run: JaxRun, held_mib: int, detail: str, runtime: JaxRuntime, source: str
) -> Finding | None:
    """The default mode preallocates the documented share; mem_fraction the configured one."""
    total = run.total_mib
    assert total is not None  # the suite makes the check not applicable without it
    fraction = FRACTION if run.mode == "mem_fraction" else runtime.mem_fraction
    low, high = (fraction - SLACK) * total, fraction * total + CONTEXT_MIB
    if low <= held_mib <= high:
        return None
    report = run.children[0].report
    inside = ""
    if report is not None and report.pool_bytes is not None and report.bytes_limit is not None:
        inside = f"; memory_stats: pool_bytes {report.pool_bytes >> 20} MiB, bytes_limit {report.bytes_limit >> 20} MiB"
    used = run.used_before_mib or 0
    if held_mib < low and used > (1 - fraction) * total:
        cause = f"other processes held {used} MiB before JAX started"
        fix = "stop them (nvidia-smi --query-compute-apps=pid,used_memory --format=csv) before JAX jobs start"
    elif held_mib < low:
        cause = "JAX did not preallocate as documented"
        fix = f"check the environment and sitecustomize for {', '.join(SETTINGS)} and XLA_FLAGS"
    else:
        cause = "JAX took more than the configured share"
        fix = f"check XLA_FLAGS (--xla_gpu_memory_fraction_policy) and {runtime.mem_fraction_variables[0]}"
    return Finding(
        f"with {setting(run.mode)} JAX holds {_share(held_mib, total)} of {run.label}: {cause}",
        expected=f"about {fraction:.0%} of the GPU's total memory: {low:.0f} to {high:.0f} MiB "
        f"({'matrices/jax.toml [runtime] mem_fraction' if run.mode == 'default' else setting(run.mode)})",
        found=f"{held_mib} MiB ({detail}){inside}",
        source=source,
        why="how much JAX preallocates decides how many processes fit on the GPU and when one meets an OOM",
        fix=fix,
    )


def on_demand_finding(run: JaxRun, held_mib: int, detail: str, source: str) -> Finding | None:
    """preallocate_false and the platform allocator take memory as needed: a small footprint."""
    total = run.total_mib
    ceiling = SMALL_MIB if total is None else min(SMALL_MIB, total // 2)
    if held_mib <= ceiling:
        return None
    shown = _share(held_mib, total) if total else f"{held_mib} MiB"
    report = run.children[0].report
    seen = dict(report.settings) if report is not None else {}
    said = ", ".join(f"{k}={v}" for k, v in seen.items()) or "none of JAX's allocation variables"
    return Finding(
        f"with {setting(run.mode)} JAX holds {shown} of {run.label}: it preallocated anyway",
        expected=f"at most {ceiling} MiB for a 64 MiB array (the CUDA context and the array)",
        found=f"{held_mib} MiB ({detail}); the child's environment had {said}",
        source=source,
        why="without preallocation JAX must take memory as it needs it, so that several processes can share the GPU",
        fix=f"set {setting(run.mode)} in the environment the job starts with (before the first JAX operation), "
        "and check XLA_FLAGS for --xla_gpu_memory_fraction_policy",
    )
