"""The preprocessing layer end to end: real pytest runs of suites/ with real TensorFlow, Keras and Pillow.

Each check is made to fail by changing what it compares with, never by mocking
what it observes: the run reads a modified copy of the matrix
(GPUCONFORM_KERAS_MATRIX) in which every row predicts the opposite outcome, so
every behaviour "changed" and each check must say so with "update the matrix or
pin". A profile with an `[application]` table turns the known regressions into
failures with their workaround; a `sitecustomize.py` on PYTHONPATH that hides
werkzeug shows the upload case becoming not applicable. One run per situation
(module-scoped), many assertions on it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gpuconform.expect.tables.keras_preprocessing import ENV_VAR
from gpuconform.expect.tables.keras_preprocessing import matrix_path
from gpuconform.facts.tomlio import read_toml
from gpuconform.plugin.keys import suites_dir

#: The preprocessing checks, by id, that this machine's run executes (keras-preprocessing
#: and werkzeug are in the dev extra, SciPy is not).
#: The checks of Keras 3 under each backend (the rest of the layer is the TensorFlow child's, IDS).
KERAS_3_BACKENDS = (
    "keras_runs_on",
    "keras_imports_with",
    "keras_load_img",
    "keras_load_truncated",
    "keras_preprocessing_layer",
    "keras_text",
)
IDS = [
    *(
        f"load_img_reads_an_image_from[{k}]"
        for k in ("str_path", "pathlib_path", "bytesio", "binary_file", "filestorage")
    ),
    *(
        f"keras_preprocessing_load_img_reads_an_image_from[{k}]"
        for k in ("str_path", "pathlib_path", "bytesio", "binary_file", "filestorage")
    ),
    *(f"load_img_resizes_like_pil_with[{i}]" for i in ("nearest", "bilinear", "bicubic", "lanczos", "box", "hamming")),
    "load_img_uses_its_documented_default_interpolation",
    "load_img_refuses_an_unknown_interpolation",
    *(f"load_img_on_a_truncated_image_fails_where_the_matrix_says[{f}]" for f in ("jpeg", "png")),
    *(f"load_img_with_target_size_on_a_truncated_image_fails_where_the_matrix_says[{f}]" for f in ("jpeg", "png")),
    *(f"load_truncated_images_lets_pil_read_a_truncated_image[{f}]" for f in ("jpeg", "png")),
    *(f"tensorflow_decodes_a_truncated_image_as_the_matrix_says[{f}]" for f in ("jpeg", "png")),
    *(
        f"resize_skew_stays_within_the_matrix_thresholds[{p}]"
        for p in ("tf_bilinear_vs_pil_bilinear", "tf_antialias_vs_pil_bilinear", "load_img_default_vs_tf_bilinear")
    ),
    "image_dataset_from_directory_names_classes_in_sorted_order",
    "image_dataset_from_directory_labels_files_by_class",
    "image_dataset_from_directory_keeps_file_order_without_shuffle",
    "image_dataset_from_directory_yields_float32_batches_of_the_requested_size",
    *(
        f"image_dataset_from_directory_on_a_corrupt_file_fails_as_the_matrix_says[{c}]"
        for c in ("not_an_image", "truncated_jpeg")
    ),
    "image_data_generator_imports_from_tf_keras",
    "image_data_generator_imports_from_the_keras_package",
    "keras_preprocessing_image_data_generator_imports",
    "flow_from_directory_reads_the_tree",
]


@dataclass(frozen=True)
class Run:
    """One pytest run of the suites: exit status, terminal output, and result.json's checks by id."""

    ret: int
    output: str
    checks: Mapping[str, Mapping[str, Any]]
    verdict: Mapping[str, Any]
    reports: Path

    def check(self, check_id: str) -> Mapping[str, Any]:
        assert check_id in self.checks, f"{check_id} did not run:\n{self.output[-3000:]}"
        return self.checks[check_id]


