"""The libraries probe finds every copy of each soname TF would dlopen and asks each its version.

The libraries are shims compiled at test time (tests/simhost/libshims.py): real
shared objects, real dlopen, real ctypes calls; only the GPU is missing. Every
test works under a temporary root, so the host's own CUDA install never leaks in.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from packaging.version import Version

from gpuconform.expect.tables.sonames import default_path
from gpuconform.expect.tables.sonames import load_sonames
from gpuconform.facts.errors import DataError
from gpuconform.facts.model import LibrariesFacts
from gpuconform.facts.model import LibraryFacts
from gpuconform.probes.libraries import _decode
from gpuconform.probes.libraries import probe_libraries
from tests.simhost.cc import build_shared
from tests.simhost.cc import require_compiler
from tests.simhost.libshims import encode_version
from tests.simhost.libshims import library_shim_source
from tests.simhost.libshims import materialise_libraries
from tests.simhost.spec import load_spec
from tests.simhost.spec import shipped_specs


@dataclass(frozen=True)
class Lib:
    """A stand-in for the host spec's LibrarySpec (the shims only duck-type it)."""

    name: str
    version: str
    location: str = "pip"
    soname: str | None = None
    fault: str | None = None
    cuda: str | None = None  # the CUDA a cuDNN says it was built for


#: What `pip install tensorflow[and-cuda]==2.21.0` puts in site-packages (tf-behaviors §5.2).
TF_2_21 = (
    Lib("cudart", "12.5.82"),
    Lib("cublas", "12.5.3.2"),
    Lib("cublasLt", "12.5.3.2"),
    Lib("cufft", "11.2.3.61"),
    Lib("curand", "10.3.6.82"),
    Lib("cusolver", "11.6.3.83"),
    Lib("cusparse", "12.5.1.3"),
    Lib("cudnn", "9.3.0.75"),
    Lib("nccl", "2.21.5"),
)
TF_2_21_VERSIONS = {
    "cuda": "12.4",
    "cudart": "12.5",
    "cublas": "12.5.3",
    "cublasLt": "12.5.3",
    "cufft": "11.2.3",
    "curand": "10.3.6",
    "cusolver": "11.6.3",
    "cusparse": "12.5.1",
    "cudnn": "9.3.0",
    "nccl": "2.21.5",
}
CUDA_12_5 = Version("12.5.1")


@pytest.fixture(autouse=True)
def _compiler() -> None:
    require_compiler()


def _with(libs: tuple[Lib, ...], name: str, **changes: str | None) -> tuple[Lib, ...]:
    return tuple(replace(lib, **changes) if lib.name == name else lib for lib in libs)  # type: ignore[arg-type]


def _env(additions: Mapping[str, str]) -> dict[str, str]:
    # The host's own library paths must not leak into a simulated host.
    env = {k: v for k, v in os.environ.items() if k not in ("LD_LIBRARY_PATH", "CONDA_PREFIX")}
    env.update(additions)
    if "PYTHONPATH" in additions and os.environ.get("PYTHONPATH"):
        env["PYTHONPATH"] = additions["PYTHONPATH"] + os.pathsep + os.environ["PYTHONPATH"]
    return env


def _probe(
    tmp_path: Path,
    libs: Sequence[Any],
    *,
    cuda: Version | None = CUDA_12_5,
    cudnn_major: int | None = 9,
    driver: int | None = 12040,
    timeout: float = 20.0,
    extra_ld_path: Path | None = None,
) -> LibrariesFacts:
    additions = materialise_libraries(libs, tmp_path, driver)
    if extra_ld_path is not None:
        ld_path = [p for p in (additions.get("LD_LIBRARY_PATH"), str(extra_ld_path)) if p]
        additions["LD_LIBRARY_PATH"] = os.pathsep.join(ld_path)
    root = tmp_path / "root"
    root.mkdir(exist_ok=True)
    return probe_libraries(
        cuda,
        cudnn_major,
        "tensorflow 2.21.0" if cuda else "no TensorFlow",
        root=root,
        timeout=timeout,
        env=_env(additions),
        sys_path=[str(tmp_path / "site-packages")],
    )


