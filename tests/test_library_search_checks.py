"""The libraries layer judges each copy by whether the installed release's own loader reaches it.

Each case is a described host (gpuconform.probes.described) expanded to Facts and replayed through the real suite
(`--host-facts`, libraries layer), so every message below is what a user reads: a copy only where the
release does not search (conda's lib/ from 2.7, the pip wheels 2.16.1 and 2.21 lost, /usr/local/cuda) is
not found and not a duplicate, and its fix is the LD_LIBRARY_PATH line, or the patch release that searches
there again; a cuda-compat libcuda on a GPU without forward compatibility is the root cause, never a
duplicate to rank by version.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gpuconform.expect.loading import load_matrices
from gpuconform.plugin.keys import suites_dir
from gpuconform.probes.described import expand
from gpuconform.probes.described import load_description
from gpuconform.probes.host import facts_json

MATRICES = load_matrices()
T4 = [{"model": "t4", "count": 1}]
SP = "/usr/lib/python3/site-packages"


def run(tmp_path: Path, host: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Replay a described host through the libraries layer; its checks by id."""
    return run_layers(tmp_path, host, "libraries")


def run_layers(tmp_path: Path, host: dict[str, Any], layers: str) -> dict[str, dict[str, Any]]:
    """Replay a described host through the suite's `layers` (a -m expression); its checks by id."""
    facts = expand(load_description(tmp_path / "host.toml", host), MATRICES, collected_at="2026-12-01T00:00:00+00:00")
    (tmp_path / "facts.json").write_text(facts_json(facts))
    env = {k: v for k, v in os.environ.items() if not k.startswith("GPUCONFORM_")}
    argv = [sys.executable, "-m", "pytest", str(suites_dir()), "-p", "no:cacheprovider", "-q", "-m", layers]
    argv += ["--host-facts", str(tmp_path / "facts.json"), "--host-reports", "reports"]
    argv += ["--host-report-formats", "result"]
    subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False)
    result = json.loads((tmp_path / "reports" / "result.json").read_text())
    return {c["id"]: c for c in result["checks"]}


def text(check: dict[str, Any]) -> str:
    return f"{check['reason']}\n{check['message']}\n{check['remediation']}"


def pip(name: str, version: str, directory: str, file: str, **more: str) -> dict[str, str]:
    return {"name": name, "version": version, "origin": "pip", "path": f"{SP}/nvidia/{directory}/lib/{file}", **more}


LIBCUDA = {"name": "cuda", "version": "12.4", "origin": "ldcache", "driver_build": "550.54.15"}
AND_CUDA_12 = [
    pip("cudart", "12.3", "cuda_runtime", "libcudart.so.12"),
    pip("cublas", "12.3.4", "cublas", "libcublas.so.12"),
    pip("cublasLt", "12.3.4", "cublas", "libcublasLt.so.12"),
    pip("cufft", "11.0.12", "cufft", "libcufft.so.11", soname="libcufft.so.11"),
    pip("cusolver", "11.5.4", "cusolver", "libcusolver.so.11"),
    pip("cusparse", "12.2.0", "cusparse", "libcusparse.so.12"),
    pip("cudnn", "8.9.7", "cudnn", "libcudnn.so.8", cuda="12"),
    LIBCUDA,
]
CONDA_11_2 = {
    "host": {"environment": {"CONDA_PREFIX": "/opt/conda"}},
    "gpu": T4,
    "driver": {"version": "550.54.15"},
    "toolkit": [{"version": "11.2", "origin": "conda"}],
    "library": [{"name": "cudnn", "version": "8.1.0", "origin": "conda"}, LIBCUDA],
}


def test_tf_2_7_does_not_find_the_conda_toolkit_and_is_told_the_ld_library_path_line(tmp_path: Path) -> None:
    checks = run(tmp_path, {**CONDA_11_2, "tensorflow": {"version": "2.7.0"}})

    check = checks["libraries::library_is_found[cudart]"]
    assert check["outcome"] == "failed"
    assert "libcudart.so.11.0 is installed, but tensorflow 2.7.0's loader does not search /opt/conda/lib (conda)" in (
        check["reason"]
    )
    assert "DT_RUNPATH" in check["message"]
    assert check["remediation"].startswith("export LD_LIBRARY_PATH=$CONDA_PREFIX/lib:$LD_LIBRARY_PATH")
    assert "$CONDA_PREFIX/etc/conda/activate.d/env_vars.sh" in check["remediation"]


