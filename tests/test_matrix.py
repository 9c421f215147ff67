"""Table tests for the compatibility matrices: the data, every query, and the loader's checks.

Expected values come from reference/matrices.md; the section is named where it helps.
"""

from __future__ import annotations

import datetime
import importlib.resources
from pathlib import Path

import pytest
from packaging.version import Version

from gpuconform.expect.loading import load_matrices
from gpuconform.expect.lookups import Coverage
from gpuconform.expect.matrix import Matrices
from gpuconform.expect.matrix import MatrixKeyError
from gpuconform.expect.tables.reader import TABLE_FILES
from gpuconform.facts.errors import DataError
from gpuconform.facts.versions import parse_driver_version


@pytest.fixture(scope="module")
def m() -> Matrices:
    return load_matrices()


# --- loading -----------------------------------------------------------------------------------


def test_the_matrices_load_from_the_installed_package_data() -> None:
    root = importlib.resources.files("gpuconform.matrices")
    for name in TABLE_FILES.values():
        assert root.joinpath(name).is_file()
    matrices = load_matrices()
    assert set(matrices.as_of) == set(TABLE_FILES)
    assert matrices.meta["gpus"].source.endswith("gpus.toml")


def test_the_packaged_matrices_are_loaded_once_and_cached() -> None:
    assert load_matrices() is load_matrices()


def test_a_directory_of_matrices_loads_the_same_data(tmp_path: Path, m: Matrices) -> None:
    copy = _copy_matrices(tmp_path)
    loaded = load_matrices(copy)
    assert loaded is not m
    assert loaded.tf_releases == m.tf_releases
    assert loaded.meta["tensorflow"].source == str(copy / "tensorflow.toml")


def test_every_table_says_what_it_is_as_of_and_where_it_came_from(m: Matrices) -> None:
    for name, meta in m.meta.items():
        assert meta.name == name
        assert meta.as_of == datetime.date(2026, 12, 1)  # checked against the wheels and pci.ids that day
        assert meta.sources and meta.title


# --- TensorFlow releases -----------------------------------------------------------------------


def test_every_tf_2_release_and_1_x_from_1_5_is_listed_once_newest_first(m: Matrices) -> None:
    versions = [str(r.version) for r in m.tf_releases]
    expected = ["2.22.0rc0"] + [f"2.{minor}.0" for minor in range(21, -1, -1)]  # 2.22 is a release candidate
    expected[expected.index("2.16.0")] = "2.16.1"  # 2.16.0 was never published
    expected += [f"1.{minor}.0" for minor in range(15, 4, -1)]  # the docs' tensorflow_gpu rows from CUDA 9
    expected[expected.index("1.13.0")] = "1.13.1"  # the docs' row; 1.13.0 was never a final release
    assert versions == expected
    assert [str(r.version) for r in m.tf_releases if r.prerelease] == ["2.22.0rc0"]


def test_the_2_22_release_candidate_is_judged_from_its_headers_since_its_build_info_has_no_cuda_keys(
    m: Matrices,
) -> None:
    rc = m.tf_release("2.22.0rc0")
    assert rc.status == "known" and rc.release is not None and rc.release.prerelease
    assert (str(rc.release.cuda), str(rc.release.cudnn)) == ("12.5.1", "9.10.0")
    assert m.kernels_for("2.22.0rc0").build_info_caps == ()
    assert m.and_cuda_pins("2.22.0rc0")["nvidia-nvshmem-cu12"] == ">=3.2.5"  # type: ignore[index]


def test_a_later_rc_or_the_final_of_a_pre_release_series_uses_its_row_with_a_warning(m: Matrices) -> None:
    final = m.tf_release("2.22.0")
    assert (final.status, str(final.release.version) if final.release else None) == ("unknown-newer", "2.22.0rc0")
    assert final.warning == (
        "TensorFlow 2.22.0 is newer than the matrix: matrix as of 2026-12-01 (tensorflow.toml) knows TF 2.22 "
        "only as the pre-release 2.22.0rc0; expectations use that row"
    )
    assert m.tf_release("2.22.0rc1").status == "unknown-newer"
    assert m.tf_release("2.22.0.dev20260901").status == "unknown"


