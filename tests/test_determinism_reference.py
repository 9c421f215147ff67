"""The determinism layer's reference model: the shipped files, their validation, tolerances, and the generator.

The generator test runs tools/make_reference_model.py for real (TensorFlow on the CPU)
into a temporary directory and expects the committed weights, inputs and goldens exactly.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gpuconform.facts.errors import DataError
from gpuconform.frameworks.tensorflow.reference_model import CPU
from gpuconform.frameworks.tensorflow.reference_model import ENV_VAR
from gpuconform.frameworks.tensorflow.reference_model import GPU
from gpuconform.frameworks.tensorflow.reference_model import GPU_TF32
from gpuconform.frameworks.tensorflow.reference_model import MANIFEST
from gpuconform.frameworks.tensorflow.reference_model import gpu_tolerance
from gpuconform.frameworks.tensorflow.reference_model import load_reference
from gpuconform.frameworks.tensorflow.reference_model import max_abs_diff
from gpuconform.frameworks.tensorflow.reference_model import mismatch
from gpuconform.frameworks.tensorflow.reference_model import reference_dir

ROOT = Path(__file__).resolve().parents[1]
TOOL = ROOT / "tools" / "make_reference_model.py"


def copy_reference(target: Path, **changes: object) -> Path:
    """A copy of the shipped reference model in `target`, its manifest updated with `changes`."""
    shutil.copytree(reference_dir(), target, ignore=shutil.ignore_patterns("__init__.py", "__pycache__"))
    path = target / MANIFEST
    manifest = json.loads(path.read_text())
    manifest.update(changes)
    path.write_text(json.dumps(manifest))
    return target


# --- the shipped files -------------------------------------------------------------------------


def test_the_shipped_reference_model_is_small_and_recorded_on_the_cpu_without_onednn() -> None:
    model = load_reference()
    assert 1000 <= model.parameters <= 5000
    assert (reference_dir() / "reference_model.bin").stat().st_size < 16 * 1024
    assert model.recorded_with.onednn_opts == "0" and model.recorded_with.device == "/CPU:0"
    assert len(model.golden) == 8 and all(len(row) == 4 for row in model.golden)
    for row in model.golden:  # softmax outputs
        assert all(0.0 < v < 1.0 for v in row) and math.isclose(sum(row), 1.0, abs_tol=1e-5)


def test_the_environment_variable_points_at_another_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    copy = copy_reference(tmp_path / "reference")
    monkeypatch.setenv(ENV_VAR, str(copy))
    assert reference_dir() == copy
    assert load_reference().golden == load_reference(ROOT / "plugins" / "gpuconform" / "data").golden


@pytest.mark.parametrize(
    ("changes", "key", "problem"),
    [
        ({"format": 2}, "format", "is not a format this gpuconform reads"),
        ({"golden": []}, "golden", "is empty or ragged"),
        ({"golden": [[0.5, 0.5], [1.0]]}, "golden", "is empty or ragged"),
        ({"golden": [[0.5, float("nan")]]}, "golden[0][1]", "not finite"),
        ({"seeed": 1}, "seeed", "unknown key; did you mean 'seed'?"),
        ({"parameters": "2032"}, "parameters", "expected integer, got string"),
    ],
)
def test_a_bad_manifest_is_a_data_error_naming_the_key(
    tmp_path: Path, changes: dict[str, object], key: str, problem: str
) -> None:
    directory = copy_reference(tmp_path / "reference", **changes)
    with pytest.raises(DataError) as info:
        load_reference(directory)
    assert info.value.key == key and problem in str(info.value)
    assert info.value.source == str(directory / MANIFEST)


# --- tolerances and comparisons ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tf32", "cc", "expected"),
    [
        (True, (8, 0), GPU_TF32),
        (True, (9, 0), GPU_TF32),
        (True, (7, 5), GPU),
        (False, (8, 0), GPU),
        (False, (7, 0), GPU),
    ],
)
def test_tf32_loosens_the_gpu_tolerance_only_where_it_takes_effect(
    tf32: bool, cc: tuple[int, int], expected: object
) -> None:
    assert gpu_tolerance(tf32, cc) is expected


def test_every_tolerance_says_why_in_words() -> None:
    for tol in (CPU, GPU, GPU_TF32):
        assert tol.why and str(tol).startswith("rtol ")
    assert CPU.rtol < GPU.rtol < GPU_TF32.rtol


def test_close_outputs_are_no_mismatch_and_the_worst_value_is_named() -> None:
    golden = [[0.25, 0.75], [0.5, 0.5]]
    assert mismatch([[0.25 + 1e-7, 0.75], [0.5, 0.5]], golden, CPU) is None
    m = mismatch([[0.25, 0.75], [0.5, 0.51]], golden, CPU)
    assert m is not None
    assert (m.outside, m.total) == (1, 4)
    assert "output[1][1] = 0.51, expected 0.5" in str(m)


def test_nan_outputs_and_a_wrong_shape_never_pass() -> None:
    golden = [[0.25, 0.75]]
    m = mismatch([[math.nan, 0.75]], golden, GPU_TF32)
    assert m is not None and m.max_abs == math.inf
    assert mismatch([[0.25]], golden, GPU_TF32) is not None
    assert max_abs_diff([[math.nan, 0.75]], golden) == math.inf


@given(
    st.lists(st.lists(st.floats(0, 1), min_size=4, max_size=4), min_size=1, max_size=8),
    st.floats(-1e-7, 1e-7),
)
def test_a_shift_below_the_cpu_tolerance_is_never_a_mismatch(golden: list[list[float]], shift: float) -> None:
    assert mismatch([[v + shift for v in row] for row in golden], golden, CPU) is None
    assert max_abs_diff(golden, golden) == 0.0


# --- the generator ------------------------------------------------------------------------------


def test_the_generator_rewrites_the_committed_weights_and_goldens(tmp_path: Path) -> None:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop(ENV_VAR, None)
    proc = subprocess.run(
        [sys.executable, str(TOOL), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "2032 parameters, 8 golden rows" in proc.stdout
    assert (tmp_path / "reference_model.bin").read_bytes() == (reference_dir() / "reference_model.bin").read_bytes()
    made, shipped = (json.loads((d / MANIFEST).read_text()) for d in (tmp_path, reference_dir()))
    # recorded_with names this interpreter's versions, and the goldens are this CPU's float32
    # arithmetic (oneDNN picks kernels by instruction set: an AMD EPYC and an Intel Xeon differ in the
    # last bits): they must agree within the CPU tolerance the determinism layer itself applies.
    # Everything else, the weights above included, must be equal.
    assert {k: v for k, v in made.items() if k not in ("recorded_with", "golden")} == {
        k: v for k, v in shipped.items() if k not in ("recorded_with", "golden")
    }
    assert mismatch(made["golden"], shipped["golden"], CPU) is None