def test_tf_2_6_still_finds_the_conda_toolkit_through_the_conda_pythons_rpath(tmp_path: Path) -> None:
    checks = run(tmp_path, {**CONDA_11_2, "tensorflow": {"version": "2.6.0"}})

    assert checks["libraries::library_is_found[cudart]"]["outcome"] == "passed"
    assert checks["libraries::library_is_found[cudnn]"]["outcome"] == "passed"


def test_tf_2_7_finds_the_conda_toolkit_once_its_lib_is_on_ld_library_path(tmp_path: Path) -> None:
    host = {**CONDA_11_2, "host": {"environment": {"CONDA_PREFIX": "/opt/conda", "LD_LIBRARY_PATH": "/opt/conda/lib"}}}
    checks = run(tmp_path, {**host, "tensorflow": {"version": "2.7.0"}})

    assert checks["libraries::library_is_found[cudart]"]["outcome"] == "passed"


def test_tf_2_16_1_finds_its_pip_cuda_runtime_but_not_the_other_wheels_and_is_told_2_16_2(tmp_path: Path) -> None:
    checks = run(tmp_path, {"gpu": T4, "driver": {"version": "550.54.15"}, "tensorflow": {"version": "2.16.1"},
                            "library": AND_CUDA_12})

    assert checks["libraries::library_is_found[cudart]"]["outcome"] == "passed"
    cublas = checks["libraries::library_is_found[cublas]"]
    assert cublas["outcome"] == "failed"
    assert "tensorflow 2.16.1's loader does not search /usr/lib/python3/site-packages/nvidia/cublas/lib (pip)" in (
        cublas["reason"]
    )
    assert "only nvidia/cuda_runtime/lib of the pip directories" in cublas["message"]
    assert cublas["remediation"].startswith("pip install 'tensorflow[and-cuda]==2.16.2'")
    assert f"export LD_LIBRARY_PATH={SP}/nvidia/cublas/lib:$LD_LIBRARY_PATH" in cublas["remediation"]
    assert checks["libraries::library_is_found[cudnn]"]["outcome"] == "failed"


def test_tf_2_16_2_finds_every_pip_wheel(tmp_path: Path) -> None:
    checks = run(tmp_path, {"gpu": T4, "driver": {"version": "550.54.15"}, "tensorflow": {"version": "2.16.2"},
                            "library": AND_CUDA_12})

    for name in ("cudart", "cublas", "cufft", "cusolver", "cusparse", "cudnn"):
        assert checks[f"libraries::library_is_found[{name}]"]["outcome"] == "passed", name


def test_tf_2_21_misses_its_pip_cusolver_and_gets_that_directory_on_ld_library_path(tmp_path: Path) -> None:
    libs = [
        pip("cudart", "12.5", "cuda_runtime", "libcudart.so.12"),
        pip("cusolver", "11.6.3", "cusolver", "libcusolver.so.11"),
        pip("cudnn", "9.3.0", "cudnn", "libcudnn.so.9", cuda="12"),
        LIBCUDA,
    ]
    checks = run(tmp_path, {"gpu": T4, "driver": {"version": "550.54.15"}, "tensorflow": {"version": "2.21.0"},
                            "library": libs})

    assert checks["libraries::library_is_found[cudnn]"]["outcome"] == "passed"
    cusolver = checks["libraries::library_is_found[cusolver]"]
    assert cusolver["outcome"] == "failed"
    assert cusolver["remediation"].startswith(f"export LD_LIBRARY_PATH={SP}/nvidia/cusolver/lib:$LD_LIBRARY_PATH")


