"""PyTorch's memory layer: its children's modes, and what NVML measured of them judged against torch's own view.

`run_mode` starts a mode's children on one GPU (`gpuconform.frameworks.live.LiveChildren.memory_run`:
NVML before and while they hold, recorded for replay) and returns the run the checks judge.
Every mode's environment clears the allocator variables of matrices/torch.toml [runtime] but
the one it sets, so "caching" measures torch's default and not this shell's.
"""

from __future__ import annotations

from gpuconform.facts.model import GpuFacts
from gpuconform.frameworks.live import LiveChildren
from gpuconform.frameworks.measure import HeldRun
from gpuconform.frameworks.measure import failed_child
from gpuconform.frameworks.measure import held_run
from gpuconform.frameworks.torch.experiments.memory import CAP_ENV
from gpuconform.frameworks.torch.experiments.memory import HELD_MIB
from gpuconform.frameworks.torch.experiments.memory import OVER_MIB
from gpuconform.frameworks.torch.observations import TorchHoldReport
from gpuconform.verdict.check import Finding

MODULE = "memory"
#: What torch reads its allocator configuration from (matrices/torch.toml [runtime] alloc_conf_variables).
CLEARED = ("PYTORCH_ALLOC_CONF", "PYTORCH_CUDA_ALLOC_CONF")
EXPANDABLE = "expandable_segments:True"
#: The cap set_per_process_memory_fraction is given (as a fraction of the GPU's memory).
CAP_MIB = 2048
#: What a torch process holds on a GPU outside its caching allocator: the CUDA context, the
#: cuBLAS workspace and the kernels loaded (lazily, CUDA_MODULE_LOADING=LAZY being the default).
CONTEXT_MIB = 1024
MODES: dict[str, tuple[str, dict[str, str]]] = {
    "caching": ("hold_caching", {}),
    "fraction": ("hold_fraction", {CAP_ENV: str(CAP_MIB)}),
    "expandable_segments": ("hold_expandable", {"PYTORCH_CUDA_ALLOC_CONF": EXPANDABLE}),
}
TorchRun = HeldRun[TorchHoldReport]


def run_mode(live: LiveChildren, gpu: GpuFacts, mode: str, copies: int = 1) -> TorchRun:
    """`copies` children of `mode` holding `gpu` at once, measured (or the recorded run); DataError for a bad report."""
    name, extra = MODES[mode]
    env: dict[str, str | None] = {name: None for name in CLEARED}
    env.update(extra)
    observed = live.memory_run(MODULE, mode, name, gpu, env, copies=copies)
    return held_run(observed, gpu, TorchHoldReport)


def child_problems(run: TorchRun, what: str, source: str) -> Finding | None:
    """A child that never held its allocation, ended badly, or could not allocate."""
    failed = failed_child(run)
    if failed is None:
        return None
    nth, problem = failed
    fix = "read the child's log and the error above; check for other processes on the GPU"
    if "busy or unavailable" in problem:
        fix = f"sudo nvidia-smi -i {run.gpu.index} -c DEFAULT (shared compute mode)"
    elif "out of memory" in problem.lower():
        fix = "stop the other processes (nvidia-smi --query-compute-apps=pid,used_memory --format=csv)"
    return Finding(
        f"{what} on {run.label}: {nth} failed: {problem.splitlines()[0][:200]}",
        expected=f"{len(run.children)} PyTorch process(es) in mode {run.mode!r} allocate, hold and exit cleanly",
        found=problem[:1500],
        source=source,
        why=f"{what} could not be measured because the PyTorch process failed",
        fix=fix,
    )