def _lib(facts: LibrariesFacts, name: str) -> LibraryFacts:
    found = [lib for lib in facts.libraries if lib.name == name]
    assert len(found) == 1, f"{name} listed {len(found)} times"
    return found[0]


# ---- a healthy host -----------------------------------------------------------------


def test_a_healthy_tf_2_21_host_has_every_soname_in_its_pip_wheel_with_the_right_version(
    tmp_path: Path,
) -> None:
    facts = _probe(tmp_path, TF_2_21)

    assert facts.error is None
    assert [lib.name for lib in facts.libraries] == [
        "cuda", "cudart", "cublas", "cublasLt", "cufft", "cusolver", "cusparse", "cudnn",
        "curand", "nccl",
    ]  # fmt: skip
    for lib in facts.libraries:
        assert len(lib.candidates) == 1, lib
        assert len(lib.loads) == 1, lib
        load = lib.loads[0]
        assert load.loaded and load.error is None, load
        assert load.version == TF_2_21_VERSIONS[lib.name], lib.name
        expected_origin = "LD_LIBRARY_PATH" if lib.name == "cuda" else "pip"
        assert lib.candidates[0].origin == expected_origin
        assert lib.other_candidates == () and lib.other_loads == ()
    cudnn = _lib(facts, "cudnn")
    assert cudnn.soname == "libcudnn.so.9"
    assert cudnn.candidates[0].path == str(
        tmp_path / "site-packages/nvidia/cudnn/lib/libcudnn.so.9"
    )
    assert cudnn.loads[0].raw_version == 90300
    assert cudnn.loads[0].cuda_major == 12
    assert _lib(facts, "cudart").loads[0].raw_version == 12050
    assert _lib(facts, "cuda").loads[0].raw_version == 12040
    assert _lib(facts, "nccl").loads[0].raw_version == 22105
    assert _lib(facts, "cublasLt").loads[0].raw_version == 120503


def test_required_libraries_are_those_gpu_registration_needs(tmp_path: Path) -> None:
    facts = _probe(tmp_path, TF_2_21)

    required = {lib.name for lib in facts.libraries if lib.required}
    assert required == {
        "cuda",
        "cudart",
        "cublas",
        "cublasLt",
        "cufft",
        "cusolver",
        "cusparse",
        "cudnn",
    }


def test_the_search_path_lists_pip_then_ld_library_path_then_system_then_cuda_home(
    tmp_path: Path,
) -> None:
    facts = _probe(tmp_path, TF_2_21)

    root = tmp_path / "root"
    path = list(facts.search_path)
    assert path[0] == str(tmp_path / "site-packages/nvidia/cublas/lib")
    ld = path.index(str(tmp_path / "driverlib"))
    assert all(p.startswith(str(tmp_path / "site-packages")) for p in path[:ld])
    system = path.index(str(root / "usr/lib64"))
    cuda_home = path.index(str(root / "usr/local/cuda/lib64"))
    assert ld < system < cuda_home


def test_pythonpath_in_the_environment_is_where_the_pip_wheels_are_looked_for(
    tmp_path: Path,
) -> None:
    additions = materialise_libraries(TF_2_21, tmp_path, 12040)
    (tmp_path / "root").mkdir()

    facts = probe_libraries(
        CUDA_12_5, 9, "tensorflow 2.21.0", root=tmp_path / "root", env=_env(additions)
    )

    assert _lib(facts, "cudart").candidates[0].origin == "pip"
    assert _lib(facts, "cudart").loads[0].version == "12.5"


# ---- wrong, missing and duplicate libraries -----------------------------------------