@pytest.mark.parametrize(
    ("tf", "python", "cuda", "cudnn", "cudnn_major", "package", "keras"),
    [
        ("2.21.0", ">=3.10,<3.14", "12.5.1", "9.3.0", 9, "tensorflow", 3),
        ("2.20.0", ">=3.9,<3.14", "12.5.1", "9.3.0", 9, "tensorflow", 3),
        ("2.18.0", ">=3.9,<3.13", "12.5.1", "9.3.0", 9, "tensorflow", 3),
        ("2.17.0", ">=3.9,<3.13", "12.3", "8.9.6", 8, "tensorflow", 3),
        ("2.16.1", ">=3.9,<3.13", "12.3", "8.9.6", 8, "tensorflow", 3),
        ("2.15.0", ">=3.9,<3.12", "12.2", "8.9", 8, "tensorflow", 2),
        ("2.14.0", ">=3.9,<3.12", "11.8", "8.7", 8, "tensorflow", 2),
        ("2.12.0", ">=3.8,<3.12", "11.8", "8.6", 8, "tensorflow", 2),
        ("2.11.0", ">=3.7,<3.11", "11.2", "8.1", 8, "tensorflow", 2),
        ("2.7.0", ">=3.7,<3.10", "11.2", "8.1", 8, "tensorflow", 2),
        ("2.5.0", ">=3.6,<3.10", "11.2", "8.1", 8, "tensorflow", 2),
        ("2.4.0", ">=3.6,<3.9", "11.0", "8.0", 8, "tensorflow", 2),
        ("2.3.0", ">=3.5,<3.9", "10.1", "7.6", 7, "tensorflow", 2),
        ("2.1.0", ">=3.5,<3.8", "10.1", "7.6", 7, "tensorflow", 2),
        ("2.0.0", ">=3.5,<3.8", "10.0", "7.4", 7, "tensorflow-gpu", 2),
        ("1.15.0", ">=3.3,<3.8", "10.0", "7.4", 7, "tensorflow-gpu", 2),
        ("1.13.2", ">=3.3,<3.8", "10.0", "7.4", 7, "tensorflow-gpu", 2),
        ("1.12.0", ">=3.3,<3.7", "9.0", "7", 7, "tensorflow-gpu", 2),
        ("1.5.0", ">=3.3,<3.7", "9.0", "7", 7, "tensorflow-gpu", 2),
    ],
)
def test_each_tf_release_has_its_tested_build_configuration(
    m: Matrices,
    tf: str,
    python: str,
    cuda: str,
    cudnn: str,
    cudnn_major: int,
    package: str,
    keras: int,
) -> None:
    release = m.tf_release(tf).release
    assert release is not None
    assert str(release.python) == python
    assert (release.cuda, release.cudnn) == (Version(cuda), Version(cudnn))
    assert (release.cudnn_major, release.package, release.keras_major) == (
        cudnn_major,
        package,
        keras,
    )


@pytest.mark.parametrize(
    ("tf", "glibc"), [("2.21.0", "2.27"), ("2.20.0", "2.17"), ("2.9.0", "2.17"), ("2.8.0", "2.12")]
)
def test_each_tf_release_records_the_glibc_of_its_manylinux_tag(
    m: Matrices, tf: str, glibc: str
) -> None:
    release = m.tf_release(tf).release
    assert release is not None and release.glibc == glibc


@pytest.mark.parametrize(
    ("asked", "status", "row"),
    [
        ("2.21.0", "known", "2.21.0"),
        ("2.19.1", "known", "2.19.0"),
        ("2.15.0.post1", "known", "2.15.0"),
        ("2.16.2", "known", "2.16.1"),
        ("2.16.0", "known", "2.16.1"),
        ("2.18.0rc0", "known", "2.18.0"),
        ("2.14", "known", "2.14.0"),
        (Version("2.3.1"), "known", "2.3.0"),
        ("2.22.0", "unknown-newer", "2.22.0rc0"),
        ("2.23.0", "unknown-newer", "2.22.0rc0"),
        ("3.0.0", "unknown-newer", "2.22.0rc0"),
        ("1.15.0", "known", "1.15.0"),
        ("1.13", "known", "1.13.1"),
        ("1.4.0", "unknown-older", None),
        ("not-a-version", "unknown", None),
        ("", "unknown", None),
    ],
)
def test_a_tf_version_finds_its_series_row(
    m: Matrices, asked: str | Version, status: str, row: str | None
) -> None:
    lookup = m.tf_release(asked)
    assert lookup.status == status
    assert (str(lookup.release.version) if lookup.release else None) == row
    assert (lookup.warning is None) == (status == "known")


def test_a_tf_newer_than_the_matrix_is_a_warning_that_names_the_row_used(m: Matrices) -> None:
    assert m.tf_release("2.23.0").warning == (
        "TensorFlow 2.23.0 is newer than the matrix: matrix as of 2026-12-01 (tensorflow.toml) does not know "
        "TF 2.23; expectations use the newest known release 2.22.0rc0"
    )


def test_a_tf_older_than_the_matrix_gets_no_row_and_says_so(m: Matrices) -> None:
    assert m.tf_release("1.4.0").warning == (
        "TensorFlow 1.4.0 is older than the matrix (tensorflow.toml as of 2026-12-01, "
        "oldest 1.5.0); no matrix row applies"
    )


def test_a_build_that_names_another_cuda_than_its_releases_wheel_is_judged_by_that_cuda(m: Matrices) -> None:
    conda = m.tf_build("1.11.0", "9.2").release  # Anaconda's tensorflow-gpu 1.11 for CUDA 9.2; the wheel has 9.0
    assert conda is not None and conda.cuda == Version("9.2") and conda.version == Version("1.11.0")
    assert conda.notes[-1] == "its own build files name CUDA 9.2; the matrix row of 1.11.0 (its PyPI wheel) says 9.0"
    assert m.tf_build("1.11.0", None) == m.tf_build("1.11.0", "9.0") == m.tf_release("1.11.0")
    assert m.tf_build("2.21.0", "12.5") == m.tf_release("2.21.0")  # the same series keeps the row's 12.5.1
    assert m.tf_build("2.21.0", "12.7") == m.tf_release("2.21.0")  # a CUDA the driver table lacks keeps the row
    assert m.tf_build("1.4.0", "8.0").release is None


