"""Layer `determinism`: does inference give the same answer every time, everywhere it should?

A small reference model shipped with gpuconform (`gpuconform/data/reference_model.*`,
made by `tools/make_reference_model.py`) runs on its fixed input batch in TensorFlow
children with `tf.config.experimental.enable_op_determinism()` (TF >= 2.8) and
TF_ENABLE_ONEDNN_OPTS=0 pinned. oneDNN is on by default only on CPUs with
AVX512_VNNI, AVX512_BF16 or AMX, and its kernels round differently: left to the
host, "two processes agree" and "matches the goldens" would depend on the CPU model,
not on TensorFlow. The goldens were recorded the same way.

Documented outcomes on the CPU (TF 2.12 to 2.21): zeros and inputs 255x out of range
give valid probabilities; a sample of NaNs gives NaN outputs for that sample and leaves
the others bit for bit; a single NaN pixel is absorbed (relu and max-pooling drop it,
so the outputs stay finite); +Inf everywhere gives NaN outputs; none of these raise.
Calling the model on a wrong input shape raises ValueError. Tolerances are in
`gpuconform.frameworks.tensorflow.reference_model` and in every message that uses one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from gpuconform.expect.expectations import Expectations
from gpuconform.facts.errors import DataError
from gpuconform.frameworks.children import Batch
from gpuconform.frameworks.children import Planned
from gpuconform.frameworks.tensorflow import BATCH
from gpuconform.frameworks.tensorflow import CPU
from gpuconform.frameworks.tensorflow import ENV_VAR
from gpuconform.frameworks.tensorflow import FIRST_CHILD
from gpuconform.frameworks.tensorflow import NAN_ROW
from gpuconform.frameworks.tensorflow import SECOND_CHILD
from gpuconform.frameworks.tensorflow import WRONG_SHAPES
from gpuconform.frameworks.tensorflow import LiveTf
from gpuconform.frameworks.tensorflow import ReferenceModel
from gpuconform.frameworks.tensorflow import answer
from gpuconform.frameworks.tensorflow import answer_fixture
from gpuconform.frameworks.tensorflow import gpu_tolerance
from gpuconform.frameworks.tensorflow import load_reference
from gpuconform.frameworks.tensorflow import max_abs_diff
from gpuconform.frameworks.tensorflow import mismatch
from gpuconform.frameworks.tensorflow import reference_dir
from gpuconform.verdict.check import could_not_check
from gpuconform.verdict.check import fail
from gpuconform.verdict.check import not_applicable

pytestmark = pytest.mark.determinism

MODULE = "determinism"
IMPORTS = "framework::tensorflow_imports_as_the_installed_distribution"
SEES = "framework::tensorflow_sees_the_expected_gpus"
PINNED = {"TF_ENABLE_ONEDNN_OPTS": "0"}
SOURCE = "the reference model in a TensorFlow child (enable_op_determinism, TF_ENABLE_ONEDNN_OPTS=0)"
UNSEEDED = "Random ops require a seed to be set when determinism is enabled"
NO_GPU_KERNEL = "Determinism is not yet supported in GPU implementation of"
RECORD = "python tools/make_reference_model.py (then commit plugins/gpuconform/data/ with the reason)"
PIN = "pip install 'tensorflow-cpu==2.21.*'"  # the newest release the goldens and outcomes were checked on


# ---- fixtures: two children for the whole layer ---------------------------------------


@pytest.fixture(scope="session")
def reference() -> ReferenceModel:
    try:
        return load_reference()
    except DataError as exc:  # a bad $GPUCONFORM_REFERENCE_MODEL is bad input: a usage error
        pytest.exit(f"gpuconform: {exc}", returncode=pytest.ExitCode.USAGE_ERROR)


def _env(**extra: str) -> dict[str, str]:
    return {**PINNED, ENV_VAR: str(reference_dir()), **extra}


# Another environment key is another child: the runner caches batches by environment. Both start
# when collection ends (`gpuconform.plugin.early`).
FIRST = Planned(MODULE, FIRST_CHILD, _env)
SECOND = Planned(MODULE, SECOND_CHILD, lambda: _env(GPUCONFORM_DETERMINISM_RUN="second"))


@pytest.fixture
def first_child(tf_live: LiveTf, reference: ReferenceModel) -> Batch:
    return tf_live.batch(*FIRST.args())


@pytest.fixture
def second_child(tf_live: LiveTf, reference: ReferenceModel) -> Batch:
    return tf_live.batch(*SECOND.args())


environment = answer_fixture("environment", "first_child")
unseeded_random_op = answer_fixture("unseeded_random_op", "first_child")
repeat = answer_fixture("repeat", "first_child")
batch_invariance = answer_fixture("batch_invariance", "first_child")
savedmodel_round_trip = answer_fixture("savedmodel_round_trip", "first_child")
keras_round_trip = answer_fixture("keras_round_trip", "first_child")
edge_inputs = answer_fixture("edge_inputs", "first_child")
wrong_shapes = answer_fixture("wrong_shapes", "first_child")
gpu_golden = answer_fixture("gpu_golden", "first_child")
gpu_nondeterministic_op = answer_fixture("gpu_nondeterministic_op", "first_child")


@pytest.fixture
def golden_cpu(first_child: Batch, environment: dict[str, Any], reference: ReferenceModel) -> dict[str, Any]:
    if environment["bin_sha256"] != reference.bin_sha256:
        could_not_check(
            "the reference model",
            f"{reference_dir()}/reference_model.bin does not match the bin_sha256 of its manifest",
        )
    return answer(first_child, "golden_cpu")  # type: ignore[no-any-return]


@pytest.fixture
def second_golden_cpu(second_child: Batch) -> dict[str, Any]:
    return answer(second_child, "golden_cpu")  # type: ignore[no-any-return]


def _tf(environment: dict[str, Any]) -> str:
    return f"TensorFlow {environment['tensorflow']} (Keras {environment['keras']})"


def _recorded(reference: ReferenceModel) -> str:
    r = reference.recorded_with
    return f"the goldens recorded with TensorFlow {r.tensorflow} on {r.device} (TF_ENABLE_ONEDNN_OPTS={r.onednn_opts})"


# ---- the same answer every time -------------------------------------------------------


def test_repeated_inference_is_bitwise_equal(repeat: dict[str, Any], environment: dict[str, Any]) -> None:
    digests = repeat["digests"]
    if len(set(digests)) > 1:
        fail(
            f"{len(digests)} inferences of the same batch in one process gave {len(set(digests))} different outputs",
            expected="bit-for-bit equal outputs with tf.config.experimental.enable_op_determinism()",
            found="SHA-256 of the outputs: " + ", ".join(d[:12] for d in digests),
            source=f"{SOURCE}, {_tf(environment)}",
            why="with op determinism on, TensorFlow runs only deterministic kernels: same inputs, same bits",
            fix="look for overrides in the environment (env | grep -E '^TF_(DETERMINISTIC|CUDNN|USE_CUDNN)'), "
            "and report the TensorFlow version and CPU model; meanwhile pin the release that passes, "
            f"e.g. {PIN}",
        )


def test_two_processes_give_bitwise_equal_outputs(
    golden_cpu: dict[str, Any], second_golden_cpu: dict[str, Any], environment: dict[str, Any]
) -> None:
    first, second = golden_cpu["digest"], second_golden_cpu["digest"]
    if first != second:
        worst = max_abs_diff(second_golden_cpu["outputs"], golden_cpu["outputs"])
        fail(
            "two processes computed different outputs for the same model and batch",
            expected="bit-for-bit equal outputs in two processes, both with TF_ENABLE_ONEDNN_OPTS=0 and op determinism "
            "(oneDNN is pinned off because it is on by default only on some CPUs and rounds differently)",
            found=f"SHA-256 {first[:12]} and {second[:12]}, max |diff| {worst:.3g}",
            source=f"two TensorFlow children, {_tf(environment)}",
            why="replicas of a service, and reruns of a job, must agree; with pinned kernels they run the same code",
            fix="set the same TF_ENABLE_ONEDNN_OPTS (0 for bitwise agreement across CPU models) and "
            "TF_DETERMINISTIC_OPS=1 in every replica; check nothing else differs (env | grep ^TF_)",
        )


def test_golden_outputs_match_on_the_cpu(
    golden_cpu: dict[str, Any], reference: ReferenceModel, environment: dict[str, Any], measured: Any
) -> None:
    measured("tolerance", f"{CPU} ({CPU.why})")
    measured("max_abs_diff", max_abs_diff(golden_cpu["outputs"], reference.golden))
    m = mismatch(golden_cpu["outputs"], reference.golden, CPU)
    if m is not None:
        fail(
            f"the reference model's CPU outputs differ from the goldens beyond {CPU}",
            expected=f"{_recorded(reference)}, within {CPU}: {CPU.why}",
            found=str(m),
            source=f"{SOURCE}, {_tf(environment)}",
            why="the same weights and inputs must give the same probabilities on every release the sweep covers; "
            "a larger difference is a numerics change that can move predictions",
            fix=f"if this release's numerics are right, re-record the goldens: {RECORD}; otherwise pin the "
            f"release they were recorded with: pip install 'tensorflow-cpu=={reference.recorded_with.tensorflow}'",
        )


@pytest.mark.depends_on(IMPORTS, SEES)
def test_golden_outputs_match_on_each_gpu(
    gpu_golden: list[dict[str, Any]],
    reference: ReferenceModel,
    gpu_profile: Expectations,
    environment: dict[str, Any],
    measured: Any,
) -> None:
    if not gpu_golden:
        fail(
            "TensorFlow sees no GPU, so the reference model could not run on one",
            expected=f"{gpu_profile.profile.gpus.count} GPU(s) in list_physical_devices('GPU')",
            found="no GPU",
            source=f"{SOURCE}, {_tf(environment)}",
            why="GPU inference can only be checked on a GPU, and TensorFlow in this layer's child listed none",
            fix=f"run the framework layer alone to see why: pytest --pyargs gpuconform.suites -m framework "
            f"--host-profile {gpu_profile.profile.name}; {SEES} names the cause",
        )
    problems = []
    for gpu in gpu_golden:
        tol = gpu_tolerance(gpu["tf32"], gpu["compute_capability"])
        measured(f"tolerance {gpu['device']}", f"{tol} (TF32 {'on' if gpu['tf32'] else 'off'}: {tol.why})")
        m = mismatch(gpu["outputs"], reference.golden, tol)
        if m is not None:
            problems.append((gpu, tol, m))
    if problems:
        gpu, tol, m = problems[0]
        fail(
            f"the reference model's outputs on {gpu['device']} ({gpu['name']}) differ from the goldens beyond {tol}",
            expected=f"{_recorded(reference)}, within {tol} for a GPU with TF32 {'on' if gpu['tf32'] else 'off'} "
            f"and compute capability {'.'.join(map(str, gpu['compute_capability']))}: {tol.why}",
            found="; ".join(f"{g['device']}: {mm}" for g, _, mm in problems),
            source=f"{SOURCE}, {_tf(environment)}",
            why="a GPU that computes wrong results (a bad kernel, a failing card, a library mismatch) passes every "
            "placement check and still serves wrong predictions",
            fix="compare with another GPU of the same model and check `nvidia-smi -q -d ECC`; if the card is healthy, "
            "pin a TensorFlow whose outputs match: pip install 'tensorflow[and-cuda]==2.21.*'",
        )


def test_a_sample_alone_matches_the_same_sample_in_a_batch(batch_invariance: dict[str, Any], measured: Any) -> None:
    measured("tolerance", f"{BATCH} ({BATCH.why})")
    measured("bitwise", batch_invariance["bitwise"])
    m = mismatch(batch_invariance["single"], batch_invariance["batch"], BATCH)
    if m is not None:
        fail(
            f"a sample's outputs depend on the batch it is in, beyond {BATCH}",
            expected=f"each sample alone within {BATCH} of the same sample in the batch of 8 ({BATCH.why})",
            found=str(m),
            source=SOURCE,
            why="a server that batches requests would answer the same request differently depending on its neighbours",
            fix=f"pin the release that passes ({PIN}) and report the batch-size dependence upstream",
        )


@pytest.mark.parametrize("round_trip", ["savedmodel", "keras_file"])
def test_a_round_trip_through_a_saved_model_gives_identical_outputs(
    round_trip: str,
    savedmodel_round_trip: dict[str, Any],
    keras_round_trip: dict[str, Any],
    environment: dict[str, Any],
) -> None:
    result, how = {
        "savedmodel": (savedmodel_round_trip, "tf.saved_model.save / tf.saved_model.load (serving_default signature)"),
        "keras_file": (keras_round_trip, "model.save('model.keras') / keras.models.load_model"),
    }[round_trip]
    if result["before"] != result["after"]:
        fail(
            f"the model gives other outputs after {how}",
            expected="bit-for-bit the outputs of the model before it was saved",
            found=f"SHA-256 {result['before'][:12]} before, {result['after'][:12]} after; "
            f"max |diff| {result['max_abs']:.3g}",
            source=f"{SOURCE}, {_tf(environment)}",
            why="the model a server loads must compute what the model that was validated computed",
            fix=f"serve with the same TensorFlow and Keras that saved the model, or pin the release that passes: {PIN}",
        )


def test_outputs_are_probabilities(golden_cpu: dict[str, Any]) -> None:
    bad = [
        (i, row)
        for i, row in enumerate(golden_cpu["outputs"])
        if not all(0.0 <= v <= 1.0 for v in row) or abs(sum(row) - 1.0) > 1e-5
    ]
    if bad:
        i, row = bad[0]
        fail(
            "the reference model's softmax outputs are not probabilities",
            expected="every output in [0, 1] and every row summing to 1 within 1e-5",
            found=f"{len(bad)} bad row(s); row {i} = {row}",
            source=SOURCE,
            why="a softmax that leaves [0, 1] means broken arithmetic in the runtime",
            fix=f"pin the release that passes ({PIN}) and report the outputs upstream",
        )


# ---- inputs no model should see ---------------------------------------------------------

EDGE_CASES: dict[str, tuple[str, str, Callable[[dict[str, Any]], bool]]] = {
    "zeros": (
        "all-zero images",
        "valid probabilities in every row",
        lambda r: all(r["finite_rows"]) and r["probabilities"],
    ),
    "nan_sample": (
        f"sample {NAN_ROW} made of NaNs",
        f"NaN outputs for sample {NAN_ROW} only, and the other rows bit for bit as without it",
        lambda r: r["nan_rows"] == [i == NAN_ROW for i in range(len(r["nan_rows"]))] and r["others_unchanged"],
    ),
    "nan_pixel": (
        f"one NaN pixel in sample {NAN_ROW}",
        "finite outputs in every row: relu and max-pooling on the CPU drop a lone NaN",
        lambda r: all(r["finite_rows"]) and r["others_unchanged"],
    ),
    "inf": (
        "+Inf in every pixel",
        "NaN outputs in every row (inf - inf inside the convolution), no exception",
        lambda r: all(r["nan_rows"]),
    ),
    "out_of_range": (
        "pixels 255x out of range (0-255 instead of 0-1)",
        "valid probabilities in every row",
        lambda r: all(r["finite_rows"]) and r["probabilities"],
    ),
}


@pytest.mark.parametrize("case", list(EDGE_CASES))
def test_edge_inputs_give_the_documented_outputs_without_an_exception(
    case: str, edge_inputs: dict[str, Any], environment: dict[str, Any]
) -> None:
    what, documented, holds = EDGE_CASES[case]
    result = edge_inputs[case]
    if "error_type" in result:
        found = f"{result['error_type']}: {result['error'].splitlines()[0] if result['error'] else ''}"
    elif not holds(result):
        found = ", ".join(
            f"{key} {result[key]}" for key in ("finite_rows", "nan_rows", "probabilities", "others_unchanged")
        )
    else:
        return
    fail(
        f"{what} no longer give the documented outputs",
        expected=documented,
        found=found,
        source=f"{SOURCE}, {_tf(environment)}",
        why="serving code relies on how corrupt inputs come out (e.g. a NaN check on outputs)",
        fix="validate inputs before inference (np.isfinite(x).all() and the expected range), and update the documented "
        f"outcome in suites/test_determinism.py if the new behaviour is intended; or pin: {PIN}",
    )


@pytest.mark.parametrize("shape", list(WRONG_SHAPES))
def test_a_wrong_input_shape_raises_a_value_error(
    shape: str, wrong_shapes: dict[str, Any], environment: dict[str, Any]
) -> None:
    result = wrong_shapes[shape]
    if result["raised"] and result["error_type"] == "ValueError":
        return
    found = (
        f"{result['error_type']}: {result['error'].splitlines()[0]}"
        if result["raised"]
        else "no exception: the model returned outputs"
    )
    fail(
        f"calling the model on shape {tuple(result['shape'])} does not raise ValueError",
        expected="ValueError naming the expected input shape (None, 12, 12, 3)",
        found=found,
        source=f"{SOURCE}, {_tf(environment)}",
        why="a clear ValueError at the model boundary keeps a mis-shaped request from a silent wrong answer",
        fix=f"check shapes before inference (x.shape[1:] == model.input_shape[1:]); pin the Keras that raises: {PIN}",
    )


# ---- what determinism forbids ---------------------------------------------------------------


def test_an_unseeded_random_op_raises_under_determinism(
    unseeded_random_op: dict[str, Any], environment: dict[str, Any]
) -> None:
    if (
        unseeded_random_op["raised"]
        and unseeded_random_op["error_type"] == "RuntimeError"
        and UNSEEDED in unseeded_random_op["error"]
    ):
        return
    found = (
        f"{unseeded_random_op['error_type']}: {unseeded_random_op['error']}"
        if unseeded_random_op["raised"]
        else "tf.random.uniform([2]) returned values"
    )
    fail(
        "an unseeded random op runs although op determinism is enabled",
        expected=f"RuntimeError: {UNSEEDED}. Please set a seed before running the op, e.g. ...",
        found=found,
        source=f"tf.random.uniform([2]) after enable_op_determinism(), no seed set; {_tf(environment)}",
        why="without this error an unseeded op gives different numbers in every process, defeating determinism",
        fix="seed every random op (keras.utils.set_random_seed(1) seeds Python, NumPy and TensorFlow); "
        f"pin a release that enforces it: {PIN}",
    )


@pytest.mark.depends_on(IMPORTS, SEES)
def test_an_op_without_a_deterministic_gpu_kernel_raises_on_each_gpu(
    gpu_nondeterministic_op: list[dict[str, Any]],
    gpu_profile: Expectations,
    environment: dict[str, Any],
) -> None:
    if not gpu_nondeterministic_op:
        not_applicable("TensorFlow sees no GPU (test_golden_outputs_match_on_each_gpu fails for that)")
    wrong = [
        r
        for r in gpu_nondeterministic_op
        if not (r["raised"] and r["error_type"] == "UnimplementedError" and NO_GPU_KERNEL in r["error"])
    ]
    if wrong:
        r = wrong[0]
        fail(
            f"tf.math.bincount ran on {r['device']} under op determinism instead of raising",
            expected=f"UnimplementedError: {NO_GPU_KERNEL} (Dense)Bincount.",
            found=f"{r['error_type']}: {r['error']}" if r["raised"] else "it returned a result",
            source=f"tf.math.bincount on {r['device']} after enable_op_determinism(); {_tf(environment)}",
            why="an op with no deterministic GPU kernel must refuse to run, or determinism silently does not hold",
            fix="make sure nothing disables determinism (TF_DETERMINISTIC_OPS=0 in the environment); pin a release "
            "that enforces it: pip install 'tensorflow[and-cuda]==2.21.*'",
        )