def test_tf_2_12_gets_its_install_guides_cudnn_path_for_the_pip_cudnn_it_does_not_search(tmp_path: Path) -> None:
    host = {
        "host": {"environment": {"CONDA_PREFIX": "/opt/conda", "LD_LIBRARY_PATH": "/opt/conda/lib"}},
        "gpu": T4,
        "driver": {"version": "520.61.05"},
        "tensorflow": {"version": "2.12.0"},
        "toolkit": [{"version": "11.8", "origin": "conda"}],
        "library": [{"name": "cudnn", "version": "8.6.0", "origin": "pip", "cuda": "11"}, LIBCUDA],
    }
    check = run(tmp_path, host)["libraries::library_is_found[cudnn]"]

    assert check["outcome"] == "failed"
    assert check["remediation"].startswith(
        'CUDNN_PATH=$(dirname $(python -c "import nvidia.cudnn;print(nvidia.cudnn.__file__)")); '
        "export LD_LIBRARY_PATH=$CUDNN_PATH/lib:$LD_LIBRARY_PATH (keep both lines in "
        "$CONDA_PREFIX/etc/conda/activate.d/env_vars.sh"
    )


def test_a_copy_only_in_usr_local_cuda_is_neither_found_nor_a_duplicate(tmp_path: Path) -> None:
    host = {
        "gpu": T4,
        "driver": {"version": "550.54.15"},
        "tensorflow": {"version": "2.9.1"},
        "toolkit": [{"version": "11.2", "origin": "ldcache", "directory": "/usr/lib/x86_64-linux-gnu"}],
        "library": [
            {"name": "cudnn", "version": "8.1.0", "origin": "ldcache"},
            {"name": "cudnn", "version": "8.0.5", "origin": "cuda_home"},
            LIBCUDA,
        ],
    }
    checks = run(tmp_path, host)

    assert checks["libraries::only_one_version_of_each_library_is_reachable[cudnn]"]["outcome"] == "passed"
    assert checks["libraries::library_version_matches_the_tensorflow_build[cudnn]"]["outcome"] == "passed"


def test_a_toolkit_only_in_usr_local_cuda_is_not_found_and_is_told_to_join_the_loader_path(tmp_path: Path) -> None:
    host = {
        "gpu": T4,
        "driver": {"version": "550.54.15"},
        "tensorflow": {"version": "2.9.1"},
        "toolkit": [{"version": "11.2", "origin": "cuda_home"}],
        "library": [LIBCUDA],
    }
    check = run(tmp_path, host)["libraries::library_is_found[cudart]"]

    assert check["outcome"] == "failed"
    assert "does not search /usr/local/cuda/lib64 (cuda_home)" in check["reason"]
    assert "export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH" in check["remediation"]
    assert "sudo tee /etc/ld.so.conf.d/cuda.conf && sudo ldconfig" in check["remediation"]


def test_a_system_cudnn_ahead_of_the_pip_one_on_ld_library_path_is_told_to_put_cudnn_path_first(
    tmp_path: Path,
) -> None:
    host = {
        "host": {
            "environment": {
                "CONDA_PREFIX": "/opt/conda",
                "LD_LIBRARY_PATH": f"/opt/cuda-libs:/opt/conda/lib/:{SP}/nvidia/cudnn/lib",
            }
        },
        "gpu": T4,
        "driver": {"version": "520.61.05"},
        "tensorflow": {"version": "2.12.0"},
        "toolkit": [{"version": "11.8", "origin": "LD_LIBRARY_PATH", "directory": "/opt/conda/lib"}],
        "library": [
            {"name": "cudnn", "version": "8.1.1", "origin": "LD_LIBRARY_PATH", "path": "/opt/cuda-libs/libcudnn.so.8"},
            {"name": "cudnn", "version": "8.6.0", "origin": "pip", "cuda": "11"},
            LIBCUDA,
        ],
    }
    check = run(tmp_path, host)["libraries::only_one_version_of_each_library_is_reachable[cudnn]"]

    assert check["outcome"] == "failed"
    assert check["remediation"].startswith(f"keep cudnn 8.6.0 ({SP}/nvidia/cudnn/lib/libcudnn.so.8)")
    assert "export LD_LIBRARY_PATH=$CUDNN_PATH/lib:$LD_LIBRARY_PATH" in check["remediation"]


