"""Table tests for the libraries layer's rule tables: library_search.toml, forward_compat.toml, sonames.toml.

Each loader gives its rows types and the questions the rules ask; the answers below are the sourced
rows (see each file's [meta]), and a malformed file is a DataError naming the key.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from packaging.version import Version

from gpuconform.expect.tables.forward_compat import load_forward_compat
from gpuconform.expect.tables.library_search import load_library_search
from gpuconform.expect.tables.library_search import pip_package
from gpuconform.expect.tables.sonames import default_path
from gpuconform.expect.tables.sonames import load_sonames
from gpuconform.facts.errors import DataError

MATRICES = Path(__file__).resolve().parents[1] / "matrices"
SEARCH = load_library_search(MATRICES / "library_search.toml")
FORWARD = load_forward_compat(MATRICES / "forward_compat.toml")


def edited(tmp_path: Path, name: str, old: str, new: str) -> Path:
    """A copy of matrices/<name> with one edit."""
    text = (MATRICES / name).read_text()
    assert old in text, old
    path = tmp_path / name
    path.write_text(text.replace(old, new, 1))
    return path


# ---- library_search.toml ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tf", "conda"),
    [("2.0.0", True), ("2.6.0", True), ("2.7.0", False), ("2.13.1", False), ("2.21.0", False)],
)
def test_conda_prefix_lib_is_reached_only_while_the_loader_had_an_rpath(tf: str, conda: bool) -> None:
    assert SEARCH.reach(tf, "conda").reached is conda


@pytest.mark.parametrize(
    ("tf", "package", "reached"),
    [
        ("2.13.0", "cudnn", False),
        ("2.14.0", "cudnn", True),
        ("2.14.0", "nccl", True),
        ("2.16.1", "cuda_runtime", True),
        ("2.16.1", "cublas", False),
        ("2.16.1", "cudnn", False),
        ("2.16.1", "cusolver", False),
        ("2.16.2", "cudnn", True),
        ("2.21.0", "cusolver", False),
        ("2.21.0", "cudnn", True),
    ],
)
def test_pip_wheels_are_reached_from_2_14_except_where_a_release_lost_them(
    tf: str, package: str, reached: bool
) -> None:
    assert SEARCH.reach(tf, "pip", package).reached is reached


def test_usr_local_cuda_is_never_reached_and_ld_library_path_always_is() -> None:
    for tf in ("2.0.0", "2.9.1", "2.21.0", None):
        assert not SEARCH.reach(tf, "cuda_home").reached
        assert SEARCH.reach(tf, "LD_LIBRARY_PATH").reached
        assert SEARCH.reach(tf, "ldcache").reached
        assert SEARCH.reach(tf, "system").reached


def test_a_compat_or_wsl_marker_is_a_directory_the_loader_reached() -> None:
    assert SEARCH.reach("2.12.0", "compat").reached
    assert SEARCH.reach("2.12.0", "wsl").reached
    assert SEARCH.reach("2.2.0", "windows_path").reached


def test_an_unreached_origin_says_what_the_release_searches_instead() -> None:
    why = SEARCH.reach("2.16.1", "pip", "cudnn").why
    assert "only nvidia/cuda_runtime/lib" in why and "nvidia/cudnn/lib" in why
    assert "from TensorFlow 2.14" in SEARCH.reach("2.12.0", "pip", "cudnn").why
    assert "DT_RUNPATH" in SEARCH.reach("2.7.0", "conda").why
    assert "LD_LIBRARY_PATH" in SEARCH.reach("2.7.0", "cuda_home").why


def test_a_release_newer_than_the_table_is_judged_by_its_newest_row_without_one_wheels_exceptions() -> None:
    assert not SEARCH.reach("2.23.0", "conda").reached
    assert SEARCH.reach("2.23.0", "pip", "cusolver").reached
    assert SEARCH.release("2.23.0") is None


def test_without_a_release_only_usr_local_cuda_is_unreached() -> None:
    assert SEARCH.reach(None, "pip", "cudnn").reached
    assert SEARCH.reach(None, "conda").reached
    assert SEARCH.reach("1.15.0", "conda").reached


@pytest.mark.parametrize(
    ("tf", "linked"),
    [
        ("1.5.0", ("cublas", "cusolver", "cudart", "cuda", "cudnn", "cufft", "curand")),
        ("1.9.0", ("cublas", "cusolver", "cudnn", "cudart", "cuda", "cufft", "curand")),  # its pywrap links cuDNN
        ("1.12.0", ("cublas", "cusolver", "cudart", "cuda", "cudnn", "cufft", "curand")),
        ("1.13.1", ("cublas", "cusolver", "cudart", "cuda", "cudnn")),
        ("1.14.0", ()),
        ("2.0.0", ()),
        ("2.21.0", ()),
        (None, ()),
    ],
)
def test_tf_1_x_before_1_14_links_its_cuda_libraries_in_the_order_the_dynamic_linker_maps_them(
    tf: str | None, linked: tuple[str, ...]
) -> None:
    assert SEARCH.linked(tf) == linked


def test_tf_1_x_reaches_the_conda_prefix_through_the_rpath_as_2_0_to_2_6_do() -> None:
    assert SEARCH.reach("1.12.0", "conda").reached
    assert not SEARCH.reach("1.12.0", "pip", "cublas").reached
    assert SEARCH.release("1.4.0") is None  # no wheel of 1.0-1.4 was read


def test_a_linked_library_the_libraries_layer_does_not_know_is_refused(tmp_path: Path) -> None:
    old = 'linked = ["cublas", "cusolver", "cudart", "cuda", "cudnn"]'
    with pytest.raises(DataError, match=r"release\[10\]\.linked\[0\]: 'libcublas' is not accepted"):
        load_library_search(edited(tmp_path, "library_search.toml", old, old.replace('"cublas"', '"libcublas"')))


def test_the_pip_package_of_a_file_is_its_directory_below_nvidia() -> None:
    assert pip_package("/sp/nvidia/cuda_runtime/lib/libcudart.so.12") == "cuda_runtime"
    assert pip_package("/usr/lib/x86_64-linux-gnu/libcudart.so.12") is None


def test_the_patch_release_that_reaches_the_pip_wheels_again_is_2_16_2_for_2_16_1_and_none_for_2_21() -> None:
    assert SEARCH.patch_release_reaching_pip("2.16.1", "cudnn") == Version("2.16.2")
    assert SEARCH.patch_release_reaching_pip("2.21.0", "cusolver") is None
    assert SEARCH.patch_release_reaching_pip("2.12.0", "cudnn") is None  # 2.14 is another series


def test_the_releases_that_reach_a_pip_cusolver_exclude_2_16_1_and_2_21() -> None:
    ranges = SEARCH.releases_reaching_pip("cusolver")
    assert any(r.contains("2.16.2") for r in ranges)
    assert not any(r.contains("2.16.1") or r.contains("2.21.0") for r in ranges)


@pytest.mark.parametrize(
    ("old", "new", "says"),
    [
        ('reached = ["loader_dir", "conda_prefix_lib"', 'reached = ["loader_dirs", "conda_prefix_lib"',
         r"release\[0\]\.reached\[0\]: 'loader_dirs' is not an origin"),
        ('dynamic_tag = "DT_RPATH"', 'dynamic_tag = "RPATH"', r"release\[0\]\.dynamic_tag: 'RPATH' is not accepted"),
        ('tensorflow = ">=2.7,<2.14"', 'tensorflow = ">=2.6,<2.14"',
         r"release\[1\]\.tensorflow: .* overlaps release\[0\]"),
        ('pip_dirs = ["nvidia/cuda_runtime/lib", "tensorrt"]', 'pip_dirs = ["cuda_runtime", "tensorrt"]',
         r"release\[3\]\.pip_dirs\[0\]: 'cuda_runtime' is not a pip directory"),
        ('not_reached = ["pip_nvidia", "usr_local_cuda"]', 'not_reached = ["loader_dir", "usr_local_cuda"]',
         r"release\[0\]\.not_reached\[0\]: loader_dir is also in reached"),
        ('name = "usr_local_cuda"', 'name = "cuda_home"', r"origin\[4\]\.name: 'cuda_home' is not accepted"),
        ('wheels_read = ["2.16.1"]', 'wheels_read = ["2.16.one"]',
         r"release\[3\]\.wheels_read\[0\]: '2\.16\.one' is not"),
    ],
)
def test_a_malformed_search_table_is_refused_naming_the_key(tmp_path: Path, old: str, new: str, says: str) -> None:
    with pytest.raises(DataError, match=says):
        load_library_search(edited(tmp_path, "library_search.toml", old, new))


def test_pip_packages_not_reached_must_not_also_be_on_the_loaders_runpath(tmp_path: Path) -> None:
    old = 'pip_dirs = ["nvidia/cuda_runtime/lib", "tensorrt"]'
    path = edited(tmp_path, "library_search.toml", old, 'pip_dirs = ["nvidia/cuda_runtime/lib", "nvidia/cudnn/lib"]')
    with pytest.raises(DataError, match=r"release\[3\]\.not_reached: cudnn is both on pip_dirs and not reached"):
        load_library_search(path)


# ---- forward_compat.toml ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "supported"),
    [
        ("Tesla T4", True),
        ("NVIDIA A100-SXM4-40GB", True),
        ("A100-SXM4-40GB", True),
        ("NVIDIA H200", True),
        ("NVIDIA L4", True),
        ("NVIDIA PG509-210", True),
        ("GeForce RTX 3060", False),
        ("NVIDIA GeForce RTX 3090", False),
        ("NVIDIA RTX A6000", False),
        ("Quadro RTX 4000", False),
        ("NVIDIA GPU", False),
    ],
)
def test_forward_compatibility_is_for_data_center_gpus_only(name: str, supported: bool) -> None:
    assert FORWARD.gpu_rule(name).forward_compat is supported


def test_a_consumer_gpu_gets_the_rule_that_says_how_to_drop_the_compat_library() -> None:
    rule = FORWARD.gpu_rule("GeForce RTX 3060")
    assert rule.fix is not None and "LD_LIBRARY_PATH" in rule.fix and "upgrade the host driver" in rule.fix


def test_a_compat_package_supports_the_kernel_branches_its_elf_note_lists() -> None:
    assert FORWARD.supports_kernel("575.57.08", "570.211.01") is True
    assert FORWARD.supports_kernel("590.44.01", "560.35.03") is False
    assert FORWARD.supports_kernel("530.30.02", "525.60.13") is None  # that package's note was not read


def test_errors_803_and_804_are_known_with_their_fix() -> None:
    error = FORWARD.error(804)
    assert error is not None and error.name == "CUDA_ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE"
    assert FORWARD.error(803) is not None and FORWARD.error(999) is None
    assert FORWARD.branch_designations[535] == "LTSB"


def test_a_gpu_name_pattern_that_is_not_a_regular_expression_is_refused(tmp_path: Path) -> None:
    path = edited(tmp_path, "forward_compat.toml", '["Orin", ', '["(Orin", ')
    with pytest.raises(DataError, match=r"gpu_rule\[2\]\.nvml_name_patterns\[0\]: '\(Orin' is not a regular"):
        load_forward_compat(path)


def test_the_table_needs_exactly_one_catch_all_gpu_row_with_its_fix(tmp_path: Path) -> None:
    path = edited(tmp_path, "forward_compat.toml", "forward_compat = false\n", "forward_compat = true\n")
    with pytest.raises(DataError, match=r"gpu_rule: 0 rows without nvml_name_patterns"):
        load_forward_compat(path)


def test_a_compat_package_branch_out_of_range_is_refused(tmp_path: Path) -> None:
    path = edited(tmp_path, "forward_compat.toml", "[535, 550, 560,", "[5, 550, 560,")
    with pytest.raises(DataError, match=r"compat_package\[0\]\.supported_kernel_branches\[0\]: 5 is out of range"):
        load_forward_compat(path)


# ---- sonames.toml: Windows DLL names and the older toolkits ------------------------------------------


@pytest.mark.parametrize(
    ("cuda", "name", "dll"),
    [
        ("9.0", "cudart", "cudart64_90.dll"),
        ("10.0", "cublas", "cublas64_100.dll"),
        ("10.1", "cudart", "cudart64_101.dll"),
        ("10.1", "cusolver", "cusolver64_10.dll"),
        ("11.0", "cusolver", "cusolver64_10.dll"),
        ("11.2", "cusolver", "cusolver64_11.dll"),
        ("11.2", "cublasLt", "cublasLt64_11.dll"),
        ("11.2", "cuda", "nvcuda.dll"),
        ("11.2", "cudnn", "cudnn64_8.dll"),
    ],
)
def test_on_windows_tensorflow_asks_for_its_dll_names(cuda: str, name: str, dll: str) -> None:
    wanted = load_sonames().wanted(Version(cuda), 8 if cuda.startswith("11") else 7, "Windows")
    assert wanted is not None
    assert {w.name: w.soname for w in wanted}[name] == dll


def test_windows_has_no_nccl_to_ask_for() -> None:
    wanted = load_sonames().wanted(Version("11.2"), 8, "Windows")
    assert wanted is not None and "nccl" not in {w.name for w in wanted}


@pytest.mark.parametrize(
    ("cuda", "name", "soname"),
    [
        ("9.0", "cublas", "libcublas.so.9.0"),
        ("9.2", "cudart", "libcudart.so.9.2"),
        ("10.2", "cudart", "libcudart.so.10.2"),
        ("10.2", "cusolver", "libcusolver.so.10"),
    ],
)
def test_cuda_9_0_9_2_and_10_2_toolkits_have_their_sonames(cuda: str, name: str, soname: str) -> None:
    wanted = load_sonames().wanted(Version(cuda), 7)
    assert wanted is not None
    assert {w.name: w.soname for w in wanted}[name] == soname


def test_a_windows_dll_beside_the_wanted_one_is_another_soname_of_that_library() -> None:
    table = load_sonames()
    assert table.is_other_soname("cudart", "cudart64_101.dll", "cudart64_102.dll")
    assert table.is_other_soname("cudnn", "cudnn64_7.dll", "cudnn64_8.dll")
    assert not table.is_other_soname("cudart", "cudart64_101.dll", "cublas64_10.dll")


def test_a_windows_dll_name_tensorflow_would_not_ask_for_is_refused(tmp_path: Path) -> None:
    text = default_path().read_text()
    path = tmp_path / "sonames.toml"
    path.write_text(text.replace('cudart = "cudart64_101.dll"', 'cudart = "cudart64_10.dll"', 1))
    with pytest.raises(DataError, match=r"cuda\[3\]\.windows\.cudart: 'cudart64_10\.dll' is not the DLL"):
        load_sonames(path)


def test_a_row_without_one_of_its_windows_dlls_is_refused(tmp_path: Path) -> None:
    text = default_path().read_text()
    path = tmp_path / "sonames.toml"
    path.write_text(text.replace('cusparse = "cusparse64_12.dll"\n', "", 1))
    with pytest.raises(DataError, match=r"cuda\[0\]\.windows\.cusparse: missing"):
        load_sonames(path)