def run_suites(directory: Path, marker: str, *args: str, env: Mapping[str, str] | None = None) -> Run:
    """Run the conformance suites of `marker` as a user would, in a fresh process, reports in `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    reports = directory / "reports"
    base = {k: v for k, v in os.environ.items() if not k.startswith("GPUCONFORM_")}
    command = [sys.executable, "-m", "pytest", str(suites_dir()), "-m", marker, "-p", "no:cacheprovider", "-rxXs"]
    command += ["--host-reports", str(reports), *args]
    proc = subprocess.run(
        command, cwd=directory, env={**base, **(env or {})}, capture_output=True, text=True, timeout=600, check=False
    )
    result_file = reports / "result.json"
    result = json.loads(result_file.read_text()) if result_file.is_file() else {}
    checks = {c["id"]: c for c in result.get("checks", [])}
    return Run(proc.returncode, proc.stdout + proc.stderr, checks, result.get("verdict", {}), reports)


def sitecustomize(directory: Path, body: str) -> dict[str, str]:
    """A PYTHONPATH entry whose sitecustomize.py runs `body` at the start of every process of the run."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "sitecustomize.py").write_text(body)
    return {"PYTHONPATH": os.pathsep.join([str(directory), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}


# --- a modified matrix, written back as TOML ---------------------------------------------------


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a TOML basic string is JSON's string syntax for these texts
    if isinstance(value, list):
        return "[" + ", ".join(map(toml_value, value)) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + " }"
    return json.dumps(str(value))  # the as_of date


def write_matrix(path: Path, data: Mapping[str, Any]) -> Path:
    meta = data["meta"]
    lines = ["[meta]", *(f"{k} = {meta[k] if k == 'as_of' else toml_value(meta[k])}" for k in meta)]
    for row in data["known"]:
        lines += ["", "[[known]]", *(f"{k} = {toml_value(v)}" for k, v in row.items())]
    path.write_text("\n".join(lines) + "\n")
    return path


def opposite(row: dict[str, Any]) -> dict[str, Any]:
    """The row predicting the other outcome: what works now raises, what raised now works."""
    kept = {
        k: v
        for k, v in row.items()
        if k not in ("outcome", "error_type", "error", "regression", "workaround", "requirement")
    }
    if row["outcome"] == "ok":
        return {**kept, "outcome": "raises", "error_type": "NeverRaised", "error": "this behaviour used to fail"}
    return {**kept, "outcome": "ok"}


def shipped_matrix() -> dict[str, Any]:
    return read_toml(matrix_path())


# --- runs --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def conforming(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return run_suites(tmp_path_factory.mktemp("conforming"), "preprocessing", "--host-profile", "cpu")


@pytest.fixture(scope="module")
def all_changed(tmp_path_factory: pytest.TempPathFactory) -> Run:
    directory = tmp_path_factory.mktemp("changed")
    data = shipped_matrix()
    data["known"] = [opposite(row) for row in data["known"]]
    matrix = write_matrix(directory / "keras_preprocessing.toml", data)
    return run_suites(directory, "preprocessing", "--host-profile", "cpu", env={ENV_VAR: str(matrix)})


APPLICATION_PROFILE = """
[profile]
name = "uploads"
description = "a Flask service that takes image uploads and trains with ImageDataGenerator"
[gpus]
count = 0
[application]
file_like_uploads = true
image_data_generator = true
"""
#: werkzeug made unimportable in every process of the run (a missing package, as pip would leave it).
NO_WERKZEUG = "import sys\nsys.modules['werkzeug'] = None\n"


@pytest.fixture(scope="module")
def application(tmp_path_factory: pytest.TempPathFactory) -> Run:
    directory = tmp_path_factory.mktemp("application")
    profile = directory / "uploads.toml"
    profile.write_text(APPLICATION_PROFILE)
    data = shipped_matrix()
    data["known"] = [row for row in data["known"] if row["behaviour"] != "resize_skew.tf_antialias_vs_pil_bilinear"]
    matrix = write_matrix(directory / "keras_preprocessing.toml", data)
    env = {ENV_VAR: str(matrix), **sitecustomize(directory / "site", NO_WERKZEUG)}
    return run_suites(directory, "preprocessing", "--host-profile", str(profile), env=env)


# --- as shipped, on this machine ---------------------------------------------------------------


def test_the_layer_passes_on_this_machine_with_every_behaviour_run(conforming: Run) -> None:
    assert conforming.ret == 0, conforming.output[-4000:]
    assert conforming.output.rstrip().splitlines()[-1].startswith("host verdict: PASS (profile cpu")
    ran = {i.removeprefix("preprocessing::"): c["outcome"] for i, c in conforming.checks.items()}
    # Keras 3 under each backend: tests/test_preprocessing_backends.py (not applicable where a backend is absent).
    tf_child = {i: o for i, o in ran.items() if not i.startswith(KERAS_3_BACKENDS)}
    assert set(tf_child) == set(IDS) | {"pillow_is_installed_for_image_loading"}
    assert {o for o in tf_child.values()} <= {"passed", "xfailed"}, ran
    assert {o for o in ran.values()} <= {"passed", "xfailed", "not-applicable"}, ran


@pytest.mark.parametrize(
    ("check_id", "reference"),
    [
        ("load_img_reads_an_image_from[binary_file]", "keras-team/keras-preprocessing#293"),
        ("load_img_reads_an_image_from[filestorage]", "workaround: load_img(io.BytesIO(request.files['image'].read())"),
        ("keras_preprocessing_load_img_reads_an_image_from[bytesio]", "pip install 'keras-preprocessing==1.1.0'"),
        ("keras_preprocessing_load_img_reads_an_image_from[filestorage]", "never fixed in a release"),
        ("image_data_generator_imports_from_the_keras_package", "keras-team/keras#19365"),
    ],
)
def test_a_known_regression_is_an_expected_failure_naming_the_issue_and_the_workaround(
    conforming: Run, check_id: str, reference: str
) -> None:
    assert conforming.check(f"preprocessing::{check_id}")["outcome"] == "xfailed"
    line = next(x for x in conforming.output.splitlines() if x.startswith("XFAIL") and f"::test_{check_id} " in x)
    assert "known regression with" in line and reference in line


# --- every check fails when its behaviour differs from the matrix -------------------------------


@pytest.mark.parametrize("check_id", IDS)
def test_each_check_fails_when_its_behaviour_differs_from_the_matrix(all_changed: Run, check_id: str) -> None:
    check = all_changed.check(f"preprocessing::{check_id}")
    assert check["outcome"] == "failed", check
    assert "no longer behaves as known[" in check["message"]
    assert "update the matrix or pin" in check["remediation"]
    assert "pip install '" in check["remediation"]


def test_a_changed_behaviour_fails_the_host_at_the_preprocessing_layer(all_changed: Run) -> None:
    assert all_changed.ret == 1
    assert all_changed.verdict["status"] == "FAIL" and all_changed.verdict["layer"] == "preprocessing"


def test_a_failure_says_what_the_row_expected_and_what_happened(all_changed: Run) -> None:
    message = all_changed.check("preprocessing::load_img_reads_an_image_from[bytesio]")["message"]
    assert "load_img from an io.BytesIO changed with keras " in message
    assert "expected: raises NeverRaised: this behaviour used to fail" in message
    assert "found:    worked; size = [32, 24]" in message
    assert "(from keras.utils.load_img(io.BytesIO(data), target_size=(24, 32)) in a TensorFlow child)" in message


# --- the application's requirements, a missing werkzeug, a missing row -------------------------


@pytest.mark.parametrize(
    ("check_id", "fix"),
    [
        ("load_img_reads_an_image_from[binary_file]", "load_img(io.BytesIO(f.read()), target_size=...)"),
        ("keras_preprocessing_load_img_reads_an_image_from[bytesio]", "pip install 'keras-preprocessing==1.1.0'"),
        ("image_data_generator_imports_from_the_keras_package", "from tensorflow.keras.preprocessing.image import"),
    ],
)
def test_a_profile_that_needs_a_regressed_behaviour_turns_it_into_a_failure_with_the_workaround(
    application: Run, check_id: str, fix: str
) -> None:
    check = application.check(f"preprocessing::{check_id}")
    assert check["outcome"] == "failed"
    assert "and profile 'uploads' says the application relies on it" in check["message"]
    assert "[application] " in check["message"] and "= true in " in check["message"]
    assert fix in check["remediation"]


@pytest.mark.parametrize(
    "check_id",
    ["load_img_reads_an_image_from[filestorage]", "keras_preprocessing_load_img_reads_an_image_from[filestorage]"],
)
def test_without_werkzeug_the_upload_case_is_not_applicable(application: Run, check_id: str) -> None:
    check = application.check(f"preprocessing::{check_id}")
    assert check["outcome"] == "not-applicable"
    assert check["reason"] == "not applicable: werkzeug is not installed; the upload case needs it"


def test_a_version_the_matrix_has_no_row_for_is_a_warning_not_a_failure(application: Run) -> None:
    check = application.check(
        "preprocessing::resize_skew_stays_within_the_matrix_thresholds[tf_antialias_vs_pil_bilinear]"
    )
    assert check["outcome"] == "passed"
    (warning,) = check["warnings"]
    assert (
        "has no row for tf.image.resize(bilinear, antialias=True) against PIL BILINEAR with tensorflow"
        in warning["summary"]
    )


def test_a_broken_matrix_is_a_usage_error_naming_the_file_and_the_key(tmp_path: Path) -> None:
    matrix = tmp_path / "keras_preprocessing.toml"
    matrix.write_text(
        matrix_path().read_text().replace('behaviour = "load_img.bytesio"', 'behaviour = "load_img.bytesoi"', 1)
    )
    run = run_suites(tmp_path, "preprocessing", "--host-profile", "cpu", env={ENV_VAR: str(matrix)})
    assert run.ret == 4
    assert (
        f"{matrix}: known[2].behaviour: unknown behaviour 'load_img.bytesoi'; did you mean 'load_img.bytesio'?"
        in run.output
    )