def test_cudnn_8_where_9_is_needed_leaves_cudnn_9_without_candidates_and_reports_8_beside_it(
    tmp_path: Path,
) -> None:
    facts = _probe(tmp_path, _with(TF_2_21, "cudnn", version="8.9.6.50"))

    cudnn = _lib(facts, "cudnn")
    assert cudnn.soname == "libcudnn.so.9"
    assert cudnn.candidates == () and cudnn.loads == ()
    assert [c.path for c in cudnn.other_candidates] == [
        str(tmp_path / "site-packages/nvidia/cudnn/lib/libcudnn.so.8")
    ]
    (other,) = cudnn.other_loads
    assert (other.loaded, other.version, other.raw_version) == (True, "8.9.6", 8906)


def test_two_cudnn_9_copies_are_two_candidates_loaded_separately_with_their_own_versions(
    tmp_path: Path,
) -> None:
    libs = (*TF_2_21, Lib("cudnn", "9.1.0", location="ld_library_path"))

    facts = _probe(tmp_path, libs)

    cudnn = _lib(facts, "cudnn")
    assert [c.origin for c in cudnn.candidates] == ["pip", "LD_LIBRARY_PATH"]
    assert [load.version for load in cudnn.loads] == ["9.3.0", "9.1.0"]
    assert [load.path for load in cudnn.loads] == [c.path for c in cudnn.candidates]


def test_a_symlink_chain_is_one_library_loaded_once_however_many_paths_reach_it(
    tmp_path: Path,
) -> None:
    real = build_shared(
        library_shim_source("cudnn", "9.3.0", None), tmp_path / "ldpath/libcudnn.so.9.3.0"
    )
    (tmp_path / "ldpath/libcudnn.so.9").symlink_to("libcudnn.so.9.3.0")
    system = tmp_path / "root/usr/lib64"
    system.mkdir(parents=True)
    (system / "libcudnn.so.9").symlink_to(real)

    env = _env({"LD_LIBRARY_PATH": str(tmp_path / "ldpath")})
    facts = probe_libraries(CUDA_12_5, 9, "t", root=tmp_path / "root", env=env, sys_path=[])

    cudnn = _lib(facts, "cudnn")
    assert [(c.origin, c.realpath) for c in cudnn.candidates] == [
        ("LD_LIBRARY_PATH", str(real)),
        ("system", str(real)),
    ]
    assert len(cudnn.loads) == 1
    assert cudnn.loads[0].version == "9.3.0"
    assert cudnn.other_candidates == ()  # libcudnn.so.9.3.0 is the file behind the soname


def test_a_missing_library_has_no_candidates_and_no_loads(tmp_path: Path) -> None:
    facts = _probe(tmp_path, tuple(lib for lib in TF_2_21 if lib.name != "cusolver"))

    cusolver = _lib(facts, "cusolver")
    assert (cusolver.soname, cusolver.candidates, cusolver.loads) == ("libcusolver.so.11", (), ())
    assert _lib(facts, "cusparse").loads[0].version == "12.5.1"


def test_a_file_that_is_not_a_library_fails_dlopen_with_the_loader_message(tmp_path: Path) -> None:
    bogus = tmp_path / "elsewhere/libcudart.so.12"
    bogus.parent.mkdir(parents=True)
    bogus.write_text("not an ELF file\n")

    facts = _probe(tmp_path, TF_2_21, extra_ld_path=bogus.parent)

    cudart = _lib(facts, "cudart")
    assert [c.origin for c in cudart.candidates] == ["pip", "LD_LIBRARY_PATH"]
    good, bad = cudart.loads
    assert good.version == "12.5"
    assert not bad.loaded and bad.error is not None
    assert bad.error.kind == "dlopen"
    assert str(bogus) in bad.error.message


# ---- libraries that misbehave -------------------------------------------------------