def test_a_build_the_tensorflow_project_does_not_publish_gets_no_row_of_the_release_it_shares_a_version_with(
    m: Matrices,
) -> None:
    nvidia = m.tf_build("1.15.5", None, "nvidia-tensorflow")  # NVIDIA's 1.15, built for CUDA 11 and later
    assert (nvidia.status, nvidia.release) == ("other-build", None)
    assert nvidia.warning == (
        "nvidia-tensorflow 1.15.5 is NVIDIA's GPU build of TensorFlow 1.15.5, one of releases nv21.02-nv23.03 (its +nv "
        "label is not known; CUDA 11.3 to 12.1 where read) in nvidia_tensorflow.toml; not a TensorFlow project build, "
        "so tensorflow.toml has no row"
    )
    other = m.tf_build("1.15.5", None, "some-other-tensorflow")
    assert other.warning == "some-other-tensorflow 1.15.5 is not a TensorFlow project build: tensorflow.toml has no row"
    pypi = m.tf_build("1.15.5", None, "tensorflow_gpu").release
    assert pypi is not None and pypi.version == Version("1.15.0")


# --- CUDA toolkits and drivers -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("tf", "full", "floor", "label"),
    [
        ("2.21.0", "555.42.06", "525.60.13", "CUDA 12.5 Update 1"),
        ("2.18.1", "555.42.06", "525.60.13", "CUDA 12.5 Update 1"),
        ("2.17.0", "545.23.06", "525.60.13", "CUDA 12.3 GA"),
        ("2.15.0", "535.54.03", "525.60.13", "CUDA 12.2 GA"),
        ("2.14.0", "520.61.05", "450.80.02", "CUDA 11.8 GA"),
        ("2.11.0", "460.27.03", "450.80.02", "CUDA 11.2.0 GA"),
        ("2.4.0", "450.51.05", "450.80.02", "CUDA 11.0.2 GA"),
        ("2.3.0", "418.39", None, "CUDA 10.1 (10.1.105 general release, and updates)"),
        ("2.0.0", "410.48", None, "CUDA 10.0.130"),
    ],
)
def test_each_tf_release_needs_the_driver_of_its_cuda(
    m: Matrices, tf: str, full: str, floor: str | None, label: str
) -> None:
    requirement = m.driver_requirement_for_tf(tf)
    assert str(requirement.full) == full
    assert (str(requirement.minor_compat) if requirement.minor_compat else None) == floor
    assert requirement.toolkit_label == label


@pytest.mark.parametrize(
    ("cuda", "label", "driver"),
    [
        ("12.3", "CUDA 12.3 GA", "545.23.06"),
        ("12.3.0", "CUDA 12.3 GA", "545.23.06"),
        ("12.3.1", "CUDA 12.3 Update 1", "545.23.08"),
        ("12.3.2", "CUDA 12.3 Update 1", "545.23.08"),  # no row of its own: a lower bound
        ("12.5.1", "CUDA 12.5 Update 1", "555.42.06"),
        ("12.8", "CUDA 12.8 GA", "570.26"),
        ("12.4", "CUDA 12.4 GA", "550.54.14"),
        ("13.2.2", "CUDA 13.2 Update 2", "595.71.05"),
        ("11.4.4", "CUDA 11.4 Update 4", "470.82.01"),
        ("11.0", "CUDA 11.0.2 GA", "450.51.05"),
        ("11.0.3", "CUDA 11.0.3 Update 1", "450.51.06"),
        ("10.2", "CUDA 10.2.89", "440.33"),
        ("10.1.243", "CUDA 10.1 (10.1.105 general release, and updates)", "418.39"),
        (Version("10.0"), "CUDA 10.0.130", "410.48"),
    ],
)
def test_a_cuda_version_finds_its_toolkit_row(
    m: Matrices, cuda: str | Version, label: str, driver: str
) -> None:
    toolkit = m.toolkit(cuda)
    assert (toolkit.label, str(toolkit.linux_min_driver)) == (label, driver)


def test_the_third_party_cuda_13_3_rows_are_marked(m: Matrices) -> None:
    assert m.driver_requirement("13.3").third_party
    assert not m.driver_requirement("13.2").third_party
    assert str(m.driver_requirement("13.0").minor_compat) == "580.65.06"


@pytest.mark.parametrize(
    ("cuda", "message"),
    [
        ("6.5", "cuda_drivers.toml: toolkit: no row for CUDA 6.5"),
        ("14.0", "cuda_drivers.toml: toolkit: no row for CUDA 14.0"),
        ("12.7", "cuda_drivers.toml: toolkit: no row for CUDA 12.7"),
    ],
)
def test_a_cuda_version_without_a_row_is_a_lookup_error_listing_the_rows(
    m: Matrices, cuda: str, message: str
) -> None:
    with pytest.raises(MatrixKeyError) as excinfo:
        m.driver_requirement(cuda)
    assert str(excinfo.value).startswith(message)
    assert "(accepted: 13.5.0, 13.4.2, 13.4.1, 13.3.1, 13.3.0, 13.2.2" in str(excinfo.value)
    assert isinstance(excinfo.value, KeyError) and isinstance(excinfo.value, DataError)


def test_junk_cuda_text_is_a_value_error(m: Matrices) -> None:
    with pytest.raises(ValueError, match="not a CUDA version: 'twelve'"):
        m.toolkit("twelve")