COMPAT = {"name": "cuda", "version": "12.9", "origin": "compat", "path": "/usr/local/cuda/compat/libcuda.so.1"}


def compat_host(gpu: dict[str, Any], kernel: str, build: str, host_build: str | None = None) -> dict[str, Any]:
    return {
        "host": {"container": "docker"},
        "gpu": [gpu],
        "driver": {"version": kernel},
        "library": [
            {**COMPAT, "driver_build": build},
            {"name": "cuda", "version": "12.8", "origin": "ldcache", "driver_build": host_build or kernel},
        ],
    }


def test_a_compat_libcuda_on_a_geforce_is_the_root_cause_and_the_duplicate_check_is_blocked_by_it(
    tmp_path: Path,
) -> None:
    checks = run(tmp_path, compat_host({"name": "NVIDIA GeForce RTX 3060", "compute_capability": "8.6"},
                                       "570.211.01", "575.57.08"))

    check = checks["libraries::the_cuda_driver_library_matches_the_kernel_module"]
    assert check["outcome"] == "failed"
    assert check["reason"] == (
        "libcuda.so.1 is the forward-compatibility copy /usr/local/cuda/compat/libcuda.so.1 (driver 575.57.08) over "
        "kernel module 570.211.01, and the NVIDIA GeForce RTX 3060 (GeForce and other consumer / workstation GPUs) has "
        "no forward compatibility: cuInit fails with CUDA_ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE (804)"
    )
    assert check["remediation"].startswith("drop /usr/local/cuda/compat from the loader path")
    assert "the host driver's libcuda.so.1 (/usr/lib/x86_64-linux-gnu/libcuda.so.1, 570.211.01)" in check["remediation"]
    assert "upgrade the host driver to the R575 branch or newer" in check["remediation"]
    duplicate = checks["libraries::only_one_version_of_each_library_is_reachable[cuda]"]
    assert duplicate["outcome"] == "blocked"
    assert duplicate["blocked_by"] == "libraries::the_cuda_driver_library_matches_the_kernel_module"


def test_a_host_driver_too_old_for_the_images_cuda_blocks_the_compat_check_instead_of_failing_it_twice(
    tmp_path: Path,
) -> None:
    host = compat_host({"name": "NVIDIA GeForce RTX 3060", "compute_capability": "8.6"}, "470.82.01", "575.57.08")
    host["host"] = {"container": "docker", "environment": {"CUDA_VERSION": "12.9.0"}}
    checks = run_layers(tmp_path, host, "driver or libraries")

    assert checks["driver::driver_is_new_enough_for_the_container_cuda"]["outcome"] == "failed"
    check = checks["libraries::the_cuda_driver_library_matches_the_kernel_module"]
    assert check["outcome"] == "blocked"
    assert check["blocked_by"] == "driver::driver_is_new_enough_for_the_container_cuda"


def test_a_compat_libcuda_on_a_data_center_gpu_over_a_branch_its_package_lists_is_forward_compatibility(
    tmp_path: Path,
) -> None:
    checks = run(tmp_path, compat_host({"model": "t4", "count": 1}, "570.211.01", "575.57.08"))

    assert checks["libraries::the_cuda_driver_library_matches_the_kernel_module"]["outcome"] == "passed"


def test_a_compat_libcuda_over_a_kernel_branch_its_package_does_not_list_fails_on_a_data_center_gpu_too(
    tmp_path: Path,
) -> None:
    checks = run(tmp_path, compat_host({"model": "t4", "count": 1}, "560.35.03", "590.44.01"))

    check = checks["libraries::the_cuda_driver_library_matches_the_kernel_module"]
    assert check["outcome"] == "failed"
    assert "its package does not support the kernel's branch R560" in check["reason"]


def test_a_compat_libcuda_older_than_the_kernel_module_fails_with_error_803(tmp_path: Path) -> None:
    checks = run(tmp_path, compat_host({"model": "t4", "count": 1}, "580.95.05", "575.57.08"))

    check = checks["libraries::the_cuda_driver_library_matches_the_kernel_module"]
    assert check["outcome"] == "failed"
    assert "older than the kernel module 580.95.05: cuInit fails with CUDA_ERROR_SYSTEM_DRIVER_MISMATCH (803)" in (
        check["reason"]
    )


