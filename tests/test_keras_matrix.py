"""The Keras preprocessing matrix: the shipped data, the loader's refusals, lookups and comparisons."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gpuconform.expect.profiles import ApplicationExpectation
from gpuconform.expect.tables.keras_preprocessing import BEHAVIOURS
from gpuconform.expect.tables.keras_preprocessing import ENV_VAR
from gpuconform.expect.tables.keras_preprocessing import KerasMatrix
from gpuconform.expect.tables.keras_preprocessing import Observation
from gpuconform.expect.tables.keras_preprocessing import application_requires
from gpuconform.expect.tables.keras_preprocessing import differences
from gpuconform.expect.tables.keras_preprocessing import error_matches
from gpuconform.expect.tables.keras_preprocessing import load_keras_matrix
from gpuconform.expect.tables.keras_preprocessing import matrix_path
from gpuconform.expect.tables.keras_preprocessing import observations
from gpuconform.facts.errors import DataError

META = '[meta]\ntitle = "t"\nas_of = 2026-11-23\nsources = ["s"]\n\n'
ROW = (
    '[[known]]\nbehaviour = "load_img.bytesio"\npackage = "keras"\nversions = ">=3.0,<4"\n'
    'outcome = "ok"\nobserved = ["3.15.1"]\n'
)


@pytest.fixture(scope="module")
def shipped() -> KerasMatrix:
    return load_keras_matrix()


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "keras_preprocessing.toml"
    path.write_text(META + body)
    return path


def obs(**fields: object) -> Observation:
    base: dict[str, object] = {
        "behaviour": "load_img.bytesio",
        "package": "keras",
        "version": "3.15.1",
        "outcome": "ok",
    }
    return Observation.from_json({**base, **fields})


# --- the shipped data --------------------------------------------------------------------------


def test_the_shipped_matrix_has_a_row_for_every_behaviour_the_suite_runs(shipped: KerasMatrix) -> None:
    assert {row.behaviour for row in shipped.rows} == set(BEHAVIOURS)
    assert shipped.meta.title and shipped.meta.sources and shipped.meta.as_of.year >= 2026


def test_every_known_regression_names_its_issue_and_a_workaround(shipped: KerasMatrix) -> None:
    regressions = [row for row in shipped.rows if row.regression]
    assert regressions
    for row in regressions:
        assert row.workaround, row.key
        assert row.outcome == "raises", row.key


@pytest.mark.parametrize(
    ("behaviour", "package", "version", "outcome"),
    [
        ("load_img.bytesio", "keras", "2.12.0", "ok"),
        ("load_img.bytesio", "keras-preprocessing", "1.1.0", "ok"),
        ("load_img.bytesio", "keras-preprocessing", "1.1.2", "raises"),
        ("load_img.bytesio", "keras-preprocessing", "1.1.1", "raises"),
        ("load_img.filestorage", "keras", "3.15.1", "raises"),
        ("image_data_generator.from_tf_keras", "keras", "3.3.1", "raises"),
        ("image_data_generator.from_tf_keras", "keras", "3.3.2", "ok"),
        ("image_data_generator.flow_from_directory_without_scipy", "keras", "2.12.0", "raises"),
        ("image_data_generator.flow_from_directory_without_scipy", "keras", "2.13.1", "raises"),
        ("image_dataset.not_an_image", "tensorflow", "2.19.1", "raises"),
    ],
)
def test_the_shipped_rows_say_what_the_issue_records(
    shipped: KerasMatrix, behaviour: str, package: str, version: str, outcome: str
) -> None:
    row = shipped.lookup(behaviour, package, version)
    assert row is not None
    assert row.outcome == outcome


def test_the_image_format_list_in_tensorflows_error_grows_with_the_release(shipped: KerasMatrix) -> None:
    rows = [shipped.lookup("image_dataset.not_an_image", "tensorflow", v) for v in ("2.19.1", "2.20.0", "2.21.0")]
    texts = [row.error if row else None for row in rows]
    assert "WebP" not in str(texts[0]) and "WebP" in str(texts[1]) and "JPEG XL" in str(texts[2])


def test_a_version_newer_than_every_row_has_no_row(shipped: KerasMatrix) -> None:
    assert shipped.lookup("load_img.bytesio", "keras", "4.0.0") is None
    assert shipped.lookup("load_img.bytesio", "keras", "not-a-version") is None


def test_the_environment_variable_points_the_suite_at_another_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, ROW)
    monkeypatch.setenv(ENV_VAR, str(path))
    assert matrix_path() == path
    assert load_keras_matrix().meta.source == str(path)


# --- the loader's refusals ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "key", "problem"),
    [
        (ROW.replace("load_img.bytesio", "load_img.bytsio"), "known[0].behaviour", "did you mean 'load_img.bytesio'?"),
        (ROW.replace('"keras"', '"keras4"'), "known[0].package", "'keras4' is not accepted"),
        (ROW.replace('">=3.0,<4"', '"3.0+"'), "known[0].versions", "is not a version specifier"),
        (ROW.replace('outcome = "ok"', 'outcome = "raised"'), "known[0].outcome", "is not accepted"),
        (ROW.replace('outcome = "ok"', 'outcome = "raises"'), "known[0].error_type", "required when outcome"),
        (ROW + 'error = "x"\n', "known[0].error", "only allowed with outcome"),
        (ROW.replace('["3.15.1"]', '["2.15.0"]'), "known[0].observed[0]", "outside versions"),
        (ROW.replace('["3.15.1"]', "[]"), "known[0].observed", "is empty"),
        (ROW + 'workaround = "w"\n', "known[0].workaround", "only allowed with regression"),
        (
            ROW.replace('outcome = "ok"', 'outcome = "raises"\nerror_type = "T"\nerror = "e"\nregression = "r"'),
            "known[0].workaround",
            "required with regression",
        ),
        (ROW + "ranges = { mean_abs = [2.0, 1.0] }\n", "known[0].ranges.mean_abs", "is not a range"),
        (ROW + 'ranges = { mean_abs = ["a", 1.0] }\n', "known[0].ranges.mean_abs", "is not a range"),
        (ROW + "colour = 1\n", "known[0].colour", "unknown key"),
        (ROW.replace('package = "keras"\n', ""), "known[0].package", "required key is missing"),
    ],
)
def test_a_bad_row_is_a_data_error_naming_the_file_and_the_key(
    tmp_path: Path, body: str, key: str, problem: str
) -> None:
    path = write(tmp_path, body)
    with pytest.raises(DataError) as info:
        load_keras_matrix(path)
    assert info.value.source == str(path)
    assert info.value.key == key
    assert problem in str(info.value)


def test_a_requirement_must_name_an_application_key_of_the_profile(tmp_path: Path) -> None:
    body = ROW.replace(
        'outcome = "ok"',
        'outcome = "raises"\nerror_type = "T"\nerror = "e"\nregression = "r"\nworkaround = "w"\n'
        'requirement = "uploads"',
    )
    with pytest.raises(
        DataError,
        match=re.escape(
            "known[0].requirement: 'uploads' is not accepted (accepted: file_like_uploads, image_data_generator)"
        ),
    ):
        load_keras_matrix(write(tmp_path, body))


def test_a_matrix_without_rows_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="required key is missing"):
        load_keras_matrix(write(tmp_path, ""))


# --- comparing an observation with its row -----------------------------------------------------


def test_the_first_matching_row_wins(tmp_path: Path) -> None:
    second = ROW.replace('versions = ">=3.0,<4"', 'versions = ">=2.0,<4"').replace('["3.15.1"]', '["2.15.0"]')
    matrix = load_keras_matrix(write(tmp_path, ROW + "\n" + second))
    assert matrix.lookup("load_img.bytesio", "keras", "3.15.1").key == "known[0]"  # type: ignore[union-attr]
    assert matrix.lookup("load_img.bytesio", "keras", "2.15.0").key == "known[1]"  # type: ignore[union-attr]


def test_an_observation_like_its_row_has_no_differences(shipped: KerasMatrix) -> None:
    row = shipped.lookup("load_img.filestorage", "keras", "3.15.1")
    assert row is not None
    error = "path should be path-like or io.BytesIO, not <class 'werkzeug.datastructures.file_storage.FileStorage'>"
    assert (
        differences(row, obs(behaviour="load_img.filestorage", outcome="raises", error_type="TypeError", error=error))
        == []
    )


@pytest.mark.parametrize(
    ("observed", "expected"),
    [
        ({"outcome": "raises", "error_type": "TypeError", "error": "x"}, "outcome: expected 'ok', found 'raises'"),
        ({"values": {"size": [32, 24], "mode": "L", "same_pixels": True}}, "mode: expected 'RGB', found 'L'"),
        ({"values": {}}, "size: expected [32, 24], found None"),
    ],
)
def test_a_different_outcome_or_value_is_named(
    shipped: KerasMatrix, observed: dict[str, object], expected: str
) -> None:
    row = shipped.lookup("load_img.bytesio", "keras", "3.15.1")
    assert row is not None
    assert expected in differences(row, obs(**observed))


def test_a_measure_outside_its_range_or_missing_is_a_difference(shipped: KerasMatrix) -> None:
    row = shipped.lookup("resize_skew.tf_antialias_vs_pil_bilinear", "tensorflow", "2.21.0")
    assert row is not None
    skew = {"behaviour": "resize_skew.tf_antialias_vs_pil_bilinear", "package": "tensorflow", "version": "2.21.0"}
    assert differences(row, obs(**skew, measures={"mean_abs": 0.44})) == []
    assert differences(row, obs(**skew, measures={"mean_abs": 21.7})) == [
        "mean_abs: expected within [0, 1], found 21.7"
    ]
    assert differences(row, obs(**skew)) == ["mean_abs: expected within [0, 1], found None"]


def test_another_error_type_or_text_is_a_difference(shipped: KerasMatrix) -> None:
    row = shipped.lookup("truncated_jpeg.load_img", "keras", "3.15.1")
    assert row is not None
    base = {"behaviour": "truncated_jpeg.load_img", "outcome": "raises", "values": {"stage": "array"}}
    assert (
        differences(row, obs(**base, error_type="OSError", error="image file is truncated (89 bytes not processed)"))
        == []
    )
    assert differences(row, obs(**base, error_type="SyntaxError", error="broken PNG file")) == [
        "error type: expected OSError, found SyntaxError"
    ]
    assert (
        "error: expected" in differences(row, obs(**base, error_type="OSError", error="cannot identify image file"))[0]
    )


def test_the_pin_of_a_row_is_its_newest_observed_version(shipped: KerasMatrix) -> None:
    row = shipped.lookup("load_img.bytesio", "keras-preprocessing", "1.1.2")
    assert row is not None and row.pin == "keras-preprocessing==1.1.2"


def test_a_profile_requirement_turns_only_its_own_regressions_into_failures(shipped: KerasMatrix) -> None:
    upload = shipped.lookup("load_img.filestorage", "keras", "3.15.1")
    generator = shipped.lookup("image_data_generator.from_package", "keras", "3.15.1")
    assert upload is not None and generator is not None
    uploads = ApplicationExpectation(file_like_uploads=True)
    assert application_requires(uploads, upload)
    assert not application_requires(uploads, generator)
    assert not application_requires(ApplicationExpectation(), upload)


def test_observations_are_keyed_by_loader_and_behaviour_and_skip_private_records() -> None:
    answer = [
        {
            "behaviour": "load_img.bytesio",
            "package": "keras",
            "version": "3.15.1",
            "outcome": "ok",
            "loader": "tf.keras",
        },
        {
            "behaviour": "load_img.bytesio",
            "package": "",
            "version": "",
            "outcome": "not-run",
            "loader": "keras_preprocessing",
            "reason": "r",
        },
        {"behaviour": "_restored", "outcome": "ok"},
    ]
    keyed = observations(answer)
    assert set(keyed) == {("tf.keras", "load_img.bytesio"), ("keras_preprocessing", "load_img.bytesio")}
    assert keyed[("keras_preprocessing", "load_img.bytesio")].reason == "r"


# --- error patterns ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "text", "matches"),
    [
        ("image file is truncated (* bytes not processed)", "image file is truncated (89 bytes not processed)", True),
        ("*[Op:DecodeImage]*", "{{function_node x}} bad [Op:DecodeImage] name: ", True),
        ("*Invalid PNG data, size *", "{{function_node x}} Invalid PNG data, size 465\n\t [[{{node}}]]", True),
        ("image file is truncated", "image file is truncated (89 bytes not processed)", False),
        ("[abc]", "a", False),
    ],
)
def test_an_error_pattern_treats_only_the_star_as_special(pattern: str, text: str, matches: bool) -> None:
    assert error_matches(pattern, text) is matches


@given(st.text(alphabet=st.characters(exclude_characters="*"), max_size=40), st.text(max_size=40))
def test_a_pattern_without_a_star_matches_only_its_own_text(pattern: str, text: str) -> None:
    assert error_matches(pattern, text) is (pattern == text)
    assert error_matches(pattern, pattern)
    assert error_matches("*", text)
