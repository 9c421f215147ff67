"""PyTorch and JAX in the libraries layer: which copy of each CUDA library their children really mapped.

Where torch and jax are installed (the +cpu wheel and jax[cpu] will do), one live run of the
layer with a CPU profile requiring them: the children read their own /proc/self/maps (libtorch_cpu.so
is in torch's, jaxlib's _jax.so in jax's) and, being CPU-only builds that map no CUDA library, the
checks do not apply, saying which build. The GPU hosts below are described hosts (`gpuconform facts
from-spec`, an H100) carrying the committed answers of those real children
(tests/data/framework_children/cpu-wheels.json), with the build turned into a CUDA one and the maps
into what a CUDA build maps: its pip copies, or a system cuDNN on LD_LIBRARY_PATH in their place.
"""

from __future__ import annotations

import copy
import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gpuconform.frameworks.maps import MappedLibraries
from gpuconform.frameworks.own_copies import Words
from gpuconform.frameworks.own_copies import judge
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
from tests.test_framework_torch_jax import torch_child_of
from tests.test_framework_torch_jax import verdict_line

TORCH_MAPS = "libraries::torch_maps_its_own_cuda_libraries"
JAX_MAPS = "libraries::jax_maps_its_own_cuda_libraries"
SITE = "/venv/lib/python3.11/site-packages"
PIP_CUDNN = f"{SITE}/nvidia/cudnn/lib/libcudnn.so.9"
#: A CUDA 12.4 toolkit with cuDNN 9.1 in its lib64, as NVIDIA's install guide puts it on LD_LIBRARY_PATH.
SYSTEM = "/usr/local/cuda-12.4/lib64"
SYSTEM_CUDNN = f"{SYSTEM}/libcudnn.so.9.1.0"
#: What a CUDA 13 build's wheels unpack (nvidia-cudnn-cu13 to nvidia/cudnn, the rest to nvidia/cu13).
WHEEL_FILES = (
    f"{SITE}/nvidia/cu13/lib/libcudart.so.13",
    f"{SITE}/nvidia/cu13/lib/libcublas.so.13",
    f"{SITE}/nvidia/cu13/lib/libcublasLt.so.13",
    f"{SITE}/nvidia/cudnn/lib/libcudnn.so.9",
    f"{SITE}/nvidia/cudnn/lib/libcudnn_graph.so.9",
    f"{SITE}/nvidia/nccl/lib/libnccl.so.2",
)
CUDA12_WHEELS = (
    f"{SITE}/nvidia/cuda_runtime/lib/libcudart.so.12",
    f"{SITE}/nvidia/cublas/lib/libcublas.so.12",
    f"{SITE}/nvidia/cudnn/lib/libcudnn.so.9",
)


def line(path: str, n: int) -> str:
    """A /proc/<pid>/maps line mapping `path` (executable text, as the loader maps a library)."""
    start = 0x7F0000000000 + n * 0x1000000
    return f"{start:x}-{start + 0x200000:x} r-xp 00000000 fe:00 {4000000 + n}                    {path}"


def mapped(
    wheels: tuple[str, ...], maps: tuple[str, ...], ld_library_path: str = ""
) -> Callable[[dict[str, Any]], None]:
    """The child's maps answer: the recorded lines plus `maps`, these pip copies installed, this LD_LIBRARY_PATH."""

    def edit(answers: dict[str, Any]) -> None:
        answer = answers["maps"]
        answer["maps"] = [*answer["maps"], *(line(p, i) for i, p in enumerate(maps))]
        answer["wheel_libraries"] = list(wheels)
        answer["ld_library_path"] = [[e, e] for e in ld_library_path.split(":") if e]
        answer["cuda_initialised"] = True

    return edit


def replay(where: Path, profile_file: str) -> tuple[subprocess.CompletedProcess[str], dict[str, dict[str, Any]]]:
    proc = pytest_run(
        where, "-m", "libraries", "-k", "torch or jax", "--host-profile", profile_file, "--host-facts", "facts.json"
    )
    return proc, checks(where)


@pytest.fixture(scope="module")
def recorded() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(RECORDED.read_text())
    return data