@pytest.mark.parametrize(
    ("driver", "cuda"),
    [
        ("410.48", "10.0"),
        ("418.87.00", "10.1"),
        ("455.32", "11.1"),  # no 455 branch row: Table 3 says 11.1 Update 1
        ("470.82.01", "11.4"),
        ("535.104.05", "12.2"),
        ("550.54.15", "12.4"),
        ("565.57.01", "12.7"),
        ("570.86.15", "12.8"),
        ("580.65.06", "13.0"),
        ("595.71.05", "13.2"),
        ("600.1", "13.2"),  # an unknown branch: the nearest older one's value
        ("610.43.02", "13.3"),
        ("390.48", "9.1"),  # before nvidia-smi printed a CUDA version: Table 3 (third-party copies)
        ("340.108", None),
    ],
)
def test_a_driver_runs_cuda_up_to_what_its_branch_reports(
    m: Matrices, driver: str, cuda: str | None
) -> None:
    found = m.max_cuda_for_driver(driver)
    assert (str(found) if found else None) == cuda


@pytest.mark.parametrize(
    ("cuda", "driver", "level"),
    [
        ("12.5.1", "555.42.06", "full"),
        ("12.5.1", "555.42.02", "minor-compat"),
        ("12.5.1", "525.60.13", "minor-compat"),
        ("12.5.1", "525.53", None),
        ("11.8", "470.82.01", "minor-compat"),
        ("11.0", "450.51.05", "full"),
        ("10.1", "410.48", None),
        ("10.1", "418.39", "full"),
    ],
)
def test_a_driver_meets_a_requirement_in_full_or_through_minor_version_compatibility(
    m: Matrices, cuda: str, driver: str, level: str | None
) -> None:
    assert m.driver_requirement(cuda).satisfied_by(parse_driver_version(driver)) == level


# --- GPUs --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "key", "cc"),
    [
        ("Tesla T4", "t4", "7.5"),
        ("NVIDIA GeForce RTX 2080 Ti", "rtx2080ti", "7.5"),
        ("GeForce RTX 2080 Ti", "rtx2080ti", "7.5"),
        ("GeForce GTX 1070", "gtx1070", "6.1"),  # prefix missing, not listed as an alias
        ("NVIDIA A100-SXM4-40GB", "a100-40gb", "8.0"),
        ("A100-SXM4-40GB", "a100-40gb", "8.0"),
        ("NVIDIA A100-PCIe-40GB", "a100-40gb", "8.0"),  # vLLM's spelling
        ("NVIDIA A100 80GB PCIe", "a100-80gb", "8.0"),
        ("NVIDIA H100 80GB HBM3", "h100-sxm", "9.0"),
        ("NVIDIA H100 PCIe", "h100-pcie", "9.0"),
        ("NVIDIA H200 NVL", "h200-nvl", "9.0"),
        ("  NVIDIA  L4 ", "l4", "8.9"),
        ("NVIDIA B200", "b200", "10.0"),
        ("Tesla K80", "k80", "3.7"),
        ("Tesla V100S-PCIE-32GB", "v100-32gb", "7.0"),
    ],
)
def test_a_gpu_is_found_by_its_nvml_name(m: Matrices, name: str, key: str, cc: str) -> None:
    model = m.gpu_by_name(name)
    assert model is not None
    assert (model.key, model.compute_capability_text) == (key, cc)


@pytest.mark.parametrize("name", ["NVIDIA GeForce RTX 6090", "Tesla V100-SXM2...", "", "NVIDIA"])
def test_an_unknown_gpu_name_finds_nothing(m: Matrices, name: str) -> None:
    assert m.gpu_by_name(name) is None


@pytest.mark.parametrize(
    ("device_id", "key"),
    [
        (0x2330, "h100-sxm"),
        (0x1EB8, "t4"),
        (0x2237, "a10g"),
        (0x1B81, "gtx1070"),
        (0x1BA1, None),  # the GTX 1070 Mobile (GP104M), not the desktop card
        (0x2B85, "rtx5090"),
        (0x2941, "gb200"),
        ("0x27b8", "l4"),
        ("2901", "b200"),
        (0x1EB810DE, "t4"),  # NVML's 32-bit pciDeviceId
        (0x0001, None),
        ("zz", None),
    ],
)
def test_a_gpu_is_found_by_its_pci_device_id(
    m: Matrices, device_id: int | str, key: str | None
) -> None:
    model = m.gpu_by_pci_id(device_id)
    assert (model.key if model else None) == key


def test_gpu_models_carry_memory_and_architecture(m: Matrices) -> None:
    t4 = m.gpu("t4")
    assert (t4.architecture, t4.memory_gb, t4.memory_mib) == ("Turing", 16, (15360, 15109))
    assert t4.pci_device_ids == (0x1EB8,)
    assert m.gpu("k80").last_driver_branch == 470
    assert m.gpu("b200").min_driver == Version("570")


def test_an_unknown_gpu_key_is_an_error_listing_the_keys(m: Matrices) -> None:
    with pytest.raises(MatrixKeyError) as excinfo:
        m.gpu("rtx2080")
    text = str(excinfo.value)
    assert text.startswith(
        "gpus.toml: gpu: unknown GPU key 'rtx2080'; did you mean 'rtx2080ti'? (accepted: "
    )
    assert "a100-40gb, a100-64gb, a100-80gb" in text


@pytest.mark.parametrize(
    ("name", "key"), [("a100", "a100-40gb"), ("h100", "h100-pcie"), ("h100-sxm", "h100-sxm")]
)
def test_a_gpu_family_resolves_to_its_first_model(m: Matrices, name: str, key: str) -> None:
    assert m.gpu_family(name).key == key


def test_an_unknown_gpu_family_suggests_a_near_one(m: Matrices) -> None:
    with pytest.raises(MatrixKeyError, match="did you mean 'a100'"):
        m.gpu_family("a1000")


