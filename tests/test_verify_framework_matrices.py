"""tools/verify_framework_matrices.py: its torch and JAX readings and its diff logic, on small wheels
fabricated in tmp_path (a zip with version.py, METADATA, an arch-flags string and a tiny fatbin
blob), built to agree with the shipped torch.toml / jax.toml rows or to differ from them in one way."""

from __future__ import annotations

import importlib.util
import sys
import zipfile
from pathlib import Path
from types import ModuleType
from typing import Any

from gpuconform.expect.framework_tables import load_framework_tables

ROOT = Path(__file__).resolve().parents[1]
TABLES = load_framework_tables()


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


tool = load("verify_framework_matrices")
report: Any = load("verify_framework_report")
fatbins: Any = sys.modules["fatbins"]

PTX, SASS = 1, 2
ROW = TABLES.torch.build("2.4.0")
assert ROW is not None
ARCHS = [int(a.split("_")[1]) for a in ROW.arch_list]  # 2.4.0: SASS only, sm_50 ... sm_90
VERSION_PY = (
    "from typing import Optional\n\n__all__ = ['__version__', 'debug', 'cuda', 'git_version', 'hip']\n"
    "__version__ = '2.4.0+cu121'\ndebug = False\ncuda: Optional[str] = '12.1'\n"
    "git_version = 'e4ee3be4063b7c430974252fdf7db42273388d86'\nhip: Optional[str] = None\n"
)
TORCH_REQUIRES = [
    'nvidia-cuda-runtime-cu12 (==12.1.105) ; platform_system == "Linux" and platform_machine == "x86_64"',
    'nvidia-cudnn-cu12 (==9.1.0.70) ; platform_system == "Linux" and platform_machine == "x86_64"',
    "filelock",
]


def metadata(name: str, version: str, requires: list[str]) -> str:
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    return "\n".join(lines + [f"Requires-Dist: {r}" for r in requires]) + "\n\nThe description.\n"


def padded(blob: bytes) -> bytes:
    """To 2 MB, the size below which the fatbin scan skips a shared object."""
    return blob + b"\0" * (fatbins.MIN_OBJECT_BYTES + 16 - len(blob))


def torch_wheel(
    tmp_path: Path,
    *,
    version_py: str = VERSION_PY,
    requires: list[str] = TORCH_REQUIRES,
    flags: bytes = b"sm_50 sm_60 sm_70 sm_75 sm_80 sm_86 sm_90",
    entries: list[list[tuple[int, int]]] | None = None,
) -> Path:
    path = tmp_path / "torch-2.4.0-cp311-cp311-manylinux1_x86_64.whl"
    kernels = entries if entries is not None else [[(SASS, a) for a in ARCHS]] * 3
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("torch/version.py", version_py)
        z.writestr("torch-2.4.0.dist-info/METADATA", metadata("torch", "2.4.0", requires))
        # As 2.9.1 has it: the flags right after another literal's bytes, with no NUL between.
        z.writestr("torch/lib/libtorch_python.so", padded(b"\x7fELF\0from_ipc_h" + flags + b"\0other\0"))
        z.writestr("torch/lib/libtorch_cuda.so", padded(b"\x7fELF" + b"".join(fatbins.fatbin(e) for e in kernels)))
        # A shared object the scan must leave alone: only libtorch_cuda.so holds the kernels read.
        z.writestr("torch/lib/libcaffe2_nvrtc.so", padded(fatbins.fatbin([(SASS, 35)])))
    return path


def read(tmp_path: Path, wheel: Path, package: str, version: str) -> Any:
    scratch = tmp_path / "scratch"
    scratch.mkdir(exist_ok=True)
    return tool.read_wheel(wheel, package, version, scratch)


def diffs(reading: Any) -> list[tuple[str, str, str]]:
    judge = {"torch": report.compare_torch, "jax": report.compare_jax}.get(reading.package, report.compare_plugin)
    return [(d.key, d.matrix, d.wheel) for d in judge(reading, TABLES)]


# --- torch ------------------------------------------------------------------------------------------


def test_a_torch_wheel_is_read_for_its_cuda_cudnn_pin_arch_flags_and_kernels(tmp_path: Path) -> None:
    r = read(tmp_path, torch_wheel(tmp_path), "torch", "2.4.0")
    assert (r.version_py["__version__"], r.version_py["cuda"], r.version_py["hip"]) == ("2.4.0+cu121", "12.1", None)
    assert report.cudnn_pin(r) == "9.1.0.70"
    assert r.arch_list() == ["sm_50", "sm_60", "sm_70", "sm_75", "sm_80", "sm_86", "sm_90"]
    assert r.fatbins.objects_scanned == 1 and r.fatbins.fatbins == 3 and "3.5" not in r.fatbins.sass
    assert report.fatbin_arch_list(r) == r.arch_list()
    assert r.files["fatbins"] == "torch/lib/libtorch_cuda.so"


def test_a_torch_wheel_that_agrees_with_its_row_has_no_difference(tmp_path: Path) -> None:
    assert diffs(read(tmp_path, torch_wheel(tmp_path), "torch", "2.4.0")) == []


def test_another_cudnn_pin_or_cuda_is_a_difference_naming_the_build(tmp_path: Path) -> None:
    requires = [t.replace("9.1.0.70", "9.5.1.17") for t in TORCH_REQUIRES]
    r = read(tmp_path, torch_wheel(tmp_path, requires=requires), "torch", "2.4.0")
    assert diffs(r) == [("build 2.4.0 cu121 cudnn", "9.1.0.70", "9.5.1.17")]
    r = read(tmp_path, torch_wheel(tmp_path, version_py=VERSION_PY.replace("'12.1'", "'12.4'")), "torch", "2.4.0")
    assert ("build 2.4.0 cu121 cuda", "12.1", "12.4") in diffs(r)