def test_a_segfaulting_library_is_reported_as_sigsegv_and_the_others_still_load(
    tmp_path: Path,
) -> None:
    facts = _probe(tmp_path, _with(TF_2_21, "cufft", fault="segfault"))

    (cufft,) = _lib(facts, "cufft").loads
    assert not cufft.loaded and cufft.version is None
    assert cufft.error is not None and cufft.error.kind == "signal"
    assert "SIGSEGV" in cufft.error.message and "during dlopen" in cufft.error.message
    for lib in facts.libraries:
        if lib.name != "cufft":
            assert lib.loads[0].version == TF_2_21_VERSIONS[lib.name], lib.name
    assert facts.error is None


def test_an_aborting_library_is_reported_as_sigabrt(tmp_path: Path) -> None:
    facts = _probe(tmp_path, _with(TF_2_21, "cudnn", fault="abort"))

    (cudnn,) = _lib(facts, "cudnn").loads
    assert cudnn.error is not None and cudnn.error.kind == "signal"
    assert "SIGABRT" in cudnn.error.message
    assert _lib(facts, "nccl").loads[0].version == "2.21.5"


def test_a_hanging_library_times_out_and_the_others_are_still_reported(tmp_path: Path) -> None:
    facts = _probe(tmp_path, _with(TF_2_21, "cublas", fault="hang"), timeout=2)

    (cublas,) = _lib(facts, "cublas").loads
    assert not cublas.loaded
    assert cublas.error is not None and cublas.error.kind == "timeout"
    for lib in facts.libraries:
        if lib.name != "cublas":
            assert lib.loads[0].version == TF_2_21_VERSIONS[lib.name], lib.name


def test_two_crashing_libraries_each_get_their_own_error(tmp_path: Path) -> None:
    libs = _with(_with(TF_2_21, "cudart", fault="segfault"), "nccl", fault="abort")

    facts = _probe(tmp_path, libs)

    assert _lib(facts, "cudart").loads[0].error.kind == "signal"  # type: ignore[union-attr]
    assert "SIGABRT" in _lib(facts, "nccl").loads[0].error.message  # type: ignore[union-attr]
    assert _lib(facts, "cusparse").loads[0].version == "12.5.1"


def test_a_library_without_its_version_function_is_loaded_but_unversioned(tmp_path: Path) -> None:
    facts = _probe(tmp_path, _with(TF_2_21, "cusparse", fault="missing_symbol"))

    (cusparse,) = _lib(facts, "cusparse").loads
    assert cusparse.loaded and cusparse.version is None
    assert cusparse.error is not None and cusparse.error.kind == "no-version-symbol"
    assert "cusparseGetProperty" in cusparse.error.message


def test_a_driver_library_answering_zero_is_loaded_with_an_undecodable_version(
    tmp_path: Path,
) -> None:
    facts = _probe(tmp_path, TF_2_21, driver=0)

    (cuda,) = _lib(facts, "cuda").loads
    assert cuda.loaded and cuda.raw_version == 0 and cuda.version is None
    assert cuda.error is not None and cuda.error.kind == "undecodable-version"


# ---- versions and encodings ---------------------------------------------------------


def test_old_encodings_and_the_cuda_a_cudnn_was_built_for_are_decoded(tmp_path: Path) -> None:
    libs = (
        Lib("cudart", "11.8.89"),
        Lib("cudnn", "8.6.0.163+cuda11.8"),
        Lib("nccl", "2.8.4"),
    )

    facts = _probe(tmp_path, libs, cuda=Version("11.8"), cudnn_major=8, driver=11080)

    assert _lib(facts, "cudart").soname == "libcudart.so.11.0"
    assert _lib(facts, "cudart").loads[0].version == "11.8"
    cudnn = _lib(facts, "cudnn").loads[0]
    assert (cudnn.version, cudnn.raw_version, cudnn.cuda_major) == ("8.6.0", 8600, 11)
    nccl = _lib(facts, "nccl").loads[0]
    assert (nccl.version, nccl.raw_version) == ("2.8.4", 2804)