@pytest.mark.parametrize(
    ("driver", "key", "supported", "reason"),
    [
        ("470.256.02", "k80", True, "driver 470.256.02 (R470) supports Tesla K80 (Kepler)"),
        (
            "525.60.13",
            "k80",
            False,
            "driver 525.60.13 is branch R525, but Tesla K80 (Kepler) is supported only up to "
            "R470: install an R470 driver",
        ),
        ("580.95.05", "v100-16gb", True, None),
        ("590.48.01", "p4", False, None),
        ("590.48.01", "gtx960", False, None),
        ("590.48.01", "t4", True, None),
        (
            "565.57.01",
            "b200",
            False,
            "driver 565.57.01 is branch R565, but NVIDIA B200 (Blackwell) needs R570 or newer",
        ),
        ("570.26", "b200", True, None),
    ],
)
def test_a_driver_branch_supports_a_gpu_between_its_first_and_last_branch(
    m: Matrices, driver: str, key: str, supported: bool, reason: str | None
) -> None:
    support = m.driver_supports_gpu(driver, m.gpu(key))
    assert bool(support) is supported
    if reason is not None:
        assert support.reason == reason


# --- kernel coverage (§4b) ---------------------------------------------------------------------

SECTION_4B_COLUMNS = {
    "2.0-2.2": ["2.0", "2.1", "2.2"],
    "2.3": ["2.3"],
    "2.4-2.14": [f"2.{minor}" for minor in range(4, 15)],
    "2.15": ["2.15"],
    "2.16": ["2.16"],
    "2.17-2.21": [f"2.{minor}" for minor in range(17, 22)],
}
# The §4b table, verbatim. "SASS 80*" marks SASS in only some fatbins.
SECTION_4B = {
    (3, 7): ["SASS 37", "SASS 37", "SASS 35", "none", "none", "none"],
    (5, 2): ["SASS 52", "SASS 52", "SASS 50", "SASS 50", "SASS 50", "none"],
    (6, 0): ["SASS 60"] * 6,
    (6, 1): ["SASS 61", "SASS 61", "SASS 60", "SASS 60", "SASS 60", "SASS 60"],
    (7, 0): ["SASS 70"] * 6,
    (7, 5): ["SASS 70", "SASS 70", "SASS 75", "SASS 75", "SASS 70", "SASS 70"],
    (8, 0): ["JIT 70", "JIT 70", "SASS 80*", "SASS 80*", "SASS 80", "SASS 80"],
    (8, 6): ["JIT 70", "JIT 70", "SASS 80*", "SASS 80*", "SASS 80", "SASS 80"],
    (8, 9): ["JIT 70", "JIT 70", "SASS 80*", "SASS 80*", "SASS 80", "SASS 89"],
    (9, 0): ["JIT 70", "JIT 70", "JIT 80", "JIT 80", "SASS 90*", "SASS 90*"],
    (10, 0): ["JIT 70", "JIT 70", "JIT 80", "JIT 80", "JIT 90", "JIT 90"],
}
# §4 (the wheel scan) says sm_80 SASS is in every fatbin of 2.4-2.7; §4b folds 2.4-2.14 into
# one column marked "*", which is true only from 2.8. The wheel scan wins.
FULL_SM80 = {"2.4", "2.5", "2.6", "2.7"}


def _notation(coverage: Coverage) -> str:
    if coverage.kind == "native":
        assert coverage.arch is not None
        return f"SASS {coverage.arch.removeprefix('sm_')}"
    if coverage.kind == "ptx" and coverage.partial_sass:
        return f"SASS {coverage.partial_sass.removeprefix('sm_')}*"
    if coverage.kind == "ptx":
        assert coverage.arch is not None
        return f"JIT {coverage.arch.removeprefix('compute_')}"
    return "none"


@pytest.mark.parametrize(("cc", "row"), SECTION_4B.items(), ids=lambda v: str(v))
def test_kernel_coverage_reproduces_the_section_4b_table(
    m: Matrices, cc: tuple[int, int], row: list[str]
) -> None:
    for expected, series in zip(row, SECTION_4B_COLUMNS.values()):
        for tf in series:
            want = "SASS 80" if expected == "SASS 80*" and tf in FULL_SM80 else expected
            assert _notation(m.coverage(tf, cc)) == want, f"TF {tf} on {cc}"


@pytest.mark.parametrize(
    ("tf", "cc", "kind", "arch", "detail"),
    [
        (
            "2.16.1",
            "7.5",
            "native",
            "sm_70",
            "sm_70 SASS in TF 2.16 runs natively on compute capability 7.5 (232 fatbins hold "
            "only compute_90 PTX, which cannot load on compute capability 7.5)",
        ),
        (
            "2.21.0",
            (7, 5),
            "native",
            "sm_70",
            "sm_70 SASS in TF 2.21 runs natively on compute capability 7.5",
        ),
        (
            "2.21.0",
            "9.0",
            "ptx",
            "compute_90",
            "compute capability 9.0: sm_90 SASS in TF 2.21 is in only some fatbins; the other "
            "kernels are JIT-compiled from compute_90 PTX on first use (export "
            "CUDA_CACHE_MAXSIZE=2147483648 keeps the JIT result between runs)",
        ),
        (
            "2.3.0",
            "sm_80",
            "ptx",
            "compute_70",
            "no SASS in TF 2.3 runs on compute capability 8.0; kernels are JIT-compiled from "
            "compute_70 PTX on first use, which can take many minutes (export "
            "CUDA_CACHE_MAXSIZE=2147483648 keeps the JIT result between runs)",
        ),
        (
            "2.15.0",
            "3.7",
            "none",
            None,
            "no code in TF 2.15 runs on compute capability 3.7 (it has sm_50, sm_60, sm_70, "
            "sm_75, sm_80, compute_80; SASS needs the same major, PTX an arch at or below the "
            "GPU's)",
        ),
        ("2.17.0", "5.2", "none", None, None),
        ("2.22.0", "8.9", "native", "sm_89", None),  # newer than the matrix: newest row
    ],
)
def test_kernel_coverage_names_the_arch_and_explains_itself(
    m: Matrices,
    tf: str,
    cc: str | tuple[int, int],
    kind: str,
    arch: str | None,
    detail: str | None,
) -> None:
    coverage = m.coverage(tf, cc)
    assert (coverage.kind, coverage.arch) == (kind, arch)
    if detail is not None:
        assert coverage.detail == detail


