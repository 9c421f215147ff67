"""The libraries probe records every way a copy is reached, marks cuda-compat and WSL copies, and a libcuda's build.

Which of those ways the installed TensorFlow's own loader really searches is the suite's question
(matrices/library_search.toml): the probe only has to say all of them. Real shims, real dlopen, under a
temporary root.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from packaging.version import Version

from gpuconform.facts.model import LibrariesFacts
from gpuconform.facts.model import LibraryFacts
from gpuconform.probes.libraries import probe_libraries
from tests.simhost.cc import build_shared
from tests.simhost.cc import require_compiler
from tests.simhost.libshims import library_shim_source

CUDA_12_5 = Version("12.5.1")


@pytest.fixture(autouse=True)
def _compiler() -> None:
    require_compiler()


def shim(directory: Path, name: str, soname: str, version: str, file: str | None = None) -> Path:
    """A library shim at directory/file, reached as directory/soname (a link when the file is named apart)."""
    target = directory / (file or soname)
    build_shared(library_shim_source(name, version, None), target, soname=soname)
    if file is not None:
        (directory / soname).symlink_to(file)
    return directory / soname


def probe(tmp_path: Path, env: dict[str, str], sys_path: list[str] | None = None) -> LibrariesFacts:
    clean = {k: v for k, v in os.environ.items() if k not in ("LD_LIBRARY_PATH", "CONDA_PREFIX", "PYTHONPATH")}
    root = tmp_path / "root"
    root.mkdir(exist_ok=True)
    return probe_libraries(
        CUDA_12_5, 9, "tensorflow 2.21.0", root=root, env={**clean, **env}, sys_path=sys_path or [], timeout=10
    )


def lib(facts: LibrariesFacts, name: str) -> LibraryFacts:
    return next(item for item in facts.libraries if item.name == name)


def test_a_pip_wheel_directory_also_on_ld_library_path_is_one_candidate_with_both_origins(tmp_path: Path) -> None:
    wheel = tmp_path / "site-packages/nvidia/cudnn/lib"
    shim(wheel, "cudnn", "libcudnn.so.9", "9.3.0")

    facts = probe(tmp_path, {"LD_LIBRARY_PATH": str(wheel)}, [str(tmp_path / "site-packages")])

    (cand,) = lib(facts, "cudnn").candidates
    assert cand.origin == "pip"
    assert cand.origins == ("pip", "LD_LIBRARY_PATH")
    assert facts.search_path.count(str(wheel)) == 1  # searched once, as before


def test_conda_lib_on_ld_library_path_is_reached_both_ways(tmp_path: Path) -> None:
    conda = tmp_path / "conda"
    shim(conda / "lib", "cudart", "libcudart.so.12", "12.5")

    facts = probe(tmp_path, {"LD_LIBRARY_PATH": str(conda / "lib"), "CONDA_PREFIX": str(conda)})

    (cand,) = lib(facts, "cudart").candidates
    assert cand.origins == ("LD_LIBRARY_PATH", "conda")


def test_usr_local_cuda_on_ld_library_path_keeps_both_origins(tmp_path: Path) -> None:
    home = tmp_path / "root/usr/local/cuda/lib64"
    shim(home, "cublas", "libcublas.so.12", "12.5.3")

    facts = probe(tmp_path, {"LD_LIBRARY_PATH": str(home)})

    (cand,) = lib(facts, "cublas").candidates
    assert cand.origins == ("LD_LIBRARY_PATH", "cuda_home")


def test_a_copy_only_in_usr_local_cuda_has_that_origin_alone(tmp_path: Path) -> None:
    shim(tmp_path / "root/usr/local/cuda/lib64", "cublas", "libcublas.so.12", "12.5.3")

    facts = probe(tmp_path, {})

    (cand,) = lib(facts, "cublas").candidates
    assert cand.origins == ("cuda_home",)


def test_a_compat_libcuda_is_marked_compat_with_the_driver_build_of_its_file(tmp_path: Path) -> None:
    compat = tmp_path / "root/usr/local/cuda/compat"
    host = tmp_path / "root/usr/lib/x86_64-linux-gnu"
    shim(compat, "cuda", "libcuda.so.1", "12.9", file="libcuda.so.575.57.08")
    shim(host, "cuda", "libcuda.so.1", "12.8", file="libcuda.so.570.211.01")

    facts = probe(tmp_path, {"LD_LIBRARY_PATH": f"{compat}:{host}"})

    first, second = lib(facts, "cuda").candidates
    assert (first.origins, first.driver_build) == (("LD_LIBRARY_PATH", "compat"), "575.57.08")
    assert (second.origins, second.driver_build) == (("LD_LIBRARY_PATH", "system"), "570.211.01")
    assert [ld.version for ld in lib(facts, "cuda").loads] == ["12.9", "12.8"]


def test_a_versioned_toolkits_compat_directory_is_marked_compat_too(tmp_path: Path) -> None:
    compat = tmp_path / "root/usr/local/cuda-12.9/compat"
    shim(compat, "cuda", "libcuda.so.1", "12.9", file="libcuda.so.575.57.08")

    facts = probe(tmp_path, {"LD_LIBRARY_PATH": str(compat)})

    (cand,) = lib(facts, "cuda").candidates
    assert "compat" in cand.origins


def test_a_libcuda_that_names_no_build_has_none(tmp_path: Path) -> None:
    driverlib = tmp_path / "driverlib"
    shim(driverlib, "cuda", "libcuda.so.1", "12.4")

    facts = probe(tmp_path, {"LD_LIBRARY_PATH": str(driverlib)})

    (cand,) = lib(facts, "cuda").candidates
    assert cand.driver_build is None and cand.origins == ("LD_LIBRARY_PATH",)


def test_wsls_driver_directory_is_marked_wsl(tmp_path: Path) -> None:
    wsl = tmp_path / "root/usr/lib/wsl/lib"
    shim(wsl, "cuda", "libcuda.so.1", "12.4", file="libcuda.so.1.1")

    facts = probe(tmp_path, {"LD_LIBRARY_PATH": str(wsl)})

    (cand,) = lib(facts, "cuda").candidates
    assert cand.origins == ("LD_LIBRARY_PATH", "wsl")
    assert cand.driver_build is None  # libcuda.so.1.1 names no driver build