def test_a_cudnn_built_for_cuda_11_beside_cudart_12_says_so(tmp_path: Path) -> None:
    facts = _probe(tmp_path, _with(TF_2_21, "cudnn", cuda="11.8"))

    assert _lib(facts, "cudnn").loads[0].cuda_major == 11
    assert _lib(facts, "cudart").loads[0].version == "12.5"


@pytest.mark.parametrize("spec_path", shipped_specs(), ids=lambda p: p.stem)
def test_every_shipped_host_spec_reports_each_of_its_libraries_where_the_spec_put_it(
    tmp_path: Path, spec_path: Path
) -> None:
    spec = load_spec(spec_path)
    driver = spec.driver.cuda_driver_version
    facts = _probe(tmp_path, spec.library, cuda=None, cudnn_major=None, driver=driver, timeout=5)

    loads = {ld.path: ld for lib in facts.libraries for ld in (*lib.loads, *lib.other_loads)}
    for want in spec.library:
        (load,) = [
            ld for p, ld in loads.items() if p.endswith(f"/{want.soname}") and _at(p, want.location)
        ]
        if want.fault is None:
            assert load.version == _expected(want.name, want.version), want
        else:
            assert load.error is not None and load.error.kind in ("signal", "timeout"), want


def _at(path: str, location: str) -> bool:
    marks = {
        "pip": "/site-packages/nvidia/",
        "ld_library_path": "/ldpath/",
        "conda": "/conda/lib/",
        "ldcache": "/opt/nvidia/lib/",
        "cuda_home": "/usr/local/cuda/",
        "system": "-linux-gnu/",
    }
    return marks[location] in path


def _expected(name: str, version: str) -> str:
    parts = [*version.split("+")[0].split("."), "0", "0"]
    return ".".join(parts[:2] if name in ("cuda", "cudart") else parts[:3])


# ---- no TensorFlow, and the other locations -----------------------------------------


def test_without_tensorflow_the_probe_asks_for_cuda_12_and_cudnn_9_and_reports_what_it_finds(
    tmp_path: Path,
) -> None:
    libs = (Lib("cudart", "11.8.89"), Lib("cudnn", "8.9.7.29"), Lib("cublas", "12.3.4.1"))

    facts = _probe(tmp_path, libs, cuda=None, cudnn_major=None)

    assert facts.basis == "no TensorFlow"
    assert _lib(facts, "cudart").soname == "libcudart.so.12"
    assert _lib(facts, "cudnn").soname == "libcudnn.so.9"
    assert [load.version for load in _lib(facts, "cudart").other_loads] == ["11.8"]
    assert [load.version for load in _lib(facts, "cudnn").other_loads] == ["8.9.7"]
    assert _lib(facts, "cublas").loads[0].version == "12.3.4"


def test_conda_cuda_home_and_system_copies_are_found_with_their_origin(tmp_path: Path) -> None:
    libs = _with(
        _with(_with(TF_2_21, "cudart", location="conda"), "cudnn", location="cuda_home"),
        "cufft",
        location="system",
    )

    facts = _probe(tmp_path, libs)

    root = tmp_path / "root"
    (cudart,) = _lib(facts, "cudart").candidates
    assert (cudart.origin, cudart.path) == ("conda", str(tmp_path / "conda/lib/libcudart.so.12"))
    (cudnn,) = _lib(facts, "cudnn").candidates
    assert (cudnn.origin, cudnn.path) == (
        "cuda_home",
        str(root / "usr/local/cuda/lib64/libcudnn.so.9"),
    )
    (cufft,) = _lib(facts, "cufft").candidates
    assert cufft.origin == "system"
    assert _lib(facts, "cudnn").loads[0].version == "9.3.0"