def test_coverage_for_a_tf_older_than_the_matrix_is_a_lookup_error(m: Matrices) -> None:
    with pytest.raises(MatrixKeyError, match="older than the matrix"):
        m.coverage("1.4.0", "7.0")


def test_tf_1_x_wheels_carry_sass_up_to_volta_and_ptx_an_ampere_gpu_jit_compiles(m: Matrices) -> None:
    assert m.coverage("1.12.0", "6.1").kind == "native"
    assert (m.coverage("1.15.0", "8.6").kind, m.coverage("1.15.0", "8.6").arch) == ("ptx", "compute_70")


def test_every_release_lists_its_build_info_caps_verbatim(m: Matrices) -> None:
    assert m.kernels_for("2.21.0").build_info_caps == (
        "sm_60",
        "sm_70",
        "sm_80",
        "sm_89",
        "compute_90",
    )
    assert m.kernels_for("2.1.0").build_info_caps == ()
    assert m.kernels_for("2.20.0").ptx_only_fatbins == 131


# --- tensorflow[and-cuda] ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tf", "package", "pin"),
    [
        ("2.21.0", "nvidia-nccl-cu12", ">=2.27.7,<3.0"),
        ("2.20.0", "nvidia-cudnn-cu12", ">=9.3.0.75,<10.0"),
        ("2.19.1", "nvidia-nccl-cu12", "==2.23.4"),
        ("2.18.0", "nvidia-cudnn-cu12", "==9.3.0.75"),
        ("2.17.1", "nvidia-cudnn-cu12", "==8.9.7.29"),
        ("2.15.0", "tensorrt", "==8.6.1.post1"),
        ("2.15.1", "nvidia-cudnn-cu12", "==8.9.4.25"),
        ("2.14.0", "nvidia-cudnn-cu11", "==8.7.0.84"),
        ("2.15.2", "nvidia-nccl-cu12", "==2.16.5"),  # unlisted patch: its series' newest pins
    ],
)
def test_and_cuda_pins_are_those_of_the_release(
    m: Matrices, tf: str, package: str, pin: str
) -> None:
    pins = m.and_cuda_pins(tf)
    assert pins is not None
    assert pins[package] == pin


def test_and_cuda_pins_are_absent_before_2_14_and_for_unknown_releases(m: Matrices) -> None:
    assert m.and_cuda_pins("2.13.0") is None
    assert m.and_cuda_pins("2.23.0") is None
    assert m.and_cuda_pins("junk") is None
    assert "tensorrt" not in (m.and_cuda_pins("2.15.1") or {})
    assert len(m.and_cuda_pins("2.14.1") or {}) == 11


# --- which releases a host can run -------------------------------------------------------------


def _verdicts(
    m: Matrices, driver: str | None, cc: str | None, python: str | None
) -> dict[str, str]:
    return {str(v.release.version): v.verdict for v in m.runnable_releases(driver, cc, python)}


def test_a_cpu_host_is_judged_on_python_alone(m: Matrices) -> None:
    verdicts = _verdicts(m, None, None, "3.12.1")
    assert verdicts["2.21.0"] == verdicts["2.16.1"] == "runs"
    assert verdicts["2.15.0"] == verdicts["2.0.0"] == "python-outside-range"
    assert list(verdicts) == [str(r.version) for r in m.tf_releases]


def test_a_k80_on_r470_runs_up_to_2_14_through_minor_version_compatibility(m: Matrices) -> None:
    verdicts = _verdicts(m, "470.82.01", "3.7", "3.9.18")
    assert verdicts["2.14.0"] == "runs-minor-compat"
    assert verdicts["2.11.0"] == "runs"
    assert verdicts["2.15.0"] == "driver-too-old"


def test_an_old_driver_is_told_how_far_behind_it_is(m: Matrices) -> None:
    [newest, *_] = m.runnable_releases(parse_driver_version("470.82.01"), None, None)
    assert newest.verdict == "driver-too-old"
    assert newest.detail == (
        "driver 470.82.01 is older than 525.60.13 required by CUDA 12.5.1 (minor-version "
        "compatibility floor for 12.x): branch R470, needs R525 or newer"
    )


def test_cuda_10_has_no_minor_version_compatibility(m: Matrices) -> None:
    verdicts = {v.release.series: v for v in m.runnable_releases("410.104", None, None)}
    assert verdicts["2.0"].verdict == "runs"
    assert verdicts["2.3"].verdict == "driver-too-old"
    assert "10.x has no minor-version compatibility" in verdicts["2.3"].detail