def test_arch_flags_and_fatbins_that_disagree_with_the_row_are_differences(tmp_path: Path) -> None:
    entries = [[(SASS, a) for a in ARCHS] + [(PTX, 90)]] * 2
    r = read(tmp_path, torch_wheel(tmp_path, flags=b"sm_80 sm_90 compute_90", entries=entries), "torch", "2.4.0")
    found = {(key, wheel) for key, _, wheel in diffs(r)}
    assert ("build 2.4.0 cu121 arch_list", "['sm_80', 'sm_90', 'compute_90']") in found
    assert ("build 2.4.0 cu121 arch_list", str([*ROW.arch_list, "compute_90"])) in found


def test_kernels_built_for_a_few_architectures_only_do_not_change_the_fatbin_arch_list(tmp_path: Path) -> None:
    # As in 2.15.0: some fatbins hold sm_90 alone, and an arch-specific sm_103 is in a few.
    entries = [[(SASS, a) for a in ARCHS]] * 3 + [[(SASS, 90)], [(SASS, 90), (SASS, 103)]]
    r = read(tmp_path, torch_wheel(tmp_path, entries=entries), "torch", "2.4.0")
    assert r.fatbins.sass["9.0"] == 5 and r.fatbins.sass["10.3"] == 1
    assert report.fatbin_arch_list(r) == list(ROW.arch_list)
    assert diffs(r) == []


def test_a_cpu_build_or_an_unknown_release_is_a_difference_not_a_crash(tmp_path: Path) -> None:
    r = read(tmp_path, torch_wheel(tmp_path, version_py=VERSION_PY.replace("'12.1'", "None")), "torch", "2.4.0")
    assert diffs(r) == [("release 2.4.0", "a CUDA build", "cuda = None")]
    r.version, r.version_py = "2.99.0", {"__version__": "2.99.0+cu128", "cuda": "12.8"}
    assert diffs(r)[0][:2] == ("build 2.99.0 cu128", "no row")


# --- jax and its CUDA plugins --------------------------------------------------------------------------


def small_wheel(tmp_path: Path, name: str, version: str, requires: list[str]) -> Path:
    path = tmp_path / f"{name.replace('-', '_')}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(f"{name.replace('-', '_')}-{version}.dist-info/METADATA", metadata(name, version, requires))
    return path


JAX = [
    "jaxlib<=0.7.2,>=0.7.2",
    'jaxlib==0.7.1; extra == "ci"',
    'jax-cuda12-plugin[with-cuda]<=0.7.2,>=0.7.2; extra == "cuda12"',
    'jax-cuda13-plugin[with-cuda]<=0.7.2,>=0.7.2; extra == "cuda13"',
]
PLUGIN = [
    "jax-cuda12-pjrt==0.7.2",
    'nvidia-cuda-runtime-cu12>=12.1.105; sys_platform == "linux" and extra == "with-cuda"',
    'nvidia-cudnn-cu12<10.0,>=9.8; sys_platform == "linux" and extra == "with-cuda"',
]


def test_a_jax_wheel_is_judged_on_its_jaxlib_range_and_its_cuda_extras(tmp_path: Path) -> None:
    r = read(tmp_path, small_wheel(tmp_path, "jax", "0.7.2", JAX), "jax", "0.7.2")
    assert str(r.requirement("jaxlib").specifier) == "<=0.7.2,>=0.7.2"  # not the ci extra's pin
    assert diffs(r) == []
    moved = [JAX[0].replace(">=0.7.2", ">=0.7.1"), *JAX[1:3]]  # and no cuda13 extra
    r = read(tmp_path, small_wheel(tmp_path, "jax", "0.7.2", moved), "jax", "0.7.2")
    assert [k for k, _, _ in diffs(r)] == ["jax 0.7.2 jaxlib", "jax 0.7.2 cuda13_plugin"]


def test_a_plugin_wheel_is_judged_on_its_pjrt_pin_and_its_cuda_and_cudnn_floors(tmp_path: Path) -> None:
    r = read(tmp_path, small_wheel(tmp_path, "jax-cuda12-plugin", "0.7.2", PLUGIN), "jax-cuda12-plugin", "0.7.2")
    assert diffs(r) == []
    newer = [PLUGIN[0], PLUGIN[1], PLUGIN[2].replace(">=9.8", ">=9.10")]
    r = read(tmp_path, small_wheel(tmp_path, "jax-cuda12-plugin", "0.7.2", newer), "jax-cuda12-plugin", "0.7.2")
    assert diffs(r) == [("plugin jax-cuda12-plugin 0.7.2 cudnn", "<10.0,>=9.8", "<10.0,>=9.10")]


def test_an_offline_run_writes_the_report_and_exits_1_on_a_difference(tmp_path: Path) -> None:
    cache, out = tmp_path / "cache.json", tmp_path / "out.md"
    wheel = torch_wheel(tmp_path, requires=[t.replace("9.1.0.70", "9.5.1.17") for t in TORCH_REQUIRES])
    assert tool.main(["--wheel", str(wheel), "--cache", str(cache), "--out", str(out)]) == 1
    assert tool.main(["--offline", "--cache", str(cache), "--out", str(out)]) == 1
    text = out.read_text()
    assert "**1** torch, **0** jax" in text
    assert "| torch 2.4.0 | torch.toml | build 2.4.0 cu121 cudnn | 9.1.0.70 | 9.5.1.17 |" in text
    assert "re-judged from the tool's cache (--offline)" in text
    assert "`sm_50 sm_60 sm_70 sm_75 sm_80 sm_86 sm_90`" in text