def test_a_user_space_driver_newer_than_the_loaded_module_is_told_to_reboot(tmp_path: Path) -> None:
    host = {
        "gpu": T4,
        "driver": {"version": "550.54.15"},
        "library": [{"name": "cuda", "version": "12.4", "origin": "ldcache", "driver_build": "550.90.07"}],
    }
    check = run(tmp_path, host)["libraries::the_cuda_driver_library_matches_the_kernel_module"]

    assert check["outcome"] == "failed"
    assert "libcuda.so.1 at /usr/lib/x86_64-linux-gnu/libcuda.so.1 is driver 550.90.07" in check["reason"]
    assert check["remediation"].startswith("reboot")


def test_a_libcuda_of_the_modules_own_build_passes(tmp_path: Path) -> None:
    host = {"gpu": T4, "driver": {"version": "550.54.15"}, "library": [LIBCUDA]}
    assert run(tmp_path, host)["libraries::the_cuda_driver_library_matches_the_kernel_module"]["outcome"] == "passed"


def test_native_windows_tf_2_2_wants_cudart64_101_dll_and_is_told_to_install_cuda_10_1(tmp_path: Path) -> None:
    host = {
        "host": {"system": "Windows", "machine": "AMD64", "libc": "", "python": "3.8"},
        "gpu": [{"count": 1}],
        "driver": {"version": "441.22", "device_nodes": []},
        "tensorflow": {"version": "2.2.0"},
        "toolkit": [{"version": "10.2", "origin": "windows_path"}],
    }
    checks = run(tmp_path, host)

    assert checks["libraries::library_is_found[cuda]"]["outcome"] == "passed"  # nvcuda.dll of the driver
    assert checks["libraries::library_is_found[cublas]"]["outcome"] == "passed"  # 10.2's cublas64_10.dll
    check = checks["libraries::library_is_found[cudart]"]
    assert check["outcome"] == "failed"
    assert check["reason"] == "cudart 10.2 is installed but tensorflow 2.2.0 needs cudart64_101.dll"
    assert check["remediation"].startswith("install CUDA 10.1 and cuDNN 7.6 for CUDA 10.1")
    assert "%PATH%" in check["remediation"]


@pytest.mark.parametrize(
    ("tf", "present", "absent"),
    [
        ("2.0.0", ("cuda-10-0", "libcudnn7=7.6.2.24-1+cuda10.0"), ("[and-cuda]", "pip install tensorflow")),
        ("2.3.0", ("cuda-10-1", "conda install -c conda-forge cudatoolkit=10.1 cudnn=7.6"), ("LD_LIBRARY_PATH",)),
        ("2.8.0", ("cuda-11-2", "cudnn=8.1 && export LD_LIBRARY_PATH=$CONDA_PREFIX/lib"), ("[and-cuda]",)),
        ("2.13.0", ("cudatoolkit=11.8.0", "nvidia-cudnn-cu11==8.6.0.163", "CUDNN_PATH"), ("[and-cuda]",)),
        ("2.15.0", ("nvidia-cuda-runtime-cu12",), ("conda install",)),
    ],
)
def test_a_missing_runtime_is_installed_the_way_its_releases_own_era_did(
    tmp_path: Path, tf: str, present: tuple[str, ...], absent: tuple[str, ...]
) -> None:
    host = {"gpu": T4, "driver": {"version": "550.54.15"}, "tensorflow": {"version": tf}, "library": [LIBCUDA]}
    if tf == "2.0.0":
        host["tensorflow"] = {"version": tf, "distribution": "tensorflow-gpu"}
    check = run(tmp_path, host)["libraries::library_is_found[cudart]"]

    assert check["outcome"] == "failed"
    for words in present:
        assert words in check["remediation"], words
    for words in absent:
        assert words not in check["remediation"], words


TF_1_12 = {"distribution": "tensorflow-gpu", "version": "1.12.0"}
LIBCUDA_9_0 = {"name": "cuda", "version": "9.0", "origin": "ldcache", "driver_build": "384.81"}