def test_a_gpu_that_needs_ptx_jit_needs_the_full_driver_not_minor_compat(m: Matrices) -> None:
    h100 = {v.release.series: v for v in m.runnable_releases("530.30.02", (9, 0), "3.11.4")}
    assert h100["2.21"].verdict == "driver-too-old"
    assert "does not cover JIT of PTX built by a newer toolkit" in h100["2.21"].detail
    assert h100["2.14"].verdict == "needs-ptx-jit"
    l4 = {v.release.series: v for v in m.runnable_releases("530.30.02", (8, 9), "3.11.4")}
    assert l4["2.21"].verdict == "runs-minor-compat"


def test_a_gpu_without_usable_code_is_too_old(m: Matrices) -> None:
    verdicts = _verdicts(m, "580.95.05", "5.2", "3.11.4")
    assert verdicts["2.17.0"] == "gpu-too-old"
    assert verdicts["2.16.1"] == "runs"


def test_a_release_blocked_twice_reports_the_lowest_layer_and_every_problem(m: Matrices) -> None:
    [newest, *_] = m.runnable_releases("470.82.01", "3.7", "3.8.10")
    assert newest.verdict == "python-outside-range"
    assert len(newest.problems) == 3
    assert not newest.runs


def test_a_fully_supported_host_runs_the_newest_release(m: Matrices) -> None:
    [newest, *_] = m.runnable_releases("580.95.05", "7.5", "3.12.3")
    assert newest.verdict == "runs" and newest.runs
    assert newest.requirement is not None and str(newest.requirement.full) == "555.42.06"
    assert newest.coverage is not None and newest.coverage.arch == "sm_70"


# --- the loader's checks -----------------------------------------------------------------------


def _copy_matrices(directory: Path) -> Path:
    root = importlib.resources.files("gpuconform.matrices")
    directory.mkdir(parents=True, exist_ok=True)
    for name in TABLE_FILES.values():
        (directory / name).write_text(root.joinpath(name).read_text(encoding="utf-8"))
    return directory


def _broken(tmp_path: Path, file: str, old: str, new: str) -> str:
    """Load a copy of the matrices with one edit; return the DataError's text."""
    directory = _copy_matrices(tmp_path / "matrices")
    path = directory / file
    text = path.read_text()
    assert old in text, f"{old!r} not in {file}"
    path.write_text(text.replace(old, new, 1))
    with pytest.raises(DataError) as excinfo:
        load_matrices(directory)
    message = str(excinfo.value)
    assert message.startswith(str(path) + ": ") or message.startswith(str(directory))
    return message.replace(str(directory) + "/", "")


