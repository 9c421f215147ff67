"""An API the installed release does not have yet: the `[[introduced]]` rows of keras_preprocessing.toml.

A host with TensorFlow older than the release that first shipped an API an experiment calls fails
that experiment's checks with the release to install, from the package version alone (no child
runs, so a replayed host without recorded children is judged too). The suite runs for real, in a
subprocess, over the Facts a described host expands to.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from packaging.version import Version

from gpuconform.expect.loading import load_matrices
from gpuconform.expect.tables.keras_preprocessing import KerasMatrix
from gpuconform.expect.tables.keras_preprocessing import load_keras_matrix
from gpuconform.facts.errors import DataError
from gpuconform.facts.model import PackageInfo
from gpuconform.facts.model import PackagesFacts
from gpuconform.probes.described import expand
from gpuconform.probes.described import load_description
from gpuconform.probes.host import facts_json
from tests.test_preprocessing_suite import Run
from tests.test_preprocessing_suite import run_suites

IMAGE_DATASET_CHECKS = [
    "preprocessing::image_dataset_from_directory_names_classes_in_sorted_order",
    "preprocessing::image_dataset_from_directory_labels_files_by_class",
    "preprocessing::image_dataset_from_directory_keeps_file_order_without_shuffle",
    "preprocessing::image_dataset_from_directory_yields_float32_batches_of_the_requested_size",
    "preprocessing::image_dataset_from_directory_on_a_corrupt_file_fails_as_the_matrix_says[not_an_image]",
    "preprocessing::image_dataset_from_directory_on_a_corrupt_file_fails_as_the_matrix_says[truncated_jpeg]",
]


@pytest.fixture(scope="module")
def shipped() -> KerasMatrix:
    return load_keras_matrix()


def tensorflow(distribution: str, version: str) -> PackagesFacts:
    return PackagesFacts(tensorflow=PackageInfo(distribution, version))


@pytest.mark.parametrize(
    ("version", "lacks"),
    [
        ("2.1.0", True),
        ("2.2.0", True),
        ("2.2.0rc4", True),
        ("2.3.0.dev20200515", False),  # a nightly of the release that has it may have it
        ("2.3.0", False),
        ("2.21.0", False),
    ],
)
def test_tensorflow_before_2_3_lacks_image_dataset_from_directory(
    shipped: KerasMatrix, version: str, lacks: bool
) -> None:
    lacking = shipped.lacking("image_dataset", tensorflow("tf-nightly", version))
    assert (lacking is not None) is lacks
    if lacking is not None:
        assert lacking.row.since == Version("2.3.0")
        assert lacking.installed == PackageInfo("tf-nightly", version)
        assert lacking.row.error == (
            "AttributeError: module 'tensorflow.keras.preprocessing' has no attribute 'image_dataset_from_directory'"
        )


def test_other_experiments_and_hosts_without_tensorflow_lack_nothing(shipped: KerasMatrix) -> None:
    assert shipped.lacking("load_img_inputs", tensorflow("tensorflow", "2.2.0")) is None
    assert shipped.lacking("image_dataset", PackagesFacts()) is None


META = '[meta]\ntitle = "t"\nas_of = 2026-11-23\nsources = ["s"]\n\n'
ROW = (
    '[[known]]\nbehaviour = "load_img.bytesio"\npackage = "keras"\nversions = ">=3.0,<4"\n'
    'outcome = "ok"\nobserved = ["3.15.1"]\n\n'
)
INTRODUCED = (
    '[[introduced]]\nexperiment = "image_dataset"\napi = "a.b"\npackage = "tensorflow"\nsince = "2.3.0"\n'
    'error = "AttributeError: ..."\nsource = "s"\n'
)


@pytest.mark.parametrize(
    ("old", "new", "key", "problem"),
    [
        ('experiment = "image_dataset"', 'experiment = "image_datasets"', "introduced[0].experiment", "image_dataset"),
        ('package = "tensorflow"', 'package = "tensorfow"', "introduced[0].package", "tensorflow"),
        ('since = "2.3.0"', 'since = "two"', "introduced[0].since", "2.3.0"),
        ('source = "s"\n', "", "introduced[0].source", "source"),
    ],
)
def test_a_bad_introduced_row_is_a_data_error_naming_the_key(
    tmp_path: Path, old: str, new: str, key: str, problem: str
) -> None:
    path = tmp_path / "keras_preprocessing.toml"
    path.write_text(META + ROW + INTRODUCED.replace(old, new))
    with pytest.raises(DataError) as info:
        load_keras_matrix(path)
    assert (info.value.source, info.value.key) == (str(path), key)
    assert problem in str(info.value)


def replayed(tmp_path: Path, version: str) -> Run:
    """The preprocessing layer over a described CPU host with this TensorFlow, as facts (no child recorded)."""
    spec = tmp_path / "host.toml"
    spec.write_text(f'[host]\npython = "3.7"\n\n[tensorflow]\ndistribution = "tensorflow"\nversion = "{version}"\n')
    facts = expand(load_description(spec), load_matrices(), collected_at="2026-12-01T00:00:00+00:00")
    (tmp_path / "facts.json").write_text(facts_json(facts))
    args = ("--host-facts", str(tmp_path / "facts.json"), "--host-profile", "cpu", "--host-report-formats", "result")
    return run_suites(tmp_path / "run", "preprocessing", *args)


@pytest.fixture(scope="module")
def tf22(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return replayed(tmp_path_factory.mktemp("tf22"), "2.2.0")


@pytest.mark.parametrize("check_id", IMAGE_DATASET_CHECKS)
def test_each_image_dataset_check_fails_on_tensorflow_2_2_with_the_release_that_has_it(
    tf22: Run, check_id: str
) -> None:
    check = tf22.check(check_id)
    assert check["outcome"] == "failed", check
    message = check["message"]
    assert "tf.keras.preprocessing.image_dataset_from_directory does not exist in tensorflow 2.2.0" in message
    assert "it first shipped in tensorflow 2.3.0" in message
    assert "has no attribute 'image_dataset_from_directory'" in message
    assert check["remediation"].startswith("pip install --upgrade 'tensorflow>=2.3.0'")
    assert "pip install tf-nightly" in check["remediation"]


def test_the_host_fails_at_the_first_image_dataset_check_and_the_other_checks_wait_for_their_child(
    tf22: Run,
) -> None:
    assert (tf22.verdict["status"], tf22.verdict["layer"]) == ("FAIL", "preprocessing")
    assert tf22.verdict["check_id"] == IMAGE_DATASET_CHECKS[0]
    other = tf22.check("preprocessing::image_data_generator_imports_from_tf_keras")
    assert other["outcome"] != "failed", other


def test_tensorflow_2_3_is_not_failed_for_image_dataset_from_directory(tmp_path: Path) -> None:
    run = replayed(tmp_path, "2.3.0")
    for check_id in IMAGE_DATASET_CHECKS:
        assert run.check(check_id)["outcome"] != "failed", run.check(check_id)
    assert run.verdict["status"] != "FAIL", run.output[-2000:]