def test_cuda_targets_directories_are_searched_as_cuda_home(tmp_path: Path) -> None:
    target = tmp_path / "root/usr/local/cuda/targets/x86_64-linux/lib"
    build_shared(library_shim_source("cusparse", "12.5.1", None), target / "libcusparse.so.12")

    facts = probe_libraries(CUDA_12_5, 9, "t", root=tmp_path / "root", env=_env({}), sys_path=[])

    (cand,) = _lib(facts, "cusparse").candidates
    assert (cand.origin, cand.path) == ("cuda_home", str(target / "libcusparse.so.12"))


@pytest.mark.skipif(
    shutil.which("ldconfig") is None and not os.path.exists("/sbin/ldconfig"),
    reason="reading an ld cache needs ldconfig",
)
def test_the_ld_cache_of_a_host_root_is_searched_with_paths_under_that_root(tmp_path: Path) -> None:
    facts = _probe(tmp_path, _with(TF_2_21, "cudart", location="ldcache", version="12.4.127"))

    root = tmp_path / "root"
    (cand,) = _lib(facts, "cudart").candidates
    assert (cand.origin, cand.path) == ("ldcache", str(root / "opt/nvidia/lib/libcudart.so.12"))
    assert _lib(facts, "cudart").loads[0].version == "12.4"
    assert str(root / "etc/ld.so.cache") in facts.search_path
    assert facts.error is None


def test_a_cuda_version_without_a_soname_row_is_an_error_not_an_empty_answer(
    tmp_path: Path,
) -> None:
    facts = probe_libraries(
        Version("8.0"), 6, "tensorflow 1.4", root=tmp_path, env=_env({}), sys_path=[]
    )

    assert facts.libraries == ()
    assert facts.error is not None and facts.error.kind == "unknown-cuda"
    assert "8.0" in facts.error.message


def test_the_probe_imports_no_tensorflow_in_the_parent_or_the_child(tmp_path: Path) -> None:
    parent = (
        "import sys, pathlib\n"
        "from gpuconform.probes.libraries import probe_libraries\n"
        "probe_libraries(None, None, 't', root=pathlib.Path(sys.argv[1]), sys_path=[])\n"
        "assert 'tensorflow' not in sys.modules, 'parent imported tensorflow'\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", parent, str(tmp_path)], capture_output=True, text=True, env=_env({})
    )
    assert done.returncode == 0, done.stderr[-2000:]

    # -X importtime lists every module the child imports, on stderr.
    child = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "gpuconform.probes.libload_child"],
        input='{"items": []}',
        capture_output=True,
        text=True,
        env=_env({}),
    )
    assert child.returncode == 0, child.stderr[-2000:]
    assert "ctypes" in child.stderr
    assert "tensorflow" not in child.stderr


@settings(max_examples=200, deadline=None)
@given(
    name=st.sampled_from(["cudart", "cudnn", "cublasLt", "nccl"]),
    major=st.integers(1, 30),
    minor=st.integers(0, 99),
    patch=st.integers(0, 99),
)
def test_every_version_a_shim_encodes_decodes_back_to_itself(
    name: str, major: int, minor: int, patch: int
) -> None:
    if name == "cudnn" and major < 9:
        minor = minor % 10  # cuDNN <= 8 kept one digit for the minor
    if name == "cublasLt":
        major = max(major, 10)  # cuBLASLt began at 10.1; below 10 the two encodings collide
    if name == "nccl" and major <= 2 and minor <= 8:
        major = 2  # the short NCCL encoding only ever existed for 2.0 to 2.8
    version = f"{major}.{minor}.{patch}"
    raw = encode_version(name, version)

    assert raw is not None
    expected = f"{major}.{minor}" if name == "cudart" else version
    assert _decode(name, raw) == expected


