"""The determinism layer end to end: real pytest runs of suites/ with the reference model in real TF children.

Seams, none of them inside the product code:

- GPUCONFORM_REFERENCE_MODEL points at a copy of the reference model whose goldens
  or manifest were edited (the golden check, a mismatched .bin, a usage error);
- a `sitecustomize.py` on PYTHONPATH patches `gpuconform.frameworks.tensorflow.experiments.determinism`
  in the TensorFlow children: `predict` adds fresh noise to every inference (so
  nothing repeats), lets +Inf through as finite and swallows shape errors;
  `enable_determinism` does nothing; and, since this machine has no GPU, the two
  GPU experiments answer as a T4 that computes wrong values and runs bincount.
"""

from __future__ import annotations

import importlib.util
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from gpuconform.frameworks.tensorflow.reference_model import ENV_VAR
from gpuconform.frameworks.tensorflow.reference_model import MANIFEST
from gpuconform.frameworks.tensorflow.reference_model import reference_dir
from tests.test_determinism_reference import copy_reference
from tests.test_preprocessing_suite import Run
from tests.test_preprocessing_suite import run_suites
from tests.test_preprocessing_suite import sitecustomize

EDGE = ("zeros", "nan_sample", "nan_pixel", "inf", "out_of_range")
SHAPES = ("spatial", "channels", "no_batch")
CPU_IDS = [
    "repeated_inference_is_bitwise_equal",
    "two_processes_give_bitwise_equal_outputs",
    "golden_outputs_match_on_the_cpu",
    "a_sample_alone_matches_the_same_sample_in_a_batch",
    "a_round_trip_through_a_saved_model_gives_identical_outputs[savedmodel]",
    "a_round_trip_through_a_saved_model_gives_identical_outputs[keras_file]",
    "outputs_are_probabilities",
    *(f"edge_inputs_give_the_documented_outputs_without_an_exception[{case}]" for case in EDGE),
    *(f"a_wrong_input_shape_raises_a_value_error[{shape}]" for shape in SHAPES),
    "an_unseeded_random_op_raises_under_determinism",
]
GPU_IDS = ["golden_outputs_match_on_each_gpu", "an_op_without_a_deterministic_gpu_kernel_raises_on_each_gpu"]
#: The PyTorch and JAX checks and the agreement (tests/test_determinism_torch_jax.py): the cpu profile checks the
#: torch and jax installed beside TensorFlow, as optional frameworks; where neither is, they do not apply.
OTHER_IDS = [
    *(
        f"{framework}_{check}"
        for framework in ("torch", "jax")
        for check in (
            "repeats_bit_for_bit_within_a_process",
            "repeats_bit_for_bit_across_two_processes",
            "golden_outputs_match_on_the_cpu",
            "golden_outputs_match_on_each_gpu",
        )
    ),
    "torch_refuses_cublas_without_its_workspace_setting",
    "frameworks_agree_on_the_reference_model",
]

NOISE = """
import numpy as np
import gpuconform.frameworks.tensorflow.experiments.determinism as d

_predict = d.predict

def noisy(model, x):
    y = _predict(model, x)
    return y + np.random.default_rng().uniform(0.0, 1e-3, y.shape).astype(y.dtype)

d.predict = noisy
"""
LENIENT = """
import numpy as np
import gpuconform.frameworks.tensorflow.experiments.determinism as d

_predict = d.predict

def lenient(model, x):
    if np.isinf(x).any():
        return np.full((len(x), 4), 0.25, np.float32)
    try:
        return _predict(model, x)
    except Exception:
        return np.zeros((1, 4), np.float32)

def t4_golden(tf):
    return [{"device": "/GPU:0", "name": "Tesla T4", "compute_capability": [7, 5], "tf32": True,
             "outputs": [[0.25, 0.25, 0.25, 0.25]] * 8}]

def t4_bincount(tf):
    return [{"device": "/GPU:0", "raised": False}]

d.predict = lenient
d.enable_determinism = lambda tf: None
d.gpu_golden = t4_golden
d.gpu_nondeterministic_op = t4_bincount
"""


def nudged_goldens(by: float) -> list[list[float]]:
    manifest = json.loads((reference_dir() / MANIFEST).read_text())
    return [[v + by for v in row] for row in manifest["golden"]]


