"""PyTorch and JAX in the placement and memory layers: real children on this CPU, and every GPU check failing
and passing on described GPU hosts, with the messages a user reads.

Where torch and jax are installed (the +cpu wheel and jax[cpu] will do), one live run of both layers
with a CPU profile requiring them: the placement children run matmul and conv2d on the CPU for real
and the checks that need a GPU do not apply; the memory experiments run under the hold protocol and
answer that there is no GPU. What the placement children answered is committed
(tests/data/framework_children/cpu-wheels-placement.json); the GPU hosts below are described hosts
(`gpuconform facts from-spec`, an H100 80GB) carrying those answers, the framework children's of
tests/test_framework_torch_jax.py, the GPU answers that only a GPU gives (the ops on "cuda:0" and
"gpu:0", written from the CPU runs' own numbers) and memory runs as the plugin records them (what each
child said while it held, and NVML before and during), replayed with `--host-facts`.
"""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gpuconform.expect.framework_tables import load_framework_tables
from gpuconform.frameworks.base import Framework
from gpuconform.frameworks.hold import hold
from gpuconform.frameworks.jax import memory as jax_memory
from gpuconform.frameworks.jax.experiments import placement as jax_placement_experiments
from gpuconform.frameworks.jax.experiments.memory import MODE_ENV
from gpuconform.frameworks.jax.experiments.memory import SETTINGS
from gpuconform.frameworks.jax.framework import FRAMEWORK as JAX
from gpuconform.frameworks.op_inputs import difference
from gpuconform.frameworks.torch import memory as torch_memory
from gpuconform.frameworks.torch.framework import FRAMEWORK as TORCH
from tests.test_framework_torch_jax import CPU_PROFILE
from tests.test_framework_torch_jax import FRAMEWORKS
from tests.test_framework_torch_jax import H100
from tests.test_framework_torch_jax import RECORDED
from tests.test_framework_torch_jax import WHEELS
from tests.test_framework_torch_jax import _with_plugin
from tests.test_framework_torch_jax import both
from tests.test_framework_torch_jax import checks
from tests.test_framework_torch_jax import cuda_build
from tests.test_framework_torch_jax import gpu_host
from tests.test_framework_torch_jax import profile
from tests.test_framework_torch_jax import pytest_run
from tests.test_framework_torch_jax import sees
from tests.test_framework_torch_jax import verdict_line

PLACEMENT_RECORDED = RECORDED.parent / "cpu-wheels-placement.json"
LAYERS = "placement or memory"
PLACEMENT = {
    "torch_cpu": "placement::torch_ops_placed_on_the_cpu_run_there",
    "torch_gpu": "placement::torch_ops_on_each_gpu_agree_with_the_cpu",
    "torch_tf32": "placement::torch_tf32_is_as_documented",
    "jax_cpu": "placement::jax_ops_placed_on_the_cpu_run_there",
    "jax_gpu": "placement::jax_ops_on_each_gpu_agree_with_the_cpu",
    "jax_precision": "placement::jax_default_matmul_precision_is_as_documented",
}
MEMORY = {
    "torch_caching": "memory::torch_caching_allocator_reserves_what_nvml_sees",
    "torch_fraction": "memory::torch_per_process_memory_fraction_is_honoured",
    "torch_expandable": "memory::torch_expandable_segments_are_accepted",
    "torch_shared": "memory::two_torch_processes_share_a_gpu",
    "jax_default": "memory::jax_preallocates_the_configured_share[default]",
    "jax_fraction": "memory::jax_preallocates_the_configured_share[mem_fraction]",
    "jax_no_prealloc": "memory::jax_allocates_on_demand_when_told[preallocate_false]",
    "jax_platform": "memory::jax_allocates_on_demand_when_told[platform_allocator]",
    "jax_shared": "memory::two_jax_processes_share_a_gpu",
}
MIB = 1 << 20
#: NVML's total for an H100 80GB HBM3 (matrices/gpus.toml's memory for h100-sxm, as from-spec describes it).
TOTAL_MIB = 81559
#: What PyTorch warns where the driver lacks the virtual memory API (c10/cuda/CUDACachingAllocator.cpp).
NO_EXPANDABLE = "expandable_segments not supported on this platform"


@pytest.fixture(scope="module")
def recorded() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(RECORDED.read_text())
    return data


@pytest.fixture(scope="module")
def placement_recorded() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(PLACEMENT_RECORDED.read_text())
    return data