@pytest.mark.parametrize(
    ("file", "old", "new", "message"),
    [
        (
            "tensorflow.toml",
            'cuda = "12.5.1"',
            'cdua = "12.5.1"',
            "tensorflow.toml: release[0].cdua: unknown key; did you mean 'cuda'? "
            "(accepted: cuda, cudnn, glibc, keras_major, notes, package, prerelease, python, version)",
        ),
        (
            "tensorflow.toml",
            "keras_major = 3",
            'keras_major = "3"',
            "tensorflow.toml: release[0].keras_major: expected an integer, got string '3'",
        ),
        (
            "tensorflow.toml",
            "keras_major = 3",
            "keras_major = 4",
            "tensorflow.toml: release[0].keras_major: 4 is out of range (accepted: 2 to 3)",
        ),
        (
            "tensorflow.toml",
            'cuda = "12.5.1"',
            'cuda = "12.x"',
            "tensorflow.toml: release[0].cuda: '12.x' is not a version "
            "(accepted: a version like '12.5.1')",
        ),
        (
            "tensorflow.toml",
            'cuda = "12.5.1"',
            'cuda = "12.' + "9" * 5000 + '"',  # too long for int(): packaging's plain ValueError
            "tensorflow.toml: release[0].cuda: '12.999",
        ),
        (
            "tensorflow.toml",
            'python = ">=3.10,<3.14"',
            'python = "3.10-3.13"',
            "tensorflow.toml: release[1].python: '3.10-3.13' is not a version specifier "
            "(accepted: a PEP 440 specifier like '>=3.9,<3.13')",
        ),
        (
            "tensorflow.toml",
            'package = "tensorflow"\n',
            "",
            "tensorflow.toml: release[0].package: required key is missing (accepted: a string)",
        ),
        (
            "tensorflow.toml",
            'package = "tensorflow-gpu"',
            'package = "tensorflow-cpu"',
            "tensorflow.toml: release[22].package: 'tensorflow-cpu' is not accepted "
            "(accepted: tensorflow, tensorflow-gpu)",
        ),
        (
            "tensorflow.toml",
            'version = "2.20.0"',
            'version = "2.21.0"',
            "tensorflow.toml: release[2].version: duplicate series '2.21', already at "
            "release[1].version",
        ),
        (
            "tensorflow.toml",
            'glibc = "2.27"',
            'glibc = "2.27+"',
            "tensorflow.toml: release[0].glibc: '2.27+' is not a version "
            "(accepted: a version like '2.17')",
        ),
        (
            "tensorflow.toml",
            "as_of = 2026-12-01",
            'as_of = "2026-12-01"',
            "tensorflow.toml: meta.as_of: expected a date like 2026-03-11, got string '2026-12-01'",
        ),
        (
            "tensorflow.toml",
            "[[release]]",
            "[[relase]]",
            "tensorflow.toml: relase: unknown key; did you mean 'release'? "
            "(accepted: meta, release)",
        ),
        (
            "tensorflow.toml",
            'cuda = "12.5.1"',
            'cuda = "12.7"',
            "tensorflow.toml: release[0].cuda: CUDA 12.7 has no row in cuda_drivers.toml",
        ),
        (
            "tensorflow.toml",
            "[meta]",
            "[meta",
            "tensorflow.toml: is not valid TOML",
        ),
        (
            "cuda_drivers.toml",
            'linux_min_driver = "555.42.06"',
            'linux_min_driver = "555.42.x"',
            "cuda_drivers.toml: toolkit[21].linux_min_driver: not a driver version: '555.42.x' "
            "(expected dot-separated numbers like '550.54.15') "
            "(accepted: a driver version like '550.54.15')",
        ),
        (
            "cuda_drivers.toml",
            'release = "update"',
            'release = "GA"',
            "cuda_drivers.toml: toolkit[1].release: 'GA' is not accepted "
            "(accepted: ga, update, rc)",
        ),
        (
            "cuda_drivers.toml",
            'version = "12.5.0"',
            'version = "12.5.1"',
            "cuda_drivers.toml: toolkit[22].version: duplicate version '12.5.1', already at "
            "toolkit[21].version",
        ),
        (
            "cuda_drivers.toml",
            "branch = 550",
            "branch = 556",
            "cuda_drivers.toml: branch: branch 556 reports CUDA 12.4, older than CUDA 12.5 of "
            "branch 555",
        ),
        (
            "cuda_drivers.toml",
            "major = 12",
            "major = 11",
            "cuda_drivers.toml: minor_compat[2].major: duplicate major 11, already at "
            "minor_compat[1].major",
        ),
        (
            "gpus.toml",
            'compute_capability = "7.5"',
            'compute_capability = "7.10"',
            "gpus.toml: gpu[4].compute_capability: not a compute capability: '7.10'",
        ),
        (
            "gpus.toml",
            "pci_device_ids = [0x1EB8]",
            "pci_device_id = [0x1EB8]",
            "gpus.toml: gpu[4].pci_device_id: unknown key; did you mean 'pci_device_ids'?",
        ),
        (
            "gpus.toml",
            "pci_device_ids = [0x1EB8]",
            "pci_device_ids = [0x2330]",
            "gpus.toml: gpu[27].pci_device_ids[0]: duplicate PCI id '0x2330', already at "
            "gpu[4].pci_device_ids[0]",
        ),
        (
            "gpus.toml",
            'names = ["Tesla T4"]',
            'names = ["NVIDIA Tesla T4", "Tesla P4"]',
            "gpus.toml: gpu[4].names[1]: duplicate GPU name 'tesla p4', already at gpu[3].names[0]",
        ),
        (
            "gpus.toml",
            'names = ["Tesla T4"]',
            'names = "Tesla T4"',
            "gpus.toml: gpu[4].names: expected a list of strings, got string",
        ),
        (
            "kernels.toml",
            'sass_partial = ["8.0"]\nptx = ["8.0"]\nptx_only_fatbins = 0',
            'sass_partal = ["8.0"]\nptx = ["8.0"]\nptx_only_fatbins = 0',
            "kernels.toml: release[3].sass_partal: unknown key; did you mean 'sass_partial'?",
        ),
        (
            "kernels.toml",
            'build_info_caps = ["sm_50", "sm_60", "sm_70", "sm_75", "compute_80"]',
            'build_info_caps = ["sm_50", "sm_60", "sm_70", "sm_86", "compute_80"]',
            "kernels.toml: release[5].build_info_caps[3]: sm_86 is not in sass or sass_partial "
            "(accepted: archs listed in sass or sass_partial)",
        ),
        (
            "kernels.toml",
            'tf = ["2.21"]',
            'tf = ["2.23"]',
            "kernels.toml: release: no row covers TensorFlow 2.21, which tensorflow.toml lists",
        ),
        (
            "and_cuda.toml",
            '"nvidia-cudnn-cu12" = "==9.3.0.75"',
            '"nvidia-cudnn-cu12" = "=9.3.0.75"',
            "and_cuda.toml: release[4].pins.nvidia-cudnn-cu12: '=9.3.0.75' is not a version "
            "specifier",
        ),
        (
            "and_cuda.toml",
            'suffix = "cu11"',
            'suffix = "cu14"',
            "and_cuda.toml: release[0].suffix: 'cu14' is not accepted (accepted: cu11, cu12, cu13)",
        ),
        (
            "and_cuda.toml",
            'tf = ["2.21.0"]',
            'tf = ["2.18.0"]',
            "and_cuda.toml: release[7].tf[0]: duplicate TensorFlow version '2.18.0', already at "
            "release[4].tf[0]",
        ),
    ],
)
def test_a_broken_matrix_is_refused_naming_the_file_the_key_and_what_is_accepted(
    tmp_path: Path, file: str, old: str, new: str, message: str
) -> None:
    assert _broken(tmp_path, file, old, new).startswith(message)


def test_a_missing_matrix_file_is_refused(tmp_path: Path) -> None:
    directory = _copy_matrices(tmp_path / "matrices")
    (directory / "kernels.toml").unlink()
    with pytest.raises(DataError, match="kernels.toml: file does not exist"):
        load_matrices(directory)