@pytest.fixture(scope="module")
def conforming(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return run_suites(tmp_path_factory.mktemp("conforming"), "determinism", "--host-profile", "cpu")


@pytest.fixture(scope="module")
def noisy(tmp_path_factory: pytest.TempPathFactory) -> Run:
    directory = tmp_path_factory.mktemp("noisy")
    return run_suites(directory, "determinism", "--host-profile", "t4", env=sitecustomize(directory / "site", NOISE))


@pytest.fixture(scope="module")
def lenient(tmp_path_factory: pytest.TempPathFactory) -> Run:
    directory = tmp_path_factory.mktemp("lenient")
    reference = copy_reference(directory / "reference", golden=nudged_goldens(1e-4))
    env = {ENV_VAR: str(reference), **sitecustomize(directory / "site", LENIENT)}
    return run_suites(directory, "determinism", "--host-profile", "t4", env=env)


# --- as shipped, on this machine ---------------------------------------------------------------


def test_the_layer_passes_on_the_cpu_with_every_cpu_check_run(conforming: Run) -> None:
    assert conforming.ret == 0, conforming.output[-4000:]
    outcomes = {i.removeprefix("determinism::"): c["outcome"] for i, c in conforming.checks.items()}
    gpu = [*GPU_IDS, "torch_golden_outputs_match_on_each_gpu", "jax_golden_outputs_match_on_each_gpu"]
    gpu.append("torch_refuses_cublas_without_its_workspace_setting")
    others = [i for i in OTHER_IDS if i not in gpu]
    wheels = all(importlib.util.find_spec(name) is not None for name in ("torch", "jax"))
    expected = {**dict.fromkeys(CPU_IDS, "passed"), **dict.fromkeys(gpu, "not-applicable")}
    assert outcomes == {**expected, **dict.fromkeys(others, "passed" if wheels else "not-applicable")}
    assert conforming.check("determinism::golden_outputs_match_on_each_gpu")["reason"] == (
        "not applicable: profile 'cpu' expects no GPU"
    )


def test_the_report_states_the_tolerances_that_were_applied(conforming: Run) -> None:
    junit = ET.parse(conforming.reports / "junit.xml").getroot()
    props = {p.get("name"): p.get("value") for case in junit.iter("testcase") for p in case.iter("property")}
    assert str(props["gpuconform.measured.tolerance"]).startswith("rtol 1e-05, atol 1e-06 (")
    assert float(str(props["gpuconform.measured.max_abs_diff"])) <= 1e-6


# --- every check fails when its behaviour is made to differ ------------------------------------


@pytest.mark.parametrize(
    ("check_id", "words"),
    [
        (
            "repeated_inference_is_bitwise_equal",
            "5 inferences of the same batch in one process gave 5 different outputs",
        ),
        ("two_processes_give_bitwise_equal_outputs", "two processes computed different outputs"),
        ("golden_outputs_match_on_the_cpu", "differ from the goldens beyond rtol 1e-05, atol 1e-06"),
        (
            "a_sample_alone_matches_the_same_sample_in_a_batch",
            "depend on the batch it is in, beyond rtol 1e-05, atol 1e-06",
        ),
        ("a_round_trip_through_a_saved_model_gives_identical_outputs[savedmodel]", "after tf.saved_model.save"),
        ("a_round_trip_through_a_saved_model_gives_identical_outputs[keras_file]", "after model.save('model.keras')"),
        ("outputs_are_probabilities", "softmax outputs are not probabilities"),
        ("edge_inputs_give_the_documented_outputs_without_an_exception[zeros]", "all-zero images no longer give"),
        ("edge_inputs_give_the_documented_outputs_without_an_exception[nan_sample]", "sample 2 made of NaNs no longer"),
        (
            "edge_inputs_give_the_documented_outputs_without_an_exception[nan_pixel]",
            "one NaN pixel in sample 2 no longer",
        ),
        ("edge_inputs_give_the_documented_outputs_without_an_exception[out_of_range]", "255x out of range"),
        ("golden_outputs_match_on_each_gpu", "TensorFlow sees no GPU, so the reference model could not run on one"),
    ],
)
def test_noise_in_every_inference_fails_the_checks_that_compare_outputs(noisy: Run, check_id: str, words: str) -> None:
    check = noisy.check(f"determinism::{check_id}")
    assert check["outcome"] == "failed", check
    assert words in check["message"]
    assert check["remediation"]


@pytest.mark.parametrize(
    ("check_id", "words"),
    [
        ("golden_outputs_match_on_the_cpu", "32 of 32 values outside the tolerance"),
        ("edge_inputs_give_the_documented_outputs_without_an_exception[inf]", "+Inf in every pixel no longer give"),
        *(
            (f"a_wrong_input_shape_raises_a_value_error[{s}]", "no exception: the model returned outputs")
            for s in SHAPES
        ),
        (
            "an_unseeded_random_op_raises_under_determinism",
            "an unseeded random op runs although op determinism is enabled",
        ),
        (
            "golden_outputs_match_on_each_gpu",
            "on /GPU:0 (Tesla T4) differ from the goldens beyond rtol 0.0001, atol 1e-05",
        ),
        (
            "an_op_without_a_deterministic_gpu_kernel_raises_on_each_gpu",
            "tf.math.bincount ran on /GPU:0 under op determinism",
        ),
    ],
)
def test_lenient_inference_and_edited_goldens_fail_the_remaining_checks(
    lenient: Run, check_id: str, words: str
) -> None:
    check = lenient.check(f"determinism::{check_id}")
    assert check["outcome"] == "failed", check
    assert words in check["message"]
    assert check["remediation"]


def test_every_check_of_the_layer_is_made_to_fail_by_one_of_the_runs(noisy: Run, lenient: Run) -> None:
    failed = {i for run in (noisy, lenient) for i, c in run.checks.items() if c["outcome"] == "failed"}
    assert {f"determinism::{i}" for i in CPU_IDS + GPU_IDS} <= failed


def test_the_gpu_golden_failure_states_the_tf32_aware_tolerance(lenient: Run) -> None:
    message = lenient.check("determinism::golden_outputs_match_on_each_gpu")["message"]
    assert "for a GPU with TF32 on and compute capability 7.5" in message  # TF32 has no effect below 8.0
    assert "fp32 on a GPU" in message


def test_the_golden_failure_says_how_to_re_record_or_pin(lenient: Run) -> None:
    check = lenient.check("determinism::golden_outputs_match_on_the_cpu")
    assert "python tools/make_reference_model.py" in check["remediation"]
    assert "pip install 'tensorflow-cpu==2.21.0'" in check["remediation"]
    assert "recorded with TensorFlow 2.21.0 on /CPU:0 (TF_ENABLE_ONEDNN_OPTS=0)" in check["message"]


# --- data that cannot be used ----------------------------------------------------------------


def test_weights_that_do_not_match_the_manifest_make_the_golden_check_an_error(tmp_path: Path) -> None:
    reference = copy_reference(tmp_path / "reference", bin_sha256="0" * 64)
    run = run_suites(
        tmp_path,
        "determinism",
        "--host-profile",
        "cpu",
        "-k",
        "golden_outputs_match_on_the_cpu",
        env={ENV_VAR: str(reference)},
    )
    check = run.check("determinism::golden_outputs_match_on_the_cpu")
    assert check["outcome"] == "error"
    assert "reference_model.bin does not match the bin_sha256 of its manifest" in check["message"]


def test_a_broken_manifest_is_a_usage_error_naming_the_key(tmp_path: Path) -> None:
    reference = copy_reference(tmp_path / "reference", golden=[])
    run = run_suites(tmp_path, "determinism", "--host-profile", "cpu", env={ENV_VAR: str(reference)})
    assert run.ret == 4
    assert f"{reference / MANIFEST}: golden: is empty or ragged" in run.output


def test_a_host_whose_keras_backend_is_not_tensorflow_has_tensorflows_own_inference_checked(tmp_path: Path) -> None:
    # KERAS_BACKEND=numpy, Keras 3's backend that needs no framework: with scipy (jax's dependency) tf.keras runs
    # on NumPy, without it (as in the first pass of CI) keras does not even import under it. Either way the
    # layer's TensorFlow children run tf.keras on TensorFlow, forked from a zygote of their own.
    run = run_suites(tmp_path, "determinism", "--host-profile", "cpu", env={"KERAS_BACKEND": "numpy"})
    assert run.ret == 0, run.output[-4000:]
    assert {run.check(f"determinism::{i}")["outcome"] for i in CPU_IDS} == {"passed"}
    facts = json.loads((run.reports / "facts.json").read_text())
    children = [b for b in facts["observations"] if (b["framework"], b["module"]) == ("tensorflow", "determinism")]
    envs = [dict(b["env"]) for b in children]
    assert len(envs) == 2 and all(env["KERAS_BACKEND"] == "tensorflow" for env in envs), envs