# ---- the live run on this CPU ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    where = tmp_path_factory.mktemp("live")
    (where / "cpu.toml").write_text(CPU_PROFILE + FRAMEWORKS)
    proc = pytest_run(where, "-m", f"framework or {LAYERS}", "-k", "torch or jax", "--host-profile", "cpu.toml")
    return proc, where


@WHEELS
def test_on_a_cpu_the_torch_and_jax_ops_run_for_real_and_the_gpu_checks_do_not_apply(
    live: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    proc, where = live
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert verdict_line(proc) == "host verdict: PASS (profile cpu-torch-jax)"
    got = checks(where)
    for check in (PLACEMENT["torch_cpu"], PLACEMENT["jax_cpu"]):
        assert (got[check]["outcome"], got[check]["warnings"]) == ("passed", [])
    gpu_only = [
        c for c in (*PLACEMENT.values(), *MEMORY.values()) if c not in (PLACEMENT["torch_cpu"], PLACEMENT["jax_cpu"])
    ]
    for check in gpu_only:
        assert (got[check]["outcome"], got[check]["reason"]) == (
            "not-applicable",
            "not applicable: profile 'cpu-torch-jax' expects no GPU",
        )


@WHEELS
def test_the_committed_placement_recording_has_the_shape_the_installed_wheels_answer_in(
    live: tuple[subprocess.CompletedProcess[str], Path], placement_recorded: dict[str, Any]
) -> None:
    facts = json.loads((live[1] / "reports" / "facts.json").read_text())

    def shape(observations: list[dict[str, Any]]) -> dict[tuple[str, str], Any]:
        return {
            (b["framework"], r["name"]): sorted(r["value"]) if isinstance(r["value"], dict) else r["value"]
            for b in observations
            if b["module"] == "placement" and b["framework"] in ("torch", "jax")
            for r in b["results"]
        }

    assert shape(facts["observations"]) == shape(placement_recorded["observations"])
    for batch in (b for b in facts["observations"] if b["module"] == "placement"):
        gpu = next(r for r in batch["results"] if r["name"] == "gpu_ops")["value"]
        assert gpu["runs"] == [] and gpu["devices"] == []  # no GPU, said cleanly
        assert gpu["error"].startswith(("torch.cuda.is_available() is False", "jax.devices('gpu') raised RuntimeError"))


@WHEELS
@pytest.mark.parametrize(
    ("framework", "name", "env"),
    [
        (TORCH, "hold_fraction", {"GPUCONFORM_TORCH_CAP_MIB": "2048"}),
        (JAX, "hold", {MODE_ENV: "preallocate_false", "XLA_PYTHON_CLIENT_PREALLOCATE": "false"}),
    ],
)
def test_a_real_memory_child_says_it_has_no_gpu_holds_and_is_released(
    framework: Framework, name: str, env: dict[str, str]
) -> None:
    with hold(framework, "memory", name, env=env, timeout=120) as held:
        assert held.ready, held
    assert held.batch is not None and held.batch[name].ok, held.batch
    report = held.ready_value
    assert isinstance(report, dict)
    assert report["error"].startswith(
        ("RuntimeError: torch.cuda.is_available() is False", "RuntimeError: JAX has no GPU")
    )
    if framework is JAX:
        # jaxlib derived the plugin's options from the variables on this CPU too.
        assert dict(report["options"])["preallocate"] == "False"
        assert dict(report["settings"]) == {"XLA_PYTHON_CLIENT_PREALLOCATE": "false"}
    assert held.batch[name].value == {"released": True}


def test_the_jax_child_keeps_float32_at_the_precisions_the_matrix_lists() -> None:
    runtime = load_framework_tables().jax.runtime
    assert runtime is not None
    assert frozenset(runtime.full_float32_precisions) == jax_placement_experiments.FULL_FLOAT32


def test_the_memory_modes_clear_the_allocator_variables_the_matrices_name() -> None:
    tables = load_framework_tables()
    assert tables.torch.runtime is not None and tables.jax.runtime is not None
    assert set(torch_memory.CLEARED) == set(tables.torch.runtime.alloc_conf_variables)
    assert set(tables.jax.runtime.mem_fraction_variables) <= set(SETTINGS)


# ---- described GPU hosts -------------------------------------------------------------------------


def _gpu_runs(cpu: dict[str, Any], device: str, tf32: dict[str, bool]) -> dict[str, Any]:
    """A gpu_ops answer for one GPU, written from the CPU run's own numbers (the CPU result as reference)."""
    runs = []
    for run in cpu["runs"]:
        run = {**run, "device": device, "result_device": device, "reference": "the cpu result"}
        run["tf32"] = tf32.get(run["op"], False) and run["dtype"] == "float32"
        runs.append(run)
    return {"runs": runs, "devices": [device], "error": None}


def _placement(placement_recorded: dict[str, Any], framework: str, edit: Any) -> dict[str, Any]:
    (batch,) = [copy.deepcopy(b) for b in placement_recorded["observations"] if b["framework"] == framework]
    answers = {r["name"]: r["value"] for r in batch["results"]}
    device = "cuda:0" if framework == "torch" else "gpu:0"
    # On an H100 torch allows TF32 for convolutions only (cudnn.allow_tf32), JAX's DEFAULT for both.
    tf32 = {"matmul": False, "conv2d": True} if framework == "torch" else {"matmul": True, "conv2d": True}
    answers["gpu_ops"] = _gpu_runs(answers["cpu_ops"], device, tf32)
    edit(answers)
    for result in batch["results"]:
        result["value"] = answers[result["name"]]
    return batch


def _hold(pid: int, report: dict[str, Any], problem: str | None = None) -> dict[str, Any]:
    return {"pid": pid, "ready": True, "report": report, "problem": problem, "log": ""}


def _nvml(used_mib: int, processes: dict[int, int]) -> dict[str, Any]:
    procs = [{"pid": pid, "used_bytes": mib * MIB} for pid, mib in processes.items()]
    gpu = {"index": 0, "total_bytes": TOTAL_MIB * MIB, "used_bytes": used_mib * MIB, "processes": procs}
    return {"init_error": None, "gpus": [gpu]}


def _memory_run(
    framework: str,
    mode: str,
    env: dict[str, str],
    children: list[tuple[dict[str, Any], int]],
    problems: tuple[str | None, ...] = (),
) -> dict[str, Any]:
    """One memory run as the plugin records it: children each holding `mib` MiB by NVML's per-process accounting."""
    pids = {4100 + i: mib for i, (_, mib) in enumerate(children)}
    holds = [
        _hold(pid, {**report, "pid": pid}, problems[i] if i < len(problems) else None)
        for i, ((report, _), pid) in enumerate(zip(children, pids))
    ]
    full = {"CUDA_DEVICE_ORDER": "PCI_BUS_ID", "CUDA_VISIBLE_DEVICES": "0", **env}
    return {
        "framework": framework,
        "module": "memory",
        "mode": mode,
        "gpu": 0,
        "env": sorted([k, v] for k, v in full.items()),
        "limit_mb": None,
        "children": holds,
        "before": _nvml(0, {}),
        "during": _nvml(sum(pids.values()), pids),
    }


def _torch_report(mode: str, **fields: Any) -> dict[str, Any]:
    return {"mode": mode, "device_count": 1, "total_bytes": TOTAL_MIB * MIB, "allocator_backend": "native", **fields}


def _jax_report(mode: str, **fields: Any) -> dict[str, Any]:
    settings = [[k, v] for k, v in jax_memory.MODES[mode].items()]
    return {"mode": mode, "gpus": 1, "settings": settings, **fields}


def _torch_env(mode: str) -> dict[str, str]:
    return dict(torch_memory.MODES[mode][1])


def _jax_env(mode: str) -> dict[str, str]:
    return {**jax_memory.MODES[mode], MODE_ENV: mode}


def memory_runs(bad: bool) -> list[dict[str, Any]]:
    """The memory runs of a healthy H100 (`bad` False), or of one where every check finds its fault."""
    reserved, allocated = 258 * MIB, 257 * MIB
    caching = _torch_report("caching", allocated_bytes=allocated, reserved_bytes=reserved)
    fraction = _torch_report(
        "fraction",
        allocated_bytes=512 * MIB,
        reserved_bytes=512 * MIB,
        fraction=2048 / TOTAL_MIB,
        within_fraction="succeeded",
        over_fraction="succeeded"
        if bad
        else "raised OutOfMemoryError: CUDA out of memory. Tried to allocate 2.25 GiB.",
    )
    expandable = _torch_report(
        "expandable_segments",
        allocated_bytes=allocated,
        reserved_bytes=reserved,
        alloc_conf=[["PYTORCH_CUDA_ALLOC_CONF", torch_memory.EXPANDABLE]],
        warnings=[NO_EXPANDABLE] if bad else [],
    )
    busy = "RuntimeError: CUDA error: CUDA-capable device(s) is/are busy or unavailable" if bad else None
    small = 64 * MIB

    def jax(mode: str, pool_mib: int) -> dict[str, Any]:
        return _jax_report(mode, bytes_in_use=small, pool_bytes=pool_mib * MIB, bytes_limit=max(pool_mib, 2048) * MIB)

    prealloc = int(TOTAL_MIB * 0.75)
    oom = "RuntimeError: RESOURCE_EXHAUSTED: Out of memory while trying to allocate 67108864 bytes." if bad else None
    return [
        _memory_run("torch", "caching", _torch_env("caching"), [(caching, 6000 if bad else 790)]),
        _memory_run("torch", "fraction", _torch_env("fraction"), [(fraction, 4800 if bad else 1050)]),
        _memory_run("torch", "expandable_segments", _torch_env("expandable_segments"), [(expandable, 790)]),
        _memory_run("torch", "caching", _torch_env("caching"), [(caching, 790), (caching, 790)], (None, busy)),
        _memory_run(
            "jax",
            "default",
            _jax_env("default"),
            [(jax("default", 20480 if bad else prealloc), 20980 if bad else prealloc + 500)],
        ),
        _memory_run(
            "jax",
            "mem_fraction",
            _jax_env("mem_fraction"),
            [(jax("mem_fraction", prealloc if bad else 24467), prealloc + 500 if bad else 24967)],
        ),
        _memory_run(
            "jax",
            "preallocate_false",
            _jax_env("preallocate_false"),
            [(jax("preallocate_false", prealloc if bad else 64), prealloc + 500 if bad else 600)],
        ),
        _memory_run(
            "jax",
            "platform_allocator",
            _jax_env("platform_allocator"),
            [(jax("platform_allocator", prealloc if bad else 64), prealloc + 500 if bad else 600)],
        ),
        _memory_run(
            "jax",
            "preallocate_false",
            _jax_env("preallocate_false"),
            [(jax("preallocate_false", 64), 600)] * 2,
            (None, oom),
        ),
    ]


def described_h100(where: Path, recorded: dict[str, Any], placement_recorded: dict[str, Any], bad: bool) -> Path:
    """An H100 host with CUDA builds of torch and jax whose children answered as the recordings, edited."""
    torch = both(cuda_build("2.13.0", "cu130"), sees(("NVIDIA H100 80GB HBM3", (9, 0))))
    facts = gpu_host(where, recorded, H100, "580.82.07", torch=torch, jax=_with_plugin("jax-cuda13-plugin"))
    data = json.loads(facts.read_text())

    def torch_edit(answers: dict[str, Any]) -> None:
        if bad:
            answers["cpu_ops"]["runs"][1]["max_abs_error"] = 3.0  # float16 matmul: allowed 0.437
            answers["gpu_ops"]["runs"][0]["max_abs_error"] = 0.5  # float32 matmul: allowed 0.00437 (TF32 off)
            answers["tf32"].update(matmul_allow_tf32=True, environment=[["TORCH_ALLOW_TF32_CUBLAS_OVERRIDE", "1"]])

    def jax_edit(answers: dict[str, Any]) -> None:
        if bad:
            answers["cpu_ops"]["runs"][0]["result_device"] = "gpu:0"
            answers["gpu_ops"]["runs"][2].update(non_finite=12)  # conv2d: 12 NaN in its result
            answers["precision"].update(
                default_matmul_precision="bfloat16", environment=[["JAX_DEFAULT_MATMUL_PRECISION", "bfloat16"]]
            )

    data["observations"] += [
        _placement(placement_recorded, "torch", torch_edit),
        _placement(placement_recorded, "jax", jax_edit),
    ]
    data["memory_runs"] = memory_runs(bad)
    facts.write_text(json.dumps(data, indent=2))
    return facts


def replay(where: Path) -> tuple[subprocess.CompletedProcess[str], dict[str, dict[str, Any]]]:
    proc = pytest_run(
        where,
        "-m",
        f"framework or {LAYERS}",
        "-k",
        "torch or jax",
        "--host-profile",
        profile(where, 1, "h100"),
        "--host-facts",
        "facts.json",
    )
    return proc, checks(where)


@pytest.fixture(scope="module")
def healthy(
    tmp_path_factory: pytest.TempPathFactory, recorded: dict[str, Any], placement_recorded: dict[str, Any]
) -> tuple[subprocess.CompletedProcess[str], dict[str, dict[str, Any]]]:
    where = tmp_path_factory.mktemp("healthy")
    described_h100(where, recorded, placement_recorded, bad=False)
    return replay(where)


@pytest.fixture(scope="module")
def broken(
    tmp_path_factory: pytest.TempPathFactory, recorded: dict[str, Any], placement_recorded: dict[str, Any]
) -> tuple[subprocess.CompletedProcess[str], dict[str, dict[str, Any]]]:
    where = tmp_path_factory.mktemp("broken")
    described_h100(where, recorded, placement_recorded, bad=True)
    return replay(where)


def test_a_healthy_h100_passes_every_torch_and_jax_placement_and_memory_check(
    healthy: tuple[subprocess.CompletedProcess[str], dict[str, dict[str, Any]]],
) -> None:
    proc, got = healthy
    assert proc.returncode == 0, proc.stdout[-6000:]
    assert verdict_line(proc) == "host verdict: PASS (profile h100-torch-jax)"
    for check in (*PLACEMENT.values(), *MEMORY.values()):
        assert (got[check]["outcome"], got[check]["warnings"]) == ("passed", []), got[check]


def failed(got: dict[str, dict[str, Any]], key: str) -> dict[str, Any]:
    check = got[{**PLACEMENT, **MEMORY}[key]]
    assert check["outcome"] == "failed", check
    return check


def test_a_broken_h100_fails_at_placement_first(
    broken: tuple[subprocess.CompletedProcess[str], dict[str, dict[str, Any]]],
) -> None:
    proc, got = broken
    assert proc.returncode == 1, proc.stdout[-6000:]
    assert verdict_line(proc) == f"host verdict: FAIL at placement: {failed(got, 'torch_cpu')['reason']}"


def test_placement_failures_say_what_disagreed_by_how_much_and_the_tolerance(
    broken: tuple[subprocess.CompletedProcess[str], dict[str, dict[str, Any]]],
) -> None:
    _, got = broken
    torch_cpu = failed(got, "torch_cpu")
    assert torch_cpu["reason"].startswith(
        "PyTorch: matmul (float16) on cpu differs from numpy float64 by 3 (allowed 0.437: 0.01 x"
    )
    assert torch_cpu["remediation"] == "pip install --force-reinstall 'torch==2.13.0+cu130'"
    torch_gpu = failed(got, "torch_gpu")
    assert torch_gpu["reason"].startswith(
        "PyTorch: matmul (float32) on cuda:0 differs from the cpu result by 0.5 (allowed 0.00437: 0.0001 x"
    )
    assert "TF32 allowed False" in torch_gpu["message"]
    assert "pytest -m driver" in torch_gpu["remediation"]
    jax_cpu = failed(got, "jax_cpu")
    assert jax_cpu["reason"] == "JAX: matmul (float32) on cpu:0 returned its result on gpu:0"
    jax_gpu = failed(got, "jax_gpu")
    assert (
        jax_gpu["reason"]
        == "JAX: conv2d (float32) on gpu:0 returned 12 NaN or infinite value(s); the cpu result has none"
    )
    assert "12 NaN or infinite value(s), TF32 allowed True" in jax_gpu["message"]


def test_tf32_and_precision_failures_name_the_variable_that_changed_the_default(
    broken: tuple[subprocess.CompletedProcess[str], dict[str, dict[str, Any]]],
) -> None:
    _, got = broken
    tf32 = failed(got, "torch_tf32")
    assert tf32["reason"] == (
        "torch 2.13.0+cu130 starts with torch.backends.cuda.matmul.allow_tf32 = True (documented default False): "
        "TORCH_ALLOW_TF32_CUBLAS_OVERRIDE=1 is set in the environment"
    )
    assert tf32["remediation"].startswith("unset TORCH_ALLOW_TF32_CUBLAS_OVERRIDE")
    precision = failed(got, "jax_precision")
    assert precision["reason"].endswith(
        "starts with jax_default_matmul_precision = 'bfloat16', below TensorFloat-32: "
        "JAX_DEFAULT_MATMUL_PRECISION=bfloat16 is set in the environment"
    )
    assert precision["remediation"].startswith("unset JAX_DEFAULT_MATMUL_PRECISION")


def test_torch_memory_failures_read_as_a_user_meets_them(
    broken: tuple[subprocess.CompletedProcess[str], dict[str, dict[str, Any]]],
) -> None:
    _, got = broken
    caching = failed(got, "torch_caching")
    assert caching["reason"] == (
        "the PyTorch process holds 6000 MiB of GPU 0 (NVIDIA H100 80GB HBM3): 5742 MiB outside its allocator"
    )
    assert "memory_reserved 258 MiB, memory_allocated 257 MiB" in caching["message"]
    fraction = failed(got, "torch_fraction")
    assert fraction["reason"] == (
        f"set_per_process_memory_fraction({2048 / TOTAL_MIB:.4f}) is not honoured on GPU 0 (NVIDIA H100 80GB HBM3): "
        f"an allocation of 2304 MiB beyond set_per_process_memory_fraction({2048 / TOTAL_MIB:.4f}) "
        "(a 2048 MiB cap on GPU 0 (NVIDIA H100 80GB HBM3)) succeeded"
    )
    assert "the process holds 4800 MiB" in fraction["message"]
    expandable = failed(got, "torch_expandable")
    assert expandable["reason"] == (
        "PyTorch warned about PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True on GPU 0 (NVIDIA H100 80GB HBM3): "
        f"{NO_EXPANDABLE}"
    )
    shared = failed(got, "torch_shared")
    assert shared["reason"] == (
        "two PyTorch processes on GPU 0 (NVIDIA H100 80GB HBM3): child 2 of 2 failed: "
        "RuntimeError: CUDA error: CUDA-capable device(s) is/are busy or unavailable"
    )
    assert shared["remediation"] == "sudo nvidia-smi -i 0 -c DEFAULT (shared compute mode)"


def test_jax_memory_failures_read_as_a_user_meets_them(
    broken: tuple[subprocess.CompletedProcess[str], dict[str, dict[str, Any]]],
) -> None:
    _, got = broken
    prealloc = int(TOTAL_MIB * 0.75) + 500
    no_prealloc = failed(got, "jax_no_prealloc")
    assert no_prealloc["reason"] == (
        f"with XLA_PYTHON_CLIENT_PREALLOCATE=false JAX holds {prealloc} MiB ({prealloc / TOTAL_MIB:.0%} of "
        f"{TOTAL_MIB} MiB) of GPU 0 (NVIDIA H100 80GB HBM3): it preallocated anyway"
    )
    assert "the child's environment had XLA_PYTHON_CLIENT_PREALLOCATE=false" in no_prealloc["message"]
    platform = failed(got, "jax_platform")
    assert platform["reason"].startswith(f"with XLA_PYTHON_CLIENT_ALLOCATOR=platform JAX holds {prealloc} MiB")
    default = failed(got, "jax_default")
    assert default["reason"] == (
        f"with JAX's default JAX holds 20980 MiB ({20980 / TOTAL_MIB:.0%} of {TOTAL_MIB} MiB) of GPU 0 "
        "(NVIDIA H100 80GB HBM3): JAX did not preallocate as documented"
    )
    assert "about 75% of the GPU's total memory" in default["message"]
    fraction = failed(got, "jax_fraction")
    assert fraction["reason"].startswith(f"with XLA_PYTHON_CLIENT_MEM_FRACTION=0.30 JAX holds {prealloc} MiB")
    assert fraction["reason"].endswith("JAX took more than the configured share")
    shared = failed(got, "jax_shared")
    assert shared["reason"] == (
        "two JAX processes on GPU 0 (NVIDIA H100 80GB HBM3): child 2 of 2 failed: "
        "RuntimeError: RESOURCE_EXHAUSTED: Out of memory while trying to allocate 67108864 bytes."
    )
    assert "XLA_PYTHON_CLIENT_MEM_FRACTION" in shared["remediation"]


def test_a_memory_run_the_facts_do_not_record_needs_the_live_host(
    tmp_path: Path, recorded: dict[str, Any], placement_recorded: dict[str, Any]
) -> None:
    facts = described_h100(tmp_path, recorded, placement_recorded, bad=False)
    data = json.loads(facts.read_text())
    data["memory_runs"] = [r for r in data["memory_runs"] if r["mode"] != "platform_allocator"]
    facts.write_text(json.dumps(data))
    _, got = replay(tmp_path)
    platform = got[MEMORY["jax_platform"]]
    assert platform["outcome"] == "not-applicable"
    assert platform["reason"].startswith("not applicable: needs the live host (JAX runs in child processes")
    assert "in mode 'platform_allocator' on GPU 0" in platform["reason"]


def test_a_result_with_nan_is_counted_since_json_carries_none() -> None:
    want = np.ones((2, 3))
    got = np.array([[1.0, np.nan, 1.0], [np.inf, 1.0, 1.5]])
    assert difference(got, want) == (0.5, 1.0, 2)
    assert difference(np.full((2, 3), np.nan), want) == (None, 1.0, 6)
