"""A directory on LD_LIBRARY_PATH that puts CUDA libraries ahead of the ones the installed TensorFlow distribution
installs itself is the libraries layer's cause: nvidia-tensorflow (its pip requirements, nvidia_tensorflow.toml)
and tensorflow with its [and-cuda] wheels.

The hosts are described hosts replayed through the real suite (tests.test_library_search_checks.run), so each
message is the one a user reads. A system CUDA on LD_LIBRARY_PATH shadows nvidia-tensorflow 1.15.5+nv22.12's
wheels through the cu11 cuBLAS wheel's own DT_RUNPATH (library_search.toml [[pip_wheel]]), and tensorflow 2.15's
through its loader's order; a report that says only "1.15.5" is told about the directory in a warning, because
its releases' wheels are of two CUDA majors (the CUDA 12 ones have other sonames), and one that says "1.15.4" too,
because the table does not know what every 1.15.4 release installs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gpuconform.expect.loading import load_matrices
from gpuconform.facts.errors import DataError
from gpuconform.probes.described import load_description
from tests.test_library_search_checks import pip
from tests.test_library_search_checks import run
from tests.test_library_search_checks import run_layers
from tests.test_library_search_checks import text

MATRICES = load_matrices()
OWN = frozenset(("cudart", "cublas", "cublasLt", "cufft", "cudnn", "curand", "cusolver", "cusparse", "nccl"))
CHECK = "libraries::no_ld_library_path_directory_shadows_the_distributions_own_libraries"
SYSTEM = "/usr/local/cuda-11.2/lib64"
LIBCUDA = {"name": "cuda", "version": "11.4", "origin": "ldcache", "driver_build": "470.103.01"}
NV_22_12_WHEELS = [
    pip("cudart", "11.8.89", "cuda_runtime", "libcudart.so.11.0"),
    pip("cublas", "11.11.3.6", "cublas", "libcublas.so.11"),
    pip("cublasLt", "11.11.3.6", "cublas", "libcublasLt.so.11"),
    pip("cudnn", "8.7.0.84", "cudnn", "libcudnn.so.8", cuda="11"),
]


def nvidia_host(version: str, ld_library_path: str | None) -> dict[str, Any]:
    """An RTX 3070 conda env with nvidia-tensorflow and its wheels, and a system CUDA 11.2 / cuDNN 8.1.0, on
    LD_LIBRARY_PATH or not."""
    env = {"CONDA_PREFIX": "/opt/conda"} | ({"LD_LIBRARY_PATH": ld_library_path} if ld_library_path else {})
    origin = "LD_LIBRARY_PATH" if ld_library_path else "cuda_home"
    return {
        "host": {"python": "3.8", "environment": env},
        "gpu": [{"name": "GeForce RTX 3070", "compute_capability": "8.6", "count": 1}],
        "driver": {"version": "470.103.01"},
        "tensorflow": {"distribution": "nvidia-tensorflow", "version": version},
        "toolkit": [{"version": "11.2", "origin": origin, "directory": SYSTEM}],
        "library": [
            *NV_22_12_WHEELS,
            {"name": "cudnn", "version": "8.1.0", "origin": origin, "path": f"{SYSTEM}/libcudnn.so.8"},
            LIBCUDA,
        ],
    }


def test_the_table_names_each_nvidia_release_and_what_an_unlabelled_version_may_be() -> None:
    table = MATRICES.rules.nvidia_tensorflow
    labelled = table.candidates("1.15.5+nv23.01")  # PEP 440 would make the label nv23.1
    assert [r.label for r in labelled.releases] == ["23.01"] and labelled.label_known
    assert labelled.describe() == "release nv23.01 (CUDA 12.0, cuDNN 8.7.0.84)"
    unknown = table.candidates("1.15.5")
    assert unknown.span == "nv21.02-nv23.03" and not unknown.label_known
    # nv21.02-nv21.12: the requirements NVIDIA's standalone-wheel patch appends (commit ac6e0467ec), so every
    # 1.15.5 release is known to install its CUDA libraries; nv20.10 and nv20.11 (1.15.4) are not read.
    assert unknown.unread == () and unknown.common_pip_libraries() == OWN
    assert table.candidates("1.15.5+nv22.12").common_pip_libraries() == OWN
    older = table.candidates("1.15.4")
    assert [r.label for r in older.unread] == ["20.10", "20.11"] and older.common_pip_libraries() is None
    # Installed by a date: the releases whose tag's commit is later are not what it runs (nv22.03's is 2022-03-31).
    by = table.candidates("1.15.5", "2022-03-14")
    # nv22.07 has no tag, so no date: it stays a candidate.
    assert by.span == "nv21.02-nv22.07" and str(by.installed_by) == "2022-03-14"
    assert by.describe() == (
        "one of releases nv21.02-nv22.07 (its +nv label is not known; installed by 2022-03-14, so not "
        "nv22.03-nv22.06, published later; CUDA 11.3 to 11.7 where read)"
    )
    assert [r.label for r in table.candidates("1.15.5+nv23.01", "2022-03-14").releases] == ["23.01"]  # a label


def test_nvidia_tensorflow_is_identified_as_nvidias_build_with_its_release_not_as_another_build() -> None:
    lookup = MATRICES.tf_build("1.15.5+nv22.12", None, "nvidia-tensorflow")
    assert (lookup.status, lookup.release) == ("other-build", None)  # tensorflow-gpu 1.15's row is not its build
    assert lookup.warning == (
        "nvidia-tensorflow 1.15.5+nv22.12 is NVIDIA's GPU build of TensorFlow 1.15.5, release nv22.12 (CUDA 11.8, "
        "cuDNN 8.7.0.84) in nvidia_tensorflow.toml; not a TensorFlow project build, so tensorflow.toml has no row"
    )


def test_a_system_cuda_on_ld_library_path_shadows_the_cublas_wheel_of_a_labelled_nvidia_release(
    tmp_path: Path,
) -> None:
    checks = run(tmp_path, nvidia_host("1.15.5+nv22.12", SYSTEM))
    check = checks[CHECK]
    assert check["outcome"] == "failed", check
    # The probe looks for nv22.12's own sonames (CUDA 11.8): the wheel's cudart and the system's are both found,
    # and the duplicate is not a second problem: the directory is its cause.
    duplicate = checks["libraries::only_one_version_of_each_library_is_reachable[cudart]"]
    assert (duplicate["outcome"], duplicate["blocked_by"]) == ("blocked", CHECK), duplicate
    assert check["reason"] == (
        f"{SYSTEM} on LD_LIBRARY_PATH puts libcublasLt.so.11 ahead of the copies nvidia-tensorflow 1.15.5+nv22.12, "
        "release nv22.12 (CUDA 11.8, cuDNN 8.7.0.84) installs itself"
    )
    said = text(check)
    assert "the nvidia-cublas-cu11 wheel's libcublas.so.11 (DT_RUNPATH $ORIGIN) loads libcublasLt.so.11 through " \
        "LD_LIBRARY_PATH first, however TensorFlow found it" in said
    assert check["remediation"] == (
        f"remove {SYSTEM} from LD_LIBRARY_PATH for this conda environment only, in "
        "$CONDA_PREFIX/etc/conda/activate.d/env_vars.sh: unset LD_LIBRARY_PATH; the system CUDA stays installed for "
        "other software (set LD_LIBRARY_PATH only where that runs)"
    )


def test_the_same_host_with_a_clean_ld_library_path_passes(tmp_path: Path) -> None:
    check = run(tmp_path, nvidia_host("1.15.5+nv22.12", None))[CHECK]
    assert check["outcome"] == "passed", check
    assert not check.get("warnings"), check


def test_other_ld_library_path_entries_stay_in_the_fix(tmp_path: Path) -> None:
    check = run(tmp_path, nvidia_host("1.15.5+nv22.12", f"/opt/tools/lib:{SYSTEM}"))[CHECK]
    assert check["outcome"] == "failed", check
    assert "from LD_LIBRARY_PATH for this conda environment only, in $CONDA_PREFIX/etc/conda/activate.d/" \
        "env_vars.sh: export LD_LIBRARY_PATH=/opt/tools/lib;" in check["remediation"]


def test_an_unlabelled_1_15_5_is_warned_about_the_directory_but_not_judged_as_its_releases_differ_in_cuda_major(
    tmp_path: Path,
) -> None:
    host = nvidia_host("1.15.5", SYSTEM)
    host["library"] = [lib for lib in host["library"] if lib["origin"] != "pip"]  # the report names no wheel
    checks = run_layers(tmp_path, host, "platform or libraries")
    check = checks[CHECK]
    assert check["outcome"] == "passed", check
    (warning,) = check["warnings"]
    assert warning["summary"].startswith(f"{SYSTEM} on LD_LIBRARY_PATH puts libcublasLt.so.11 ahead of the copies")
    # Every 1.15.5 release installs its CUDA libraries, but nv23.01-nv23.03's are CUDA 12 (libcublasLt.so.12):
    # this directory's CUDA 11 copies shadow only the CUDA 11 releases' wheels.
    assert warning["summary"].endswith(
        "(not judged the cause: its +nv label is not known, and its releases install wheels of different CUDA "
        "majors (CUDA where read: 11 for nv21.05-nv22.12; 12 for nv23.01-nv23.03): the copies of cublas, cublasLt, "
        "cudart, cufft, cusparse it installs have other sonames in each)"
    )
    assert warning["fix"].startswith(f"remove {SYSTEM} from LD_LIBRARY_PATH")
    (platform,) = checks["platform::tensorflow_release_is_in_the_matrix"]["warnings"]
    assert platform["summary"] == (
        "nvidia-tensorflow 1.15.5 is NVIDIA's GPU build of TensorFlow 1.15 (nvidia_tensorflow.toml), not a "
        "TensorFlow project build: its CUDA, cuDNN and driver requirements are not checked"
    )


def test_an_unlabelled_1_15_5_installed_before_the_cuda_12_releases_is_judged_by_its_cuda_11_releases(
    tmp_path: Path,
) -> None:
    host = nvidia_host("1.15.5", SYSTEM)
    host["tensorflow"]["installed_by"] = "2022-03-14"  # a report's date: nv22.03 and later came out after it
    host["library"] = [lib for lib in host["library"] if lib["origin"] != "pip"]
    check = run(tmp_path, host)[CHECK]
    assert check["outcome"] == "failed", check
    assert check["reason"] == (
        f"{SYSTEM} on LD_LIBRARY_PATH puts libcublasLt.so.11 ahead of the copies nvidia-tensorflow 1.15.5, one of "
        "releases nv21.02-nv22.07 (its +nv label is not known; installed by 2022-03-14, so not nv22.03-nv22.06, "
        "published later; CUDA 11.3 to 11.7 where read) installs itself"
    )
    assert check["remediation"].startswith(f"remove {SYSTEM} from LD_LIBRARY_PATH for this conda environment only")


def test_an_installed_by_that_is_not_a_date_is_refused(tmp_path: Path) -> None:
    host = nvidia_host("1.15.5", SYSTEM)
    host["tensorflow"]["installed_by"] = "March 2022"
    with pytest.raises(DataError) as refused:
        load_description(tmp_path / "host.toml", host)
    assert "tensorflow.installed_by: 'March 2022' is not a date" in str(refused.value)


def test_an_unlabelled_1_15_4_is_warned_about_the_directory_but_not_judged_by_releases_the_table_cannot_read(
    tmp_path: Path,
) -> None:
    host = nvidia_host("1.15.4", SYSTEM)
    host["library"] = [lib for lib in host["library"] if lib["origin"] != "pip"]
    check = run_layers(tmp_path, host, "platform or libraries")[CHECK]
    assert check["outcome"] == "passed", check
    (warning,) = check["warnings"]
    assert warning["summary"].startswith(f"{SYSTEM} on LD_LIBRARY_PATH puts libcublasLt.so.11 ahead of the copies")
    assert warning["summary"].endswith(
        "(not judged the cause: its +nv label is not known, and matrices/nvidia_tensorflow.toml does not say which "
        "CUDA wheels nv20.10, nv20.11 install)"
    )


def test_a_cuda_12_dir_on_ld_library_path_shadows_tensorflow_2_15s_and_cuda_wheels_by_its_loaders_order(
    tmp_path: Path,
) -> None:
    host = {
        "gpu": [{"model": "t4", "count": 1}],
        "host": {"environment": {"LD_LIBRARY_PATH": "/usr/local/cuda-12.2/lib64"}},
        "driver": {"version": "550.54.15"},
        "tensorflow": {"version": "2.15.0"},
        "library": [
            pip("cublas", "12.2.5.6", "cublas", "libcublas.so.12"),
            pip("cudnn", "8.9.4.25", "cudnn", "libcudnn.so.8", cuda="12"),
            {"name": "cublas", "version": "12.2.5.6", "origin": "LD_LIBRARY_PATH",
             "path": "/usr/local/cuda-12.2/lib64/libcublas.so.12"},
            {"name": "cuda", "version": "12.4", "origin": "ldcache", "driver_build": "550.54.15"},
        ],
    }
    check = run(tmp_path, host)[CHECK]
    assert check["outcome"] == "failed", check
    assert check["reason"] == (
        "/usr/local/cuda-12.2/lib64 on LD_LIBRARY_PATH puts libcublas.so.12 ahead of the copies tensorflow 2.15.0 "
        "with its [and-cuda] wheels installs itself"
    )
    assert "the release's loader searches LD_LIBRARY_PATH before site-packages/nvidia/*/lib (matrices/" \
        "library_search.toml release[2], read from the wheel" in text(check)
    assert check["remediation"].startswith("remove /usr/local/cuda-12.2/lib64 from LD_LIBRARY_PATH for this "
                                           "environment only")


def test_tensorflow_without_its_and_cuda_wheels_installs_nothing_of_its_own(tmp_path: Path) -> None:
    host = {
        "gpu": [{"model": "t4", "count": 1}],
        "host": {"environment": {"LD_LIBRARY_PATH": "/usr/local/cuda-12.2/lib64"}},
        "driver": {"version": "550.54.15"},
        "tensorflow": {"version": "2.15.0"},
        "toolkit": [{"version": "12.2", "origin": "LD_LIBRARY_PATH", "directory": "/usr/local/cuda-12.2/lib64"}],
        "library": [{"name": "cuda", "version": "12.4", "origin": "ldcache", "driver_build": "550.54.15"}],
    }
    check = run(tmp_path, host)[CHECK]
    assert check["outcome"] == "not-applicable", check
    assert check["reason"].endswith(
        "tensorflow 2.15.0: no CUDA library of its own installed (nvidia-tensorflow, tensorflow[and-cuda])"
    )


def test_a_wheel_directory_the_release_does_not_search_is_not_shadowed_but_not_found(tmp_path: Path) -> None:
    # tensorflow 2.16.1's loader lists only nvidia/cuda_runtime/lib (library_search.toml): its pip cuBLAS is not
    # found at all, and a copy on LD_LIBRARY_PATH is what it loads (library_is_found's concern), not a shadow.
    host = {
        "gpu": [{"model": "t4", "count": 1}],
        "host": {"environment": {"LD_LIBRARY_PATH": "/opt/cuda-libs"}},
        "driver": {"version": "550.54.15"},
        "tensorflow": {"version": "2.16.1"},
        "library": [
            pip("cublas", "12.3.4.1", "cublas", "libcublas.so.12"),
            {"name": "cublas", "version": "12.3.4.1", "origin": "LD_LIBRARY_PATH",
             "path": "/opt/cuda-libs/libcublas.so.12"},
            {"name": "cuda", "version": "12.4", "origin": "ldcache", "driver_build": "550.54.15"},
        ],
    }
    check = run(tmp_path, host)[CHECK]
    assert check["outcome"] == "passed", check


def test_a_release_row_naming_a_library_the_layer_does_not_know_is_a_usage_error(tmp_path: Path) -> None:
    from gpuconform.expect.tables.nvidia_tensorflow import load_nvidia_tensorflow
    from gpuconform.facts.errors import DataError

    bad = tmp_path / "nvidia_tensorflow.toml"
    bad.write_text(
        '[meta]\ntitle = "t"\nas_of = 2026-12-01\nsources = ["s"]\n\n[[release]]\nlabel = "22.12"\n'
        'tensorflow = "1.15.5"\npython = "3.8"\npip_libraries = ["cublass"]\nsource = "s"\n'
    )
    with pytest.raises(DataError) as caught:
        load_nvidia_tensorflow(bad)
    said = str(caught.value)
    assert "release[0].pip_libraries[0]" in said and "'cublass'" in said and "cublasLt" in said, said