def caching_finding(run: TorchRun, held_mib: int, detail: str, source: str) -> Finding | None:
    """NVML sees the caching allocator's reservation, and little beyond it (the context)."""
    report = run.children[0].report
    assert report is not None and report.reserved_bytes is not None and report.allocated_bytes is not None
    reserved, allocated = report.reserved_bytes >> 20, report.allocated_bytes >> 20
    found = f"NVML {held_mib} MiB ({detail}); memory_reserved {reserved} MiB, memory_allocated {allocated} MiB"
    if reserved < allocated or reserved < HELD_MIB:
        summary = f"torch reports {reserved} MiB reserved for {allocated} MiB allocated on {run.label}"
        why = "the caching allocator must hold at least what its tensors use"
        fix = "reinstall torch; report it upstream"
    elif held_mib < reserved:
        summary = (
            f"NVML sees {held_mib} MiB for the PyTorch process on {run.label}, "
            f"less than the {reserved} MiB torch reserved"
        )
        why = "NVML's accounting and torch's disagree: the footprints this layer reports cannot be trusted here"
        fix = "check the driver layer (MIG, containers without the host PID namespace); nvidia-smi -q -d PIDS"
    elif held_mib > reserved + CONTEXT_MIB:
        outside = held_mib - reserved
        summary = f"the PyTorch process holds {held_mib} MiB of {run.label}: {outside} MiB outside its allocator"
        why = "memory outside the allocator is invisible to torch.cuda.memory_* and to empty_cache()"
        fix = "keep CUDA_MODULE_LOADING=LAZY (EAGER loads every kernel of every library); look for other CUDA users"
    else:
        return None
    return Finding(
        summary,
        expected=f"NVML between memory_reserved and memory_reserved + {CONTEXT_MIB} MiB (the CUDA context)",
        found=found,
        source=source,
        why=why,
        fix=fix,
    )


def fraction_finding(run: TorchRun, held_mib: int, detail: str, source: str) -> Finding | None:
    """An allocation beyond set_per_process_memory_fraction raises OutOfMemoryError; one inside it succeeds."""
    report = run.children[0].report
    assert report is not None
    call = f"set_per_process_memory_fraction({report.fraction:.4f})" if report.fraction else "the fraction"
    cap = f"{call} (a {CAP_MIB} MiB cap on {run.label})"
    over = report.over_fraction or "not tried"
    problems = []
    if not over.startswith("raised OutOfMemoryError"):
        problems.append(f"an allocation of {CAP_MIB + OVER_MIB} MiB beyond {cap} {over}")
    if report.within_fraction != "succeeded":
        problems.append(f"an allocation of {CAP_MIB // 4} MiB inside it {report.within_fraction or 'was not tried'}")
    if held_mib > CAP_MIB + CONTEXT_MIB:
        problems.append(f"the process holds {held_mib} MiB ({detail})")
    if not problems:
        return None
    return Finding(
        f"{call} is not honoured on {run.label}: {problems[0]}",
        expected=f"allocations past {CAP_MIB} MiB raise torch.OutOfMemoryError; at most {CAP_MIB + CONTEXT_MIB} MiB "
        "for the process (NVML)",
        found="; ".join(problems),
        source=source,
        why="the fraction is how PyTorch jobs share a GPU safely: past it the allocator must refuse, not take more",
        fix="set the fraction before the first allocation on that device; check PYTORCH_ALLOC_CONF / "
        "PYTORCH_CUDA_ALLOC_CONF for backend:cudaMallocAsync",
    )


def expandable_finding(run: TorchRun, source: str) -> Finding | None:
    """PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True is taken without a warning."""
    report = run.children[0].report
    assert report is not None
    said = [w for w in report.warnings if "expandable" in w or "alloc" in w.lower() or "CachingAllocator" in w]
    if not said:
        return None
    return Finding(
        f"PyTorch warned about PYTORCH_CUDA_ALLOC_CONF={EXPANDABLE} on {run.label}: {said[0].splitlines()[0][:200]}",
        expected=f"PYTORCH_CUDA_ALLOC_CONF={EXPANDABLE} accepted: the allocation held, no warning",
        found="; ".join(said),
        source=source,
        why="expandable segments reduce fragmentation in long jobs; a setting torch rejects or ignores does not",
        fix="read the warning: expandable segments need a driver with the CUDA virtual memory management API",
    )
