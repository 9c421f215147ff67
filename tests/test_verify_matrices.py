"""tools/verify_matrices.py: its readings and its diff logic, on small wheels fabricated in tmp_path.

No network: each wheel is a zip written here with the files a TensorFlow wheel carries
(build_info.py, cuda_config.h, cudnn_version.h, METADATA, a shared object holding CUDA
fatbinaries), built to agree with the shipped matrices or to differ from them in one way.
"""

from __future__ import annotations

import importlib.util
import sys
import zipfile
from pathlib import Path
from types import ModuleType
from typing import Any

from gpuconform.expect.loading import load_matrices

ROOT = Path(__file__).resolve().parents[1]
MATRICES = load_matrices()


def load_tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("verify_matrices", ROOT / "tools" / "verify_matrices.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["verify_matrices"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


tool = load_tool()
fatbins: Any = sys.modules["fatbins"]

PTX, SASS = 1, 2
BUILD_INFO_221 = (
    "import collections\n\nbuild_info = collections.OrderedDict([('cpu_compiler', 'clang'), "
    "('cuda_compute_capabilities', ['sm_60', 'sm_70', 'sm_80', 'sm_89', 'compute_90']), "
    "('cuda_version', '12.5.1'), ('cudnn_version', '9'), ('is_cuda_build', True), "
    "('is_rocm_build', False), ('is_tensorrt_build', False)])\n"
)
CUDA_CONFIG_221 = (
    '#define TF_CUDA_VERSION "12.5.1"\n#define TF_CUDNN_VERSION "9"\n'
    "#define TF_CUDA_COMPUTE_CAPABILITIES 60, 70, 80, 89, 90\n"
)
CUDNN_930 = "#define CUDNN_MAJOR 9\n#define CUDNN_MINOR 3\n#define CUDNN_PATCHLEVEL 0\n"
PINS_221 = {
    "nvidia-cublas-cu12": "<13.0,>=12.5.3.2",
    "nvidia-cuda-cupti-cu12": "<13.0,>=12.5.82",
    "nvidia-cuda-nvcc-cu12": "<13.0,>=12.5.82",
    "nvidia-cuda-nvrtc-cu12": "<13.0,>=12.5.82",
    "nvidia-cuda-runtime-cu12": "<13.0,>=12.5.82",
    "nvidia-cudnn-cu12": "<10.0,>=9.3.0.75",
    "nvidia-cufft-cu12": "<12.0,>=11.2.3.61",
    "nvidia-curand-cu12": "<11.0,>=10.3.6.82",
    "nvidia-cusolver-cu12": "<12.0,>=11.6.3.83",
    "nvidia-cusparse-cu12": "<13.0,>=12.5.1.3",
    "nvidia-nccl-cu12": "<3.0,>=2.27.7",
    "nvidia-nvjitlink-cu12": "<13.0,>=12.5.82",
}
# 2.21's kernels row: SASS 6.0-8.9 in every fatbin, 9.0 SASS in some, 9.0 PTX everywhere, no PTX-only fatbin.
FULL = [(SASS, 60), (SASS, 70), (SASS, 80), (SASS, 89), (PTX, 90)]
WITH_90 = [*FULL, (SASS, 90)]


def metadata(version: str, pins: dict[str, str] | None, requires_python: str = ">=3.10") -> str:
    lines = ["Metadata-Version: 2.4", "Name: tensorflow", f"Version: {version}", f"Requires-Python: {requires_python}"]
    lines.append("Requires-Dist: numpy>=1.26.0")
    if pins is not None:
        lines.append("Provides-Extra: and-cuda")
        lines += [f'Requires-Dist: {name}{spec}; extra == "and-cuda"' for name, spec in pins.items()]
    return "\n".join(lines) + "\n\nThe description.\n"


def make_wheel(
    tmp_path: Path,
    version: str = "2.21.0",
    *,
    build_info: str | None = BUILD_INFO_221,
    cuda_config: str | None = CUDA_CONFIG_221,
    cudnn: str | None = CUDNN_930,
    pins: dict[str, str] | None = PINS_221,
    fatbin_entries: list[list[tuple[int, int]]] | None = None,
    top: str = "tensorflow",
) -> Path:
    path = tmp_path / f"tensorflow-{version}-cp311-cp311-manylinux_2_27_x86_64.whl"
    entries = fatbin_entries if fatbin_entries is not None else [WITH_90, FULL, FULL]
    # Padding with a stray magic number that is not a fatbin, then the fatbins, to 2 MB: scanned like TF's.
    blob = b"\x7fELF" + fatbins.MAGIC + b"\xff" * 64 + b"".join(fatbins.fatbin(e) for e in entries)
    blob += b"\0" * (fatbins.MIN_OBJECT_BYTES + 16 - len(blob))
    with zipfile.ZipFile(path, "w") as z:
        if build_info is not None:
            z.writestr(f"{top}/python/platform/build_info.py", build_info)
        if cuda_config is not None:
            z.writestr(f"{top}/include/third_party/gpus/cuda/cuda_config.h", cuda_config)
        if cudnn is not None:
            z.writestr(f"{top}/include/third_party/gpus/cudnn/include/cudnn_version.h", cudnn)
        z.writestr(f"tensorflow-{version}.dist-info/METADATA", metadata(version, pins))
        z.writestr(f"{top}/libtensorflow_cc.so.2", blob)
    return path


def read(tmp_path: Path, wheel: Path, version: str = "2.21.0", tags: tuple[str, ...] = ()) -> Any:
    scratch = tmp_path / "scratch"
    scratch.mkdir(exist_ok=True)
    reading = tool.read_wheel(wheel, version, "tensorflow", scratch)
    reading.python_tags = list(tags or ("310", "311", "312", "313"))
    return reading


def diffs(reading: Any) -> list[tuple[str, str, str, str]]:
    return [(d.table, d.key, d.matrix, d.wheel) for d in tool.compare(reading, MATRICES)]


# --- reading ---------------------------------------------------------------------------------------------


def test_a_wheel_built_like_2_21_0_is_read_file_by_file(tmp_path: Path) -> None:
    reading = read(tmp_path, make_wheel(tmp_path))
    assert reading.build_info["cuda_version"] == "12.5.1"
    assert reading.cuda_config["TF_CUDA_VERSION"] == "12.5.1"
    assert reading.cudnn_header == "9.3.0"
    assert reading.and_cuda["nvidia-cudnn-cu12"] == "<10.0,>=9.3.0.75"
    assert reading.requires_python == ">=3.10"
    assert reading.glibc == "2.27"
    assert reading.files["cudnn"] == "tensorflow/include/third_party/gpus/cudnn/include/cudnn_version.h"


def test_the_fatbin_scan_counts_sass_and_ptx_per_fatbin_and_skips_a_stray_magic(tmp_path: Path) -> None:
    fat = read(tmp_path, make_wheel(tmp_path, fatbin_entries=[WITH_90, FULL, [(PTX, 90)]])).fatbins
    assert (fat.fatbins, fat.with_sass, fat.ptx_only) == (3, 2, 1)
    assert fat.sass == {"6.0": 2, "7.0": 2, "8.0": 2, "8.9": 2, "9.0": 1}
    assert (fat.sass_everywhere(), fat.sass_somewhere()) == (["6.0", "7.0", "8.0", "8.9"], ["9.0"])
    assert fat.objects_scanned == fat.objects_with_fatbins == 1


def test_a_tensorflow_core_wheel_of_2_0_is_read_from_its_package_directory(tmp_path: Path) -> None:
    old = "is_rocm_build = False\nis_cuda_build = True\ncuda_version_number = '10.0'\ncudnn_version_number = '7'\n"
    wheel = make_wheel(
        tmp_path, "2.0.0", build_info=old, cuda_config=None, cudnn=None, pins=None, top="tensorflow_core"
    )
    reading = read(tmp_path, wheel, "2.0.0")
    assert reading.build_info == {
        "is_rocm_build": False,
        "is_cuda_build": True,
        "cuda_version_number": "10.0",
        "cudnn_version_number": "7",
    }
    assert reading.files["build_info"] == "tensorflow_core/python/platform/build_info.py"
    assert reading.and_cuda is None


def test_the_glibc_floor_is_the_lowest_tag_of_a_compressed_tag_set() -> None:
    assert tool.glibc_floor("tensorflow-2.12.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl") == "2.17"
    assert tool.glibc_floor("tensorflow-2.1.0-cp37-cp37m-manylinux2010_x86_64.whl") == "2.12"
    assert tool.glibc_floor("tensorflow-2.21.0-cp311-none-any.whl") is None


# --- comparing ----------------------------------------------------------------------------------------------


def test_a_wheel_that_agrees_with_every_table_has_no_difference(tmp_path: Path) -> None:
    assert diffs(read(tmp_path, make_wheel(tmp_path))) == []


def test_another_cuda_in_the_headers_is_a_tensorflow_toml_difference_naming_the_file(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path, cuda_config=CUDA_CONFIG_221.replace("12.5.1", "12.8.0"))
    (difference,) = tool.compare(read(tmp_path, wheel), MATRICES)
    assert (difference.table, difference.key, difference.matrix, difference.wheel) == (
        "tensorflow.toml",
        "release 2.21.0 cuda",
        "12.5.1",
        "12.8.0",
    )
    assert difference.read_from == "tensorflow/include/third_party/gpus/cuda/cuda_config.h TF_CUDA_VERSION"


def test_another_cudnn_header_is_a_difference_and_a_docs_minor_is_compared_on_its_components(tmp_path: Path) -> None:
    newer = make_wheel(tmp_path, cudnn=CUDNN_930.replace("MINOR 3", "MINOR 10"))
    assert diffs(read(tmp_path, newer)) == [("tensorflow.toml", "release 2.21.0 cudnn", "9.3.0", "9.10.0")]
    assert tool._same_prefix("8.9.4", "8.9") and not tool._same_prefix("8.6.0", "8.9")


def test_sass_for_another_arch_and_ptx_only_fatbins_are_kernels_toml_differences(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path, fatbin_entries=[[*WITH_90, (SASS, 100)], [*FULL, (SASS, 100)], [(PTX, 90)]])
    found = {(key.rsplit(" ", 1)[-1], matrix, wheel) for _, key, matrix, wheel in diffs(read(tmp_path, wheel))}
    assert ("sass", "['6.0', '7.0', '8.0', '8.9']", "['6.0', '7.0', '8.0', '8.9', '10.0']") in found
    assert ("ptx_only_fatbins", "0", "1") in found


def test_build_info_caps_that_differ_are_a_kernels_toml_difference(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path, build_info=BUILD_INFO_221.replace("'compute_90'", "'sm_90', 'compute_90'"))
    (difference,) = diffs(read(tmp_path, wheel))
    assert difference[:2] == ("kernels.toml", "release 2.21 (2.21) build_info_caps")


def test_an_and_cuda_pin_that_moved_is_a_difference_per_package(tmp_path: Path) -> None:
    pins = {**PINS_221, "nvidia-nccl-cu12": "<3.0,>=2.28.3"}
    assert diffs(read(tmp_path, make_wheel(tmp_path, pins=pins))) == [
        ("and_cuda.toml", "release 2.21.0 pins.nvidia-nccl-cu12", ">=2.27.7,<3.0", "<3.0,>=2.28.3")
    ]


def test_a_patch_release_the_pins_table_lacks_is_compared_with_the_pins_its_lookup_falls_back_to(
    tmp_path: Path,
) -> None:
    same = make_wheel(tmp_path, "2.21.1")
    assert diffs(read(tmp_path, same, "2.21.1")) == []
    moved = make_wheel(tmp_path, "2.21.2", pins={**PINS_221, "nvidia-cudnn-cu12": "<10.0,>=9.8.0.87"})
    (difference,) = diffs(read(tmp_path, moved, "2.21.2"))
    assert difference[1] == "release 2.21.2 pins.nvidia-cudnn-cu12 (lookup falls back to an older patch)"


def test_wheels_for_pythons_outside_the_row_are_a_difference(tmp_path: Path) -> None:
    reading = read(tmp_path, make_wheel(tmp_path), tags=("310", "311", "312", "313", "314"))
    assert diffs(reading) == [
        ("tensorflow.toml", "release 2.21.0 python", ">=3.10,<3.14", "Linux wheels for 3.10, 3.11, 3.12, 3.13, 3.14")
    ]


def test_a_series_the_matrix_lacks_is_a_difference_not_a_crash(tmp_path: Path) -> None:
    reading = read(tmp_path, make_wheel(tmp_path, "2.99.0"), "2.99.0")
    assert diffs(reading) == [("tensorflow.toml", "release 2.99", "no row", "tensorflow 2.99.0 on PyPI")]


# --- pci.ids ------------------------------------------------------------------------------------------------

PCI_IDS = """\
# comment
#\tVersion: 2026.10.24
10de  NVIDIA Corporation
\t1eb8  TU104GL [Tesla T4]
\t\t10de 12a2  T4 16GB
\t1b81  GP104 [GeForce GTX 1070]
\t2330  GH100 [H100 SXM5 80GB]
\t20b2  GA100 [A100 SXM4 80GB]
\t20b0  GA100 [A100 SXM4 40GB]
8086  Intel Corporation
\t2330  Not an NVIDIA part
"""


def test_pci_ids_are_read_for_nvidia_only_with_the_file_version() -> None:
    devices, version = tool.parse_pci_ids(PCI_IDS)
    assert version == "2026.10.24"
    assert devices[0x2330] == "GH100 [H100 SXM5 80GB]"
    assert 0x12A2 not in devices  # a subsystem line


def test_a_pci_id_filed_under_the_wrong_model_or_missing_from_pci_ids_is_a_problem() -> None:
    devices, _ = tool.parse_pci_ids(PCI_IDS)
    assert tool._name_problem(["Tesla T4"], devices[0x1EB8]) is None
    assert tool._name_problem(["NVIDIA A100-SXM4-40GB"], devices[0x20B2]) == (
        "memory 80 GB in pci.ids, 40 GB in the names"
    )
    assert tool._name_problem(["NVIDIA GeForce GTX 1070"], "GP104M [GeForce GTX 1070 Mobile]") == (
        "pci.ids names a mobile part (GP104M [GeForce GTX 1070 Mobile]); the model's names are not mobile ones"
    )
    assert "appears in the pci.ids name" in str(tool._name_problem(["Tesla T4"], devices[0x2330]))
    checks = {c.pci_id: c.problem for c in tool.check_gpus(MATRICES, devices)}
    assert checks["0x1EB8"] is None and checks["0x2901"] == "not in pci.ids"


# --- the report ---------------------------------------------------------------------------------------------


def test_the_report_lists_what_was_verified_from_which_file_and_what_was_not(tmp_path: Path) -> None:
    good = read(tmp_path, make_wheel(tmp_path))
    good.sha256, good.upload_date = "ab" * 32, "2026-03-06"
    bad = read(
        tmp_path, make_wheel(tmp_path, "2.20.0", cuda_config=CUDA_CONFIG_221.replace("12.5.1", "12.9")), "2.20.0"
    )
    report = tool.Report(
        date="2026-12-01",
        readings=[bad, good],
        not_verified=[tool.NotVerified("2.19.0", "tensorflow", "tensorflow-2.19.0-...whl is 700 MiB, over 600")],
        differences=tool.compare(bad, MATRICES),
        gpu_checks=[],
        pci_ids_version=None,
        pci_ids_source=None,
        as_of={"tensorflow": "2026-12-01"},
        sources=["fabricated wheels"],
    )
    text = sys.modules["verify_report"].render(report)
    assert "**2** TensorFlow wheels verified, **1** NOT verified." in text
    assert "| 2.19.0 | tensorflow | tensorflow-2.19.0-...whl is 700 MiB, over 600 |" in text
    assert "| 2.20.0 | tensorflow.toml | release 2.20.0 cuda | 12.5.1 | 12.9 |" in text
    assert "`abababababababab`" in text and "(2026-03-06)" in text
    assert "gpus.toml was NOT checked against a pci.ids" in text


def test_the_cache_round_trips_readings_and_failures(tmp_path: Path) -> None:
    reading = read(tmp_path, make_wheel(tmp_path))
    failed = {"tensorflow==2.19.0": tool.NotVerified("2.19.0", "tensorflow", "download failed: reset")}
    cache = tmp_path / "cache.json"
    tool.save_cache(cache, {"tensorflow==2.21.0": reading}, failed)
    readings, failures = tool.load_cache(cache)
    assert readings["tensorflow==2.21.0"] == reading
    assert failures == failed


def test_an_offline_run_rejudges_the_cache_and_exits_1_on_a_difference(tmp_path: Path) -> None:
    stale = read(tmp_path, make_wheel(tmp_path, cuda_config=CUDA_CONFIG_221.replace("12.5.1", "12.9")))
    cache, out = tmp_path / "cache.json", tmp_path / "report.md"
    tool.save_cache(cache, {"tensorflow==2.21.0": stale}, {})
    assert tool.main(["--offline", "--cache", str(cache), "--out", str(out)]) == 1
    assert "| 2.21.0 | tensorflow.toml | release 2.21.0 cuda | 12.5.1 | 12.9 |" in out.read_text()