# ---- the live run on this CPU ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    where = tmp_path_factory.mktemp("live")
    (where / "cpu.toml").write_text(CPU_PROFILE + FRAMEWORKS)
    proc = pytest_run(where, "-m", "libraries", "-k", "torch or jax", "--host-profile", "cpu.toml")
    return proc, where


@WHEELS
def test_on_a_cpu_the_real_cpu_builds_map_no_cuda_library_and_the_checks_say_which_build(
    live: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    proc, where = live
    got = checks(where)
    torch, jax = got[TORCH_MAPS], got[JAX_MAPS]
    assert torch["outcome"] == jax["outcome"] == "not-applicable", proc.stdout[-4000:]
    assert torch["reason"].startswith("not applicable: torch ")
    assert torch["reason"].endswith("+cpu is not a CUDA build (torch.version.cuda is None): it maps no CUDA library")
    assert jax["reason"].startswith("not applicable: jax ")
    assert jax["reason"].endswith(" maps no CUDA library")
    assert "has no CUDA plugin installed: jaxlib " in jax["reason"]


@WHEELS
def test_the_live_children_really_read_their_own_maps(live: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    facts = json.loads((live[1] / "reports" / "facts.json").read_text())
    answers = {
        b["framework"]: next(r["value"] for r in b["results"] if r["name"] == "maps")
        for b in facts["observations"]
        if b["module"] == "framework" and b["framework"] in ("torch", "jax")
    }
    files = {name: {m.split(None, 5)[-1] for m in a["maps"]} for name, a in answers.items()}
    assert any(f.endswith("/torch/lib/libtorch_cpu.so") for f in files["torch"])
    assert any(f.endswith("/jaxlib/_jax.so") for f in files["jax"])
    for name in ("torch", "jax"):
        assert answers[name]["pid"] > 0 and answers[name]["cuda_initialised"] is False
        assert answers[name]["wheel_libraries"] == []  # no nvidia-* wheel beside a CPU build
        assert not any("/nvidia/" in f for f in files[name])


# ---- GPU hosts: described, with the recorded children's answers ----------------------------------


def test_a_system_cudnn_on_ld_library_path_shadowing_torchs_pip_copy_fails_naming_both_and_the_entry(
    recorded: dict[str, Any], tmp_path: Path
) -> None:
    maps = (f"{SITE}/nvidia/cu13/lib/libcublas.so.13", SYSTEM_CUDNN)
    torch = both(cuda_build("2.13.0", "cu130"), mapped(WHEEL_FILES, maps, f"{SYSTEM}:/opt/tools/lib"))
    gpu_host(tmp_path, recorded, H100, "580.65.06", torch=torch)
    proc, got = replay(tmp_path, profile(tmp_path, 1, "h100", '[frameworks]\ntorch = "*"\n'))
    assert proc.returncode == 1, proc.stdout[-4000:]
    check = got[TORCH_MAPS]
    assert check["outcome"] == "failed"
    summary = f"torch 2.13.0+cu130 mapped libcudnn.so.9 from {SYSTEM_CUDNN}, not its own pip copy {PIP_CUDNN}"
    assert check["reason"] == summary
    assert f"expected: {PIP_CUDNN} (the nvidia-* wheel torch is installed with, reached through" in check["message"]
    assert f"found:    {SYSTEM_CUDNN}, in {SYSTEM} on LD_LIBRARY_PATH (LD_LIBRARY_PATH={SYSTEM}:/opt/tools/lib)" in (
        check["message"]
    )
    assert "maps of a PyTorch child process (gpuconform.frameworks.torch.experiments.framework)" in check["message"]
    assert "LD_LIBRARY_PATH before the RUNPATH" in check["message"]
    assert "pytorch/pytorch#119989" in check["message"]
    assert check["remediation"] == (
        f"remove {SYSTEM} from LD_LIBRARY_PATH in this environment (or unset LD_LIBRARY_PATH), "
        f"so that PyTorch loads its own {PIP_CUDNN}"
    )
    assert verdict_line(proc) == f"host verdict: FAIL at libraries: {summary}"


def test_torch_mapping_every_cuda_library_from_its_pip_copies_passes(recorded: dict[str, Any], tmp_path: Path) -> None:
    maps = (*WHEEL_FILES[:3], PIP_CUDNN, f"{SITE}/nvidia/nccl/lib/libnccl.so.2")
    torch = both(cuda_build("2.13.0", "cu130"), mapped(WHEEL_FILES, maps, SYSTEM))  # on the path, but not taken
    gpu_host(tmp_path, recorded, H100, "580.65.06", torch=torch)
    proc, got = replay(tmp_path, profile(tmp_path, 1, "h100", '[frameworks]\ntorch = "*"\n'))
    assert got[TORCH_MAPS]["outcome"] == "passed", got[TORCH_MAPS]
    assert got[TORCH_MAPS]["warnings"] == []


def test_two_copies_of_cudnn_mapped_at_once_fail_naming_both(recorded: dict[str, Any], tmp_path: Path) -> None:
    torch = both(cuda_build("2.13.0", "cu130"), mapped(WHEEL_FILES, (PIP_CUDNN, SYSTEM_CUDNN), SYSTEM))
    gpu_host(tmp_path, recorded, H100, "580.65.06", torch=torch)
    proc, got = replay(tmp_path, profile(tmp_path, 1, "h100", '[frameworks]\ntorch = "*"\n'))
    check = got[TORCH_MAPS]
    assert check["outcome"] == "failed"
    assert check["reason"] == f"torch 2.13.0+cu130 has 2 copies of libcudnn mapped at once: {PIP_CUDNN}, {SYSTEM_CUDNN}"
    assert f"{PIP_CUDNN} (pip), {SYSTEM_CUDNN} ({SYSTEM} on LD_LIBRARY_PATH)" in check["message"]
    assert check["remediation"].startswith(f"remove {SYSTEM} from LD_LIBRARY_PATH in this environment")


def test_a_shadowed_jax_plugin_library_fails_and_one_only_installed_warns(
    recorded: dict[str, Any], tmp_path: Path
) -> None:
    system_cublas = f"{SYSTEM}/libcublas.so.12.4.5.8"
    jax = both(_with_plugin("jax-cuda12-plugin"), mapped(CUDA12_WHEELS, (system_cublas, PIP_CUDNN), SYSTEM))
    gpu_host(tmp_path, recorded, H100, "580.65.06", jax=jax)
    proc, got = replay(tmp_path, profile(tmp_path, 1, "h100", '[frameworks]\njax = "*"\n'))
    check = got[JAX_MAPS]
    assert check["outcome"] == "failed", check
    pip = f"{SITE}/nvidia/cublas/lib/libcublas.so.12"
    assert check["reason"].startswith("jax 0.10.2 (jax-cuda12-plugin 0.10.2) mapped libcublas.so.12 from ")
    assert check["reason"].endswith(f"{system_cublas}, not its own pip copy {pip}")
    assert "loaded by path when the plugin initialises (jax_plugins' _load_nvidia_libraries)" in check["message"]
    assert check["remediation"] == (
        f"remove {SYSTEM} from LD_LIBRARY_PATH in this environment (or unset LD_LIBRARY_PATH), "
        f"so that JAX loads its own {pip}"
    )
    # The same host, a profile that does not require jax: a warning, and the layer passes.
    proc, got = replay(tmp_path, profile(tmp_path, 1, "h100", '[frameworks]\ntorch = "*"\n'))
    check = got[JAX_MAPS]
    assert check["outcome"] == "passed"
    (warning,) = check["warnings"]
    assert warning["summary"].endswith(f"{system_cublas}, not its own pip copy {pip}")
    assert "(a warning: " in warning["why"]


def test_jax_mapping_its_plugins_pip_copies_passes(recorded: dict[str, Any], tmp_path: Path) -> None:
    jax = both(_with_plugin("jax-cuda12-plugin"), mapped(CUDA12_WHEELS, CUDA12_WHEELS))
    gpu_host(tmp_path, recorded, H100, "580.65.06", jax=jax)
    proc, got = replay(tmp_path, profile(tmp_path, 1, "h100", '[frameworks]\njax = "*"\n'))
    assert (got[JAX_MAPS]["outcome"], got[JAX_MAPS]["warnings"]) == ("passed", [])


def test_a_recording_from_before_the_maps_answer_loads_and_the_checks_say_it_is_not_recorded(
    recorded: dict[str, Any], tmp_path: Path
) -> None:
    old = copy.deepcopy(recorded)
    for batch in old["observations"]:
        batch["results"] = [r for r in batch["results"] if r["name"] != "maps"]
    torch, jax = cuda_build("2.13.0", "cu130"), _with_plugin("jax-cuda12-plugin")
    gpu_host(tmp_path, old, H100, "580.65.06", torch=torch, jax=jax)
    proc, got = replay(tmp_path, profile(tmp_path, 1, "h100"))
    for check in (TORCH_MAPS, JAX_MAPS):
        assert got[check]["outcome"] == "not-applicable", got[check]
        reason = got[check]["reason"]
        assert reason.startswith("not applicable: needs the live host (")
        assert "experiment 'maps' of this child (framework) is not recorded in " in reason


def test_a_required_torch_that_does_not_import_blocks_the_maps_check_and_its_import_check_stays_the_root(
    recorded: dict[str, Any], tmp_path: Path
) -> None:
    facts = gpu_host(tmp_path, recorded, H100, "580.65.06")
    data, child = torch_child_of(facts)
    child.update(results=[], returncode=-11, log="Fatal Python error: Segmentation fault\n")
    facts.write_text(json.dumps(data))
    where = profile(tmp_path, 1, "h100", '[frameworks]\ntorch = "*"\n')
    proc = pytest_run(
        tmp_path, "-m", "libraries or framework", "-k", "torch", "--host-profile", where, "--host-facts", "facts.json"
    )
    got = checks(tmp_path)
    imports = "framework::torch_imports_as_the_installed_distribution"
    assert got[imports]["outcome"] == "failed", got[imports]
    # The maps check needs the same child: blocked by the later layer's import check, which stays the root (an
    # error here named the libraries layer the first broken one, with a probe-timeout fix).
    assert got[TORCH_MAPS]["outcome"] == "blocked", got[TORCH_MAPS]
    assert got[TORCH_MAPS]["blocked_by"] == imports
    assert f"root check: {imports}" in proc.stdout, proc.stdout[-4000:]
    assert verdict_line(proc).startswith("host verdict: FAIL at framework: import torch fails in a child process: ")


# ---- the judgement on its own: the cases no described host above needs ------------------------------

WORDS = Words("torch 2.13.0+cu130", "PyTorch", "its RUNPATH", "a PyTorch child process")


def test_a_copy_from_neither_the_wheels_nor_ld_library_path_names_ld_preload_and_ld_debug() -> None:
    preloaded = "/opt/hpc/lib/libcudnn.so.9.0.0"
    found = judge(WORDS, MappedLibraries(7, (line(preloaded, 1),), WHEEL_FILES, (), preloaded, False))
    assert found is not None
    assert found.found == f"{preloaded}, which is neither a pip copy nor on LD_LIBRARY_PATH (LD_PRELOAD={preloaded})"
    assert found.source == "/proc/7/maps of a PyTorch child process, after import"
    assert found.fix.startswith(f"find what loads {preloaded} (LD_DEBUG=libs python -c 'import torch' names it)")


def test_without_nvidia_wheels_only_two_copies_at_once_fail() -> None:
    conda = ("/opt/conda/lib/libcudnn.so.9.1.0",)
    assert judge(WORDS, MappedLibraries(7, tuple(line(p, i) for i, p in enumerate(conda)))) is None
    two = (*conda, f"{SYSTEM}/libcudnn.so.9.3.0")
    found = judge(WORDS, MappedLibraries(7, tuple(line(p, i) for i, p in enumerate(two)), (), ((SYSTEM, SYSTEM),)))
    assert found is not None
    assert found.summary == f"torch 2.13.0+cu130 has 2 copies of libcudnn mapped at once: {', '.join(two)}"
    assert found.expected == "one copy of libcudnn"
    assert found.fix.startswith(f"remove {SYSTEM} from LD_LIBRARY_PATH in this environment")


def test_cublaslt_and_cudnns_engine_libraries_are_not_copies_of_cublas_and_cudnn() -> None:
    files = (*WHEEL_FILES, f"{SITE}/nvidia/cudnn/lib/libcudnn_engines_precompiled.so.9")
    assert judge(WORDS, MappedLibraries(7, tuple(line(p, i) for i, p in enumerate(files)), files)) is None
