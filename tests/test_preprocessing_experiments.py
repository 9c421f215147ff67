"""The preprocessing experiments in a real TensorFlow child: what they observe, and what they leave behind.

They write generated images only below the temporary directory (TMPDIR here) and
remove them, and they put PIL's process-wide LOAD_TRUNCATED_IMAGES back to what
it was, True included (set by a sitecustomize.py before the experiments run).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gpuconform.expect.tables.keras_preprocessing import BEHAVIOURS
from gpuconform.expect.tables.keras_preprocessing import EXPERIMENTS
from gpuconform.expect.tables.keras_preprocessing import Observation
from gpuconform.frameworks.children import Batch
from gpuconform.frameworks.children import run_batch
from gpuconform.frameworks.tensorflow.framework import FRAMEWORK
from tests.test_preprocessing_suite import sitecustomize

MODULE = "preprocessing"
TRUNCATED_ON = "from PIL import ImageFile\nImageFile.LOAD_TRUNCATED_IMAGES = True\n"


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tmpdir")


@pytest.fixture(scope="module")
def batch(scratch: Path, tmp_path_factory: pytest.TempPathFactory) -> Batch:
    site = sitecustomize(tmp_path_factory.mktemp("site"), TRUNCATED_ON)
    return run_batch(FRAMEWORK, MODULE, EXPERIMENTS, env={"TMPDIR": str(scratch), **site}, timeout=300)


def records(batch: Batch) -> list[dict[str, object]]:
    out = []
    for name in EXPERIMENTS:
        result = batch[name]
        assert result.ok, f"{name}: {result.error_type}: {result.error} {result.crash}"
        out += result.value
    return out


def test_every_experiment_answers_and_every_behaviour_is_observed(batch: Batch) -> None:
    assert batch.import_error is None
    seen = {str(r["behaviour"]) for r in records(batch)}
    scipy_split = {"image_data_generator.flow_from_directory", "image_data_generator.flow_from_directory_without_scipy"}
    keras_children = {b for b in BEHAVIOURS if b.startswith("layers.")}  # tests/test_preprocessing_backends.py
    assert set(BEHAVIOURS) - scipy_split - keras_children <= seen
    assert len(seen & scipy_split) == 1  # one or the other, by whether SciPy is installed


def test_every_observation_has_the_shape_the_suite_reads(batch: Batch) -> None:
    for record in records(batch):
        if str(record["behaviour"]).startswith("_"):
            continue
        obs = Observation.from_json(record)
        assert obs.outcome in ("ok", "raises", "not-run"), record
        if obs.outcome != "not-run":
            assert obs.package and obs.version and obs.call, record
        if obs.outcome == "raises":
            assert obs.error_type and obs.error is not None, record


def test_load_truncated_images_is_put_back_to_what_it_was(batch: Batch) -> None:
    (restored,) = [r for r in records(batch) if r["behaviour"] == "_restored"]
    assert restored["values"] == {"load_truncated_images": True}


def test_the_experiments_leave_nothing_in_the_temporary_directory(batch: Batch, scratch: Path) -> None:
    assert batch["image_dataset"].ok
    assert list(scratch.iterdir()) == []


def test_the_truncated_files_fail_in_pil_only_when_the_pixels_are_read(batch: Batch) -> None:
    by_behaviour = {r["behaviour"]: r for r in records(batch)}
    lazy = by_behaviour["truncated_jpeg.load_img"]
    assert lazy["outcome"] == "raises" and lazy["values"] == {"stage": "array"}
    assert by_behaviour["truncated_jpeg.load_truncated_images"]["outcome"] == "ok"