def test_tf_1_12_links_cublas_first_so_an_image_without_cuda_9_fails_there_and_the_later_links_are_blocked(
    tmp_path: Path,
) -> None:
    host = {"host": {"container": "docker"}, "gpu": T4, "driver": {"version": "384.81"}, "tensorflow": TF_1_12}
    checks = run(tmp_path, {**host, "library": [LIBCUDA_9_0]})

    cublas = checks["libraries::library_is_found[cublas]"]
    assert cublas["outcome"] == "failed"
    assert cublas["reason"] == "libcublas.so.9.0 is missing: tensorflow-gpu 1.12.0 cannot register the GPU"
    assert "`import tensorflow` fails with 'ImportError: libcublas.so.9.0" in cublas["message"]
    assert "rather use an image that ships them (e.g. tensorflow/tensorflow:1.12.0-gpu)" in cublas["remediation"]
    for later in ("cusolver", "cudart", "cudnn", "cufft", "curand"):
        check = checks[f"libraries::library_is_found[{later}]"]
        assert check["outcome"] == "blocked", later
        assert check["reason"].startswith("blocked by libraries::library_is_found[cublas]: tensorflow-gpu 1.12.0 links")
    assert checks["libraries::library_is_found[cuda]"]["outcome"] == "passed"
    assert checks["libraries::library_is_found[cusparse]"]["outcome"] == "not-applicable"  # dlopened, optional


def test_tf_1_12_with_cublas_but_no_cudart_fails_at_cudart_which_nothing_before_it_blocks(tmp_path: Path) -> None:
    cublas = {"name": "cublas", "version": "9.0", "origin": "ldcache", "soname": "libcublas.so.9.0"}
    cusolver = {"name": "cusolver", "version": "9.0", "origin": "ldcache", "soname": "libcusolver.so.9.0"}
    host = {"gpu": T4, "driver": {"version": "384.81"}, "tensorflow": TF_1_12}
    checks = run(tmp_path, {**host, "library": [LIBCUDA_9_0, cublas, cusolver]})

    assert checks["libraries::library_is_found[cublas]"]["outcome"] == "passed"
    assert checks["libraries::library_is_found[cudart]"]["outcome"] == "failed"
    assert checks["libraries::library_is_found[cudnn]"]["reason"].startswith(
        "blocked by libraries::library_is_found[cudart]: tensorflow-gpu 1.12.0 links libcudnn.so.7 at import after "
        "libcudart.so.9.0"
    )


def test_a_conda_build_of_1_11_for_cuda_9_2_finds_its_9_2_libraries_and_needs_the_9_2_driver(tmp_path: Path) -> None:
    conda = [{"name": n, "version": "9.2", "origin": "conda", "soname": f"lib{n}.so.9.2"}
             for n in ("cudart", "cublas", "cufft", "curand", "cusolver", "cusparse")]
    conda.append({"name": "cudnn", "version": "7.2.1", "origin": "conda", "cuda": "9.2"})
    host = {
        "host": {"python": "3.6", "environment": {"CONDA_PREFIX": "/opt/conda"}},
        "gpu": [{"count": 1}],
        "driver": {"version": "390.87"},
        "tensorflow": {"distribution": "tensorflow-gpu", "version": "1.11.0", "cuda": "9.2"},
        "library": [*conda, {"name": "cuda", "version": "9.1", "origin": "ldcache", "driver_build": "390.87"}],
    }
    checks = run_layers(tmp_path, host, "driver or libraries")

    for name in ("cudart", "cublas", "cusolver", "cudnn", "cufft", "curand"):
        assert checks[f"libraries::library_is_found[{name}]"]["outcome"] == "passed", name
    driver = checks["driver::driver_is_new_enough_for_the_tensorflow_cuda"]
    assert driver["outcome"] == "failed"
    assert driver["reason"] == "driver 390.87 is too old for tensorflow-gpu 1.11.0 (CUDA 9.2): needs >= 396.26"
    assert "pin TensorFlow 1.12: pip install 'tensorflow-gpu==1.12.*' with CUDA 9.0" in driver["remediation"]
