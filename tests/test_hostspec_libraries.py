"""A described host's libraries expand to the candidates the probe would record: every origin, markers, DLLs.

The libraries probe records every way a copy is reached (a pip wheel's directory on LD_LIBRARY_PATH is both),
marks cuda-compat and WSL directories, and on native Windows TensorFlow asks for DLLs; a compact host
description must expand the same way, or a described host is judged on facts no probe would record.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gpuconform.expect.loading import load_matrices
from gpuconform.facts.model import LibrariesFacts
from gpuconform.facts.model import LibraryFacts
from gpuconform.probes.described import expand
from gpuconform.probes.described import load_description

MATRICES = load_matrices()


def libraries(data: dict[str, Any]) -> LibrariesFacts:
    facts = expand(load_description(Path("host.toml"), data), MATRICES, collected_at="2026-12-01T00:00:00+00:00")
    assert facts.libraries is not None
    return facts.libraries


def lib(facts: LibrariesFacts, name: str) -> LibraryFacts:
    return next(item for item in facts.libraries if item.name == name)


def test_a_pip_library_whose_directory_is_on_ld_library_path_is_reached_both_ways() -> None:
    wheel = "/usr/lib/python3/site-packages/nvidia/cudnn/lib"
    facts = libraries(
        {
            "host": {"environment": {"LD_LIBRARY_PATH": f"/opt/cuda-libs:{wheel}/"}},
            "tensorflow": {"version": "2.12.0"},
            "library": [{"name": "cudnn", "version": "8.6.0", "origin": "pip"}],
        }
    )
    (cand,) = lib(facts, "cudnn").candidates
    assert (cand.origin, cand.origins) == ("pip", ("pip", "LD_LIBRARY_PATH"))


def test_a_toolkit_in_conda_prefix_lib_on_ld_library_path_is_reached_both_ways() -> None:
    facts = libraries(
        {
            "host": {"environment": {"CONDA_PREFIX": "/opt/conda", "LD_LIBRARY_PATH": "/opt/conda/lib/"}},
            "tensorflow": {"version": "2.12.0"},
            "toolkit": [{"version": "11.8", "origin": "conda"}],
        }
    )
    (cand,) = lib(facts, "cudart").candidates
    assert cand.origins == ("LD_LIBRARY_PATH", "conda")


def test_a_toolkit_in_usr_local_cuda_that_the_ld_cache_names_is_cuda_home_too() -> None:
    facts = libraries(
        {
            "tensorflow": {"version": "2.9.1"},
            "toolkit": [{"version": "11.2", "origin": "ldcache", "directory": "/usr/local/cuda/lib64"}],
        }
    )
    assert lib(facts, "cublas").candidates[0].origins == ("ldcache", "cuda_home")


def test_a_compat_libcuda_is_marked_compat_and_resolves_to_its_driver_build() -> None:
    facts = libraries(
        {
            "library": [
                {"name": "cuda", "version": "12.9", "origin": "compat", "path": "/usr/local/cuda/compat/libcuda.so.1",
                 "driver_build": "575.57.08"},
                {"name": "cuda", "version": "12.8", "origin": "ldcache", "driver_build": "570.211.01"},
            ]
        }
    )
    compat, host = lib(facts, "cuda").candidates
    assert (compat.origins, compat.driver_build) == (("compat",), "575.57.08")
    assert compat.realpath == "/usr/local/cuda/compat/libcuda.so.575.57.08"
    assert host.origins == ("ldcache",)


def test_on_native_windows_tensorflow_wants_dlls_and_a_toolkit_expands_into_its_bin_directory() -> None:
    facts = libraries(
        {
            "host": {"system": "Windows", "machine": "AMD64", "libc": ""},
            "gpu": [{"count": 1}],
            "driver": {"version": "441.22", "device_nodes": []},
            "tensorflow": {"version": "2.2.0"},
            "toolkit": [{"version": "10.2", "origin": "windows_path"}],
        }
    )
    cudart = lib(facts, "cudart")
    assert cudart.soname == "cudart64_101.dll" and cudart.candidates == ()
    (other,) = cudart.other_candidates
    assert other.path == "C:/Program Files/NVIDIA GPU Computing Toolkit/CUDA/v10.2/bin/cudart64_102.dll"
    assert lib(facts, "cublas").candidates[0].path.endswith("/v10.2/bin/cublas64_10.dll")
    assert lib(facts, "cudnn").soname == "cudnn64_7.dll"
    assert "nccl" not in {item.name for item in facts.libraries}


def test_a_windows_driver_brings_nvcuda_dll_unless_the_description_names_the_driver_library() -> None:
    host = {"system": "Windows", "machine": "AMD64", "libc": ""}
    facts = libraries({"host": host, "driver": {"version": "441.22"}, "tensorflow": {"version": "2.2.0"}})
    (nvcuda,) = lib(facts, "cuda").candidates
    assert (nvcuda.path, nvcuda.origins, nvcuda.driver_build) == (
        "C:/Windows/System32/nvcuda.dll",
        ("windows_path",),
        "441.22",
    )
    assert lib(facts, "cuda").loads[0].version == "10.2"
    named = {"name": "cuda", "version": "11.0", "origin": "windows_path", "path": "D:/drv/nvcuda.dll"}
    facts = libraries({"host": host, "driver": {"version": "441.22"}, "library": [named]})
    assert [c.path for c in lib(facts, "cuda").candidates] == ["D:/drv/nvcuda.dll"]


def test_a_linux_driver_brings_no_library_the_description_does_not_name() -> None:
    facts = libraries({"driver": {"version": "550.54.15"}, "tensorflow": {"version": "2.16.1"}})
    assert lib(facts, "cuda").candidates == ()
