"""TensorFlow's log and a process's maps, read into the landmarks the framework layer judges.

The log lines are the formats tf-behaviors.md quotes (§1.3, §2, §5.1, §7), in
the stream_executor-era and the tsl/xla-era spellings; the maps lines are the
kernel's `/proc/<pid>/maps` format.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gpuconform.facts.model import LibrariesFacts
from gpuconform.facts.model import LibraryCandidate
from gpuconform.facts.model import LibraryFacts
from gpuconform.facts.model import LibraryLoad
from gpuconform.frameworks.maps import check_mapped_libraries
from gpuconform.frameworks.maps import expected_copy
from gpuconform.frameworks.maps import is_copy_of
from gpuconform.frameworks.maps import mapped_files
from gpuconform.frameworks.tensorflow.log import CreatedGpu
from gpuconform.frameworks.tensorflow.log import IgnoredGpu
from gpuconform.frameworks.tensorflow.log import MissingLibrary
from gpuconform.frameworks.tensorflow.log import busy
from gpuconform.frameworks.tensorflow.log import parse_log

LOGS = json.loads((Path(__file__).parent / "data" / "tf_outputs" / "log_lines.json").read_text())
OLD_ERA, XLA_ERA, GPU_HOST = ("\n".join(LOGS[k]) for k in ("stream_executor_era", "xla_era", "gpu_host"))


def test_stream_executor_era_lines_name_the_missing_library_and_the_skip() -> None:
    log = parse_log(OLD_ERA)
    assert log.missing == (
        MissingLibrary(
            "libcusolver.so.10",
            "libcusolver.so.10: cannot open shared object file: No such file or directory",
            "/usr/local/nvidia/lib:/usr/local/nvidia/lib64",
        ),
    )
    assert log.opened == ("libcudart.so.11.0",)
    assert log.cannot_dlopen


def test_a_failed_cuinit_is_read_with_its_cuda_error() -> None:
    log = parse_log(XLA_ERA)
    assert log.cuinit_code == "UNKNOWN ERROR (303)"
    assert log.no_kernel_driver == "/proc/driver/nvidia/version does not exist"
    assert log.no_cuda_drivers
    assert not log.cannot_dlopen


@pytest.mark.parametrize(
    ("line", "code"),
    [
        (
            "E tensorflow/stream_executor/cuda/cuda_driver.cc:271] failed call to cuInit: CUDA_ERROR_NO_DEVICE: "
            "no CUDA-capable device is detected",
            "CUDA_ERROR_NO_DEVICE",
        ),
        ("E cuda_driver.cc:152] failed call to cuInit: UNKNOWN ERROR (303)", "UNKNOWN ERROR (303)"),
        ("E cuda_driver.cc:152] failed call to cuInit: something new", "something new"),
    ],
)
def test_every_cuinit_spelling_gives_its_code(line: str, code: str) -> None:
    assert parse_log(line).cuinit_code == code


def test_a_gpu_host_log_gives_devices_ignored_gpus_jit_and_allocator_settings() -> None:
    log = parse_log(GPU_HOST)
    assert [m.file for m in log.missing] == ["libcudnn.so.9"]
    assert log.ignored == (
        IgnoredGpu(
            1,
            "NVIDIA GeForce GTX 960",
            "0000:02:00.0",
            "5.2",
            "Cuda compute capability 5.2. The minimum required Cuda capability is 6.0",
            "6.0",
        ),
    )
    assert log.jit_from_ptx == ("9.0",)
    assert log.created == (
        CreatedGpu(0, 13942, 0, "Tesla T4", "0000:00:04.0", "7.5"),
        CreatedGpu(1, 900, 2, "NVIDIA H100 80GB HBM3", "0000:05:00.0", "9.0"),
    )
    assert log.cudnn_version == 90300
    assert log.growth_unparsed == "yes"
    assert log.allocator == "cuda_malloc_async"


def test_too_few_multiprocessors_is_an_ignored_gpu_without_a_minimum_capability() -> None:
    line = (
        "W gpu_device.cc:1] Ignoring visible gpu device (device: 0, name: Tiny, pci bus id: 0000:01:00.0, "
        "compute capability: 8.6) with Cuda multiprocessor count: 4. The minimum required count is 8. "
        "You can adjust this requirement with the env var TF_MIN_GPU_MULTIPROCESSOR_COUNT."
    )
    (ignored,) = parse_log(line).ignored
    assert ignored.min_compute_capability is None
    assert "multiprocessor count: 4" in ignored.reason


def test_an_empty_or_unrelated_log_has_no_landmarks() -> None:
    log = parse_log("I0000 port.cc:153] oneDNN custom operations are on.\n\nrandom noise\n")
    assert log == parse_log("")
    assert log.cuinit_code is None


def test_only_the_jit_from_ptx_line_says_a_running_child_is_busy_naming_the_compute_capability() -> None:
    said = [busy(line) for line in LOGS["gpu_host"] if busy(line)]
    assert said == [
        "TensorFlow is JIT-compiling kernels for compute capability 9.0 from PTX (no sm_90 kernels in this build)"
    ]
    rtx5080 = (
        "W0000 00:00:1753232013.685876   24341 gpu_device.cc:2431] TensorFlow was not built with CUDA kernel binaries "
        "compatible with compute capability 12.0. CUDA kernels will be jit-compiled from PTX, which could take 30 "
        "minutes or longer."
    )
    assert busy(rtx5080) == (
        "TensorFlow is JIT-compiling kernels for compute capability 12.0 from PTX (no sm_120 kernels in this build)"
    )
    assert not any(busy(line) for line in LOGS["stream_executor_era"] + LOGS["xla_era"])


# ---- /proc/<pid>/maps -------------------------------------------------------------------

PIP = "/venv/lib/python3.11/site-packages/nvidia"
MAPS = f"""\
5581d6a00000-5581d6a2c000 r--p 00000000 08:01 1311 /usr/bin/python3.11
7f1c10000000-7f1c10021000 rw-p 00000000 00:00 0
7f1c20000000-7f1c20400000 r-xp 00000000 08:01 2001 {PIP}/cudnn/lib/libcudnn.so.9.3.0
7f1c20400000-7f1c20500000 r--p 00400000 08:01 2001 {PIP}/cudnn/lib/libcudnn.so.9.3.0
7f1c30000000-7f1c30400000 r-xp 00000000 08:01 2002 {PIP}/cublas/lib/libcublasLt.so.12.5.3.2
7f1c40000000-7f1c40400000 r-xp 00000000 08:01 2003 /usr/lib/x86_64-linux-gnu/libcuda.so.550.54.15
7f1c50000000-7f1c50010000 r-xp 00000000 08:01 2004 /opt/old cuda/lib64/libcudart.so.12.2.140 (deleted)
7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0 [stack]
"""


def test_maps_yield_each_mapped_file_once_without_anonymous_maps_or_the_deleted_mark() -> None:
    assert mapped_files(MAPS) == (
        "/usr/bin/python3.11",
        f"{PIP}/cudnn/lib/libcudnn.so.9.3.0",
        f"{PIP}/cublas/lib/libcublasLt.so.12.5.3.2",
        "/usr/lib/x86_64-linux-gnu/libcuda.so.550.54.15",
        "/opt/old cuda/lib64/libcudart.so.12.2.140",
    )


@pytest.mark.parametrize(
    ("path", "name", "copy"),
    [
        ("/x/libcublas.so.12.5.3.2", "cublas", True),
        ("/x/libcublasLt.so.12.5.3.2", "cublas", False),
        ("/x/libcudnn_ops.so.9", "cudnn", False),
        ("/x/libcuda.so.550.54.15", "cuda", True),
        ("/x/libcuda.so", "cuda", True),
        ("/x/libcudart.so.12", "cuda", False),
    ],
)
def test_a_mapped_file_belongs_to_a_library_by_its_lib_name_so_prefix(path: str, name: str, copy: bool) -> None:
    assert is_copy_of(path, name) is copy


def _lib(name: str, soname: str, *copies: tuple[str, str, str]) -> LibraryFacts:
    return LibraryFacts(
        name=name,
        soname=soname,
        required=True,
        candidates=tuple(LibraryCandidate(path, origin, realpath=path) for path, origin, _ in copies),
        loads=tuple(LibraryLoad(path, True, version=version) for path, _, version in copies),
    )


CUDNN_PIP = (f"{PIP}/cudnn/lib/libcudnn.so.9.3.0", "pip", "9.3.0")
CUDNN_LD = ("/opt/cudnn/lib/libcudnn.so.9.1.0", "LD_LIBRARY_PATH", "9.1.0")
CUDNN_PIP_SAME = ("/opt/same/libcudnn.so.9.3.0", "system", "9.3.0")


def test_the_loader_takes_ld_library_path_before_the_pip_runpath() -> None:
    candidate, load = expected_copy(_lib("cudnn", "libcudnn.so.9", CUDNN_PIP, CUDNN_LD))
    assert candidate is not None and candidate.origin == "LD_LIBRARY_PATH"
    assert load is not None and load.version == "9.1.0"


def test_the_expected_copy_mapped_is_no_problem() -> None:
    libraries = LibrariesFacts("tensorflow 2.21.0", (_lib("cudnn", "libcudnn.so.9", CUDNN_PIP),))
    assert check_mapped_libraries(libraries, mapped_files(MAPS)) == []


def test_a_copy_the_libraries_layer_never_found_is_unseen() -> None:
    libraries = LibrariesFacts(
        "tensorflow 2.21.0", (_lib("cudart", "libcudart.so.12", ("/pip/libcudart.so.12.5", "pip", "12.5")),)
    )
    (problem,) = check_mapped_libraries(libraries, mapped_files(MAPS))
    assert problem.kind == "unseen"
    assert problem.mapped[0].path == "/opt/old cuda/lib64/libcudart.so.12.2.140"


def test_another_copy_of_another_version_winning_is_a_problem() -> None:
    libraries = LibrariesFacts("tensorflow 2.21.0", (_lib("cudnn", "libcudnn.so.9", CUDNN_PIP, CUDNN_LD),))
    (problem,) = check_mapped_libraries(libraries, mapped_files(MAPS))
    assert problem.kind == "other-copy"
    assert problem.expected is not None and problem.expected.path == CUDNN_LD[0]


def test_another_copy_of_the_same_version_winning_is_harmless() -> None:
    maps = MAPS.replace(CUDNN_PIP[0], CUDNN_PIP_SAME[0])
    libraries = LibrariesFacts("tensorflow 2.21.0", (_lib("cudnn", "libcudnn.so.9", CUDNN_PIP, CUDNN_PIP_SAME),))
    assert check_mapped_libraries(libraries, mapped_files(maps)) == []


def test_two_copies_of_one_library_mapped_at_once_is_a_problem() -> None:
    maps = MAPS + f"7f1c60000000-7f1c60400000 r-xp 00000000 08:01 2005 {CUDNN_LD[0]}\n"
    libraries = LibrariesFacts("tensorflow 2.21.0", (_lib("cudnn", "libcudnn.so.9", CUDNN_PIP, CUDNN_LD),))
    (problem,) = check_mapped_libraries(libraries, mapped_files(maps))
    assert problem.kind == "several-copies"
    assert len(problem.mapped) == 2


def test_a_library_not_mapped_at_all_is_left_to_the_load_log() -> None:
    libraries = LibrariesFacts(
        "tensorflow 2.21.0", (_lib("cufft", "libcufft.so.11", ("/pip/libcufft.so.11", "pip", "11.2")),)
    )
    assert check_mapped_libraries(libraries, mapped_files(MAPS)) == []