# ---- the soname table ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("cuda", "name", "soname"),
    [
        ("12.5.1", "cusolver", "libcusolver.so.11"),
        ("12.5.1", "cufft", "libcufft.so.11"),
        ("12.3", "cudart", "libcudart.so.12"),
        ("11.8", "cudart", "libcudart.so.11.0"),
        ("11.2", "cusolver", "libcusolver.so.11"),
        ("11.0", "cusolver", "libcusolver.so.10"),
        ("10.1", "cudart", "libcudart.so.10.1"),
        ("10.1", "cublas", "libcublas.so.10"),
        ("10.0", "cublas", "libcublas.so.10.0"),
        ("10.0", "cuda", "libcuda.so.1"),
    ],
)
def test_the_soname_table_names_the_file_tf_dlopens(cuda: str, name: str, soname: str) -> None:
    wanted = load_sonames().wanted(Version(cuda), 8)

    assert wanted is not None
    assert {w.name: w.soname for w in wanted}[name] == soname


@pytest.mark.parametrize("cuda", ["12.5.1", "12.3", "12.2", "11.8", "11.2", "11.0", "10.1", "10.0"])
def test_every_cuda_of_a_tensorflow_2_release_has_a_soname_row(cuda: str) -> None:
    assert load_sonames().row_for(Version(cuda)) is not None


def test_cudnn_sonames_carry_the_cudnn_major() -> None:
    wanted = load_sonames().wanted(Version("11.8"), 8)

    assert wanted is not None
    assert {w.name: w.soname for w in wanted}["cudnn"] == "libcudnn.so.8"


def test_cuda_10_has_no_cublaslt_to_probe() -> None:
    wanted = load_sonames().wanted(Version("10.1"), 7)

    assert wanted is not None
    assert "cublasLt" not in {w.name for w in wanted}


def _write_table(tmp_path: Path, old: str, new: str) -> Path:
    text = default_path().read_text()
    assert old in text, old
    path = tmp_path / "sonames.toml"
    path.write_text(text.replace(old, new, 1))
    return path


@pytest.mark.parametrize(
    ("old", "new", "key", "says"),
    [
        ('cudart = "12"', 'cudrt = "12"', "cuda[0].cudrt", "did you mean 'cudart'"),
        ('cudart = "12"', "cudart = 12", "cuda[0].cudart", "not a soname suffix"),
        ('cuda = ">=12,<13"', 'cuda = "twelve"', "cuda[0].cuda", "not a version specifier"),
        ("as_of = 2026-12-01", 'as_of = "March 2026"', "meta.as_of", "a date like 2026-03-11"),
        ("as_of = 2026-12-01", 'as_of = "2026-03-11"', "meta.as_of", "expected a TOML date, got str"),
        ('cuda = "12"', 'cuda = "13"', "defaults.cuda", "matches no [[cuda]] row"),
        ("cudnn_major = 9", "cudnn_major = 6", "defaults.cudnn_major", "not one of cudnn.majors"),
        ('optional = ["curand", "nccl"]', 'optional = ["curand"]', "toolkit", "nccl"),
        ("[driver]", "[drivers]", "drivers", "did you mean 'driver'"),
    ],
)
def test_a_bad_soname_table_is_a_data_error_naming_file_and_key(
    tmp_path: Path, old: str, new: str, key: str, says: str
) -> None:
    path = _write_table(tmp_path, old, new)

    with pytest.raises(DataError) as info:
        load_sonames(path)

    assert info.value.source == str(path)
    assert info.value.key == key
    assert says in str(info.value)


def test_overlapping_cuda_rows_are_a_data_error(tmp_path: Path) -> None:
    path = _write_table(tmp_path, 'cuda = ">=11.1,<12"', 'cuda = ">=11.1,<12.1"')

    with pytest.raises(DataError, match=r"cuda\[0\] and cuda\[1\]: both match CUDA 12"):
        load_sonames(path)


def test_an_unreadable_soname_table_is_a_data_error(tmp_path: Path) -> None:
    path = tmp_path / "sonames.toml"
    path.write_text("[meta\n")

    with pytest.raises(DataError, match="not valid TOML"):
        load_sonames(path)
