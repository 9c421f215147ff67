"""Layer `determinism`: does inference give the same answer every time, everywhere it should?

A small reference model shipped with gpuconform (`gpuconform/data/reference_model.*`,
made by `tools/make_reference_model.py`) runs on its fixed input batch in TensorFlow
children with `tf.config.experimental.enable_op_determinism()` (TF >= 2.8), tf.keras on TensorFlow
(KERAS_BACKEND=tensorflow: Keras 3 on JAX or PyTorch would not be TensorFlow's inference), and TensorFlow's
oneDNN switch as this host's programs get it: TF_ENABLE_ONEDNN_OPTS where the environment sets
it, else TensorFlow's default (on only for CPUs with AVX512_VNNI, AVX512_BF16, AVX_VNNI or AMX).
The layer checks inference as the host runs it. Two processes of one host share the CPU and the
switch, so they must agree bit for bit. The goldens were recorded with oneDNN off
(`tools/make_reference_model.py`), and oneDNN's kernels round differently from Eigen's, so every
message names the switch, and the CPU goldens are compared within a tolerance that covers both
(`gpuconform.frameworks.tensorflow.reference_model.CPU`).

Documented outcomes on the CPU (TF 2.12 to 2.21): zeros and inputs 255x out of range
give valid probabilities; a sample of NaNs gives NaN outputs for that sample and leaves
the others bit for bit; a single NaN pixel is absorbed (relu and max-pooling drop it,
so the outputs stay finite); +Inf everywhere gives NaN outputs; none of these raise.
Calling the model on a wrong input shape raises ValueError. Tolerances are in
`gpuconform.frameworks.tensorflow.reference_model` and in every message that uses one.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable
from typing import Any

import pytest

from gpuconform.expect.expectations import Expectations
from gpuconform.expect.framework_needs import FrameworkNeed
from gpuconform.expect.framework_tables import load_framework_tables as load_jax_tables
from gpuconform.expect.tables.jax import JaxTable
from gpuconform.facts.errors import DataError
from gpuconform.facts.model import Facts
from gpuconform.facts.text import headline
from gpuconform.frameworks import framework
from gpuconform.frameworks.children import Batch
from gpuconform.frameworks.children import Planned
from gpuconform.frameworks.determinism import Words
from gpuconform.frameworks.determinism import golden_on_cpu
from gpuconform.frameworks.determinism import golden_on_gpus
from gpuconform.frameworks.determinism import repeats_across
from gpuconform.frameworks.determinism import repeats_within
from gpuconform.frameworks.jax import determinism as jax_det
from gpuconform.frameworks.live import LiveChildren
from gpuconform.frameworks.needs import STARTS_CHECKS
from gpuconform.frameworks.needs import answer as answer_of  # PyTorch's and JAX's (TensorFlow's is `answer`)
from gpuconform.frameworks.needs import judged
from gpuconform.frameworks.reference import GpuOutputs
from gpuconform.frameworks.reference import Outputs
from gpuconform.frameworks.reference import ReferenceRun
from gpuconform.frameworks.reference import Refusals
from gpuconform.frameworks.reference import Repeats
from gpuconform.frameworks.reference_agreement import AGREE
from gpuconform.frameworks.reference_agreement import AGREE_WHY
from gpuconform.frameworks.reference_agreement import FRAMEWORK_CPU
from gpuconform.frameworks.reference_agreement import outliers
from gpuconform.frameworks.reference_agreement import pairs
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
from gpuconform.frameworks.tensorflow.framework import KERAS_VARIABLE
from gpuconform.frameworks.torch import determinism as torch_det
from gpuconform.plugin.frameworks import framework_tables
from gpuconform.verdict.check import CouldNotCheck
from gpuconform.verdict.check import Finding
from gpuconform.verdict.check import could_not_check
from gpuconform.verdict.check import fail
from gpuconform.verdict.check import not_applicable

pytestmark = pytest.mark.determinism

MODULE = "determinism"
IMPORTS = "framework::tensorflow_imports_as_the_installed_distribution"
SEES = "framework::tensorflow_sees_the_expected_gpus"
SOURCE = "the reference model in a TensorFlow child (enable_op_determinism)"
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
    # tf.keras on TensorFlow whatever the host's KERAS_BACKEND says: the layer checks TensorFlow's inference (a
    # KERAS_BACKEND=jax host's TensorFlow programs meet the preprocessing layer's warning about it instead).
    return {ENV_VAR: str(reference_dir()), KERAS_VARIABLE: "tensorflow", **extra}


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
    return f"TensorFlow {environment['tensorflow']} (Keras {environment['keras']}), {_onednn(environment)}"


def _onednn(environment: dict[str, Any]) -> str:
    """'oneDNN on (TensorFlow's default here)', or as TF_ENABLE_ONEDNN_OPTS set it; what the child reported."""
    state = {True: "on", False: "off"}.get(environment.get("onednn_enabled"), "unknown")
    setting = environment.get("onednn_opts")
    return f"oneDNN {state} " + (f"(TF_ENABLE_ONEDNN_OPTS={setting})" if setting else "(TensorFlow's default here)")


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
            expected=f"bit-for-bit equal outputs in two processes on one host, both with op determinism and "
            f"{_onednn(environment)}",
            found=f"SHA-256 {first[:12]} and {second[:12]}, max |diff| {worst:.3g}",
            source=f"two TensorFlow children, {_tf(environment)}",
            why="replicas of a service, and reruns of a job, must agree; with pinned kernels they run the same code",
            fix="set the same TF_ENABLE_ONEDNN_OPTS in every replica (0 turns oneDNN off: Eigen's kernels, for "
            "bitwise agreement across CPU models too) and TF_DETERMINISTIC_OPS=1; check nothing else differs "
            "(env | grep ^TF_)",
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


# ---- PyTorch and JAX: the same reference model, from the same weights -------------------------------
#
# Which of them are checked follows the profile's [frameworks] table, as in the framework layer
# (`gpuconform.frameworks.needs`): a required framework fails these checks, one only installed warns,
# and a profile without the table checks TensorFlow alone. Each framework builds the model from
# reference_model.bin in its own layouts (`gpuconform.frameworks.torch.experiments.determinism`,
# `gpuconform.frameworks.jax.experiments.determinism`); the judgements are `gpuconform.frameworks.determinism`'s.

TORCH_IMPORTS = "framework::torch_imports_as_the_installed_distribution"
TORCH_BUILD = "framework::torch_build_can_use_the_gpu"
TORCH_SEES = "framework::torch_sees_the_expected_gpus"
JAX_IMPORTS = "framework::jax_imports_as_the_installed_distribution"
JAX_STARTS = STARTS_CHECKS["jax"]
JAX_BUILD = "framework::jax_build_can_use_the_gpu"
JAX_SEES = "framework::jax_sees_the_expected_gpus"


def _torch_env(**extra: str) -> dict[str, str]:
    return {ENV_VAR: str(reference_dir()), torch_det.WORKSPACE: torch_det.DETERMINISTIC_WORKSPACE, **extra}


def _jax_env(table: JaxTable, version: str | None, **extra: str) -> dict[str, str]:
    return {ENV_VAR: str(reference_dir()), **jax_det.deterministic_env(table, version), **extra}


def _installed_jax() -> str | None:
    """jax's version from its metadata, for the children started before the checks ask (never an import)."""
    try:
        return importlib.metadata.version("jax")
    except importlib.metadata.PackageNotFoundError:
        return None


TORCH_FIRST = Planned(MODULE, torch_det.FIRST_CHILD, _torch_env, framework="torch")
TORCH_SECOND = Planned(
    MODULE, torch_det.SECOND_CHILD, lambda: _torch_env(GPUCONFORM_DETERMINISM_RUN="second"), framework="torch"
)
# Without the workspace setting (the experiment also removes one the child inherits); only its
# check asks for it, and that check needs GPUs (`gpu_profile`).
TORCH_REFUSAL = Planned(
    MODULE,
    torch_det.REFUSAL_CHILD,
    lambda: {ENV_VAR: str(reference_dir()), "GPUCONFORM_DETERMINISM_RUN": "no-workspace"},
    framework="torch",
    gpus_only=True,
)
JAX_FIRST = Planned(MODULE, jax_det.FIRST_CHILD, lambda: _jax_env(load_jax_tables().jax, _installed_jax()), "jax")
JAX_SECOND = Planned(
    MODULE,
    jax_det.SECOND_CHILD,
    lambda: _jax_env(load_jax_tables().jax, _installed_jax(), GPUCONFORM_DETERMINISM_RUN="second"),
    "jax",
)

TORCH_WORDS = Words(
    "PyTorch",
    torch_det.SWITCH,
    f"PyTorch children ({framework('torch').describe(MODULE)})",
    torch_det.PIN,
    torch_det.FULL_FP32,
)


def _jax_words(request: pytest.FixtureRequest, jax_need: FrameworkNeed) -> Words:
    row = jax_det.flags_for(framework_tables(request.config).jax, _version(jax_need))
    source = f"JAX children ({framework('jax').describe(MODULE)}; {jax_det.MATRIX})"
    return Words("JAX", jax_det.switch(row), source, jax_det.PIN, jax_det.FULL_FP32)


def _version(need: FrameworkNeed) -> str | None:
    return None if need.installed is None else need.installed.version


@pytest.fixture
def torch_first(torch_live: LiveChildren, reference: ReferenceModel) -> Batch:
    return torch_live.batch(*TORCH_FIRST.args())


@pytest.fixture
def torch_second(torch_live: LiveChildren, reference: ReferenceModel) -> Batch:
    return torch_live.batch(*TORCH_SECOND.args())


@pytest.fixture
def jax_first(request: pytest.FixtureRequest, jax_live: LiveChildren, jax_need: FrameworkNeed) -> Batch:
    table = framework_tables(request.config).jax
    return jax_live.batch(MODULE, jax_det.FIRST_CHILD, _jax_env(table, _version(jax_need)))


@pytest.fixture
def jax_second(request: pytest.FixtureRequest, jax_live: LiveChildren, jax_need: FrameworkNeed) -> Batch:
    table = framework_tables(request.config).jax
    return jax_live.batch(
        MODULE, jax_det.SECOND_CHILD, _jax_env(table, _version(jax_need), GPUCONFORM_DETERMINISM_RUN="second")
    )


def _run(live: LiveChildren, need: FrameworkNeed, batch: Batch, reference: ReferenceModel) -> ReferenceRun:
    run: ReferenceRun = answer_of(live, need, batch, "environment", ReferenceRun)
    if run.bin_sha256 != reference.bin_sha256:
        could_not_check(
            "the reference model",
            f"{reference_dir()}/reference_model.bin does not match the bin_sha256 of its manifest",
            source=live.source(MODULE),
        )
    return run


def _gpus(live: LiveChildren, need: FrameworkNeed, batch: Batch) -> tuple[GpuOutputs, ...]:
    found: tuple[GpuOutputs, ...] = answer_of(live, need, batch, "gpu_golden", tuple[GpuOutputs, ...])
    return found


@pytest.fixture
def torch_run(
    torch_live: LiveChildren, torch_need: FrameworkNeed, torch_first: Batch, reference: ReferenceModel
) -> ReferenceRun:
    return _run(torch_live, torch_need, torch_first, reference)


@pytest.fixture
def jax_run(
    jax_live: LiveChildren, jax_need: FrameworkNeed, jax_first: Batch, reference: ReferenceModel
) -> ReferenceRun:
    return _run(jax_live, jax_need, jax_first, reference)


@pytest.fixture
def torch_golden_cpu(
    torch_live: LiveChildren, torch_need: FrameworkNeed, torch_first: Batch, torch_run: ReferenceRun
) -> Outputs:
    found: Outputs = answer_of(torch_live, torch_need, torch_first, "golden_cpu", Outputs)
    return found


@pytest.fixture
def jax_golden_cpu(
    jax_live: LiveChildren, jax_need: FrameworkNeed, jax_first: Batch, jax_run: ReferenceRun
) -> Outputs:
    found: Outputs = answer_of(jax_live, jax_need, jax_first, "golden_cpu", Outputs)
    return found


def test_torch_repeats_bit_for_bit_within_a_process(
    torch_live: LiveChildren, torch_need: FrameworkNeed, torch_first: Batch, torch_run: ReferenceRun, host_warn: Any
) -> None:
    """Five inferences of the batch in one PyTorch process, on the CPU and each GPU, give one digest."""
    repeats: Repeats = answer_of(torch_live, torch_need, torch_first, "repeat", Repeats)
    judged(torch_need, repeats_within(TORCH_WORDS, repeats, torch_run), host_warn)


def test_torch_repeats_bit_for_bit_across_two_processes(
    torch_live: LiveChildren, torch_need: FrameworkNeed, torch_first: Batch, torch_second: Batch,
    torch_run: ReferenceRun, torch_golden_cpu: Outputs, host_warn: Any,
) -> None:
    """Two PyTorch processes give bit-for-bit the same outputs, on the CPU and each GPU."""
    second: Outputs = answer_of(torch_live, torch_need, torch_second, "golden_cpu", Outputs)
    gpus, second_gpus = _gpus(torch_live, torch_need, torch_first), _gpus(torch_live, torch_need, torch_second)
    judged(torch_need, repeats_across(TORCH_WORDS, torch_golden_cpu, second, gpus, second_gpus, torch_run), host_warn)


def test_torch_golden_outputs_match_on_the_cpu(
    torch_need: FrameworkNeed, torch_golden_cpu: Outputs, torch_run: ReferenceRun, reference: ReferenceModel,
    measured: Any, host_warn: Any,
) -> None:
    """PyTorch's CPU outputs of the reference model, built from the neutral weights, match the goldens."""
    measured("tolerance", f"{FRAMEWORK_CPU} ({FRAMEWORK_CPU.why})")
    measured("max_abs_diff", max_abs_diff(torch_golden_cpu.outputs, reference.golden))
    judged(torch_need, golden_on_cpu(TORCH_WORDS, torch_golden_cpu, reference, torch_run), host_warn)


@pytest.mark.depends_on(TORCH_IMPORTS, TORCH_BUILD, TORCH_SEES)
def test_torch_golden_outputs_match_on_each_gpu(
    gpu_profile: Expectations, torch_live: LiveChildren, torch_need: FrameworkNeed, torch_first: Batch,
    torch_run: ReferenceRun, reference: ReferenceModel, host_warn: Any,
) -> None:
    """PyTorch's outputs on each GPU match the goldens within the GPU's (TF32-aware) tolerance."""
    gpus = _gpus(torch_live, torch_need, torch_first)
    judged(torch_need, _no_gpu(TORCH_WORDS, gpu_profile, TORCH_SEES) if not gpus else None, host_warn)
    judged(torch_need, golden_on_gpus(TORCH_WORDS, gpus, reference), host_warn)


@pytest.mark.depends_on(TORCH_IMPORTS, TORCH_BUILD, TORCH_SEES)
def test_torch_refuses_cublas_without_its_workspace_setting(
    gpu_profile: Expectations, torch_live: LiveChildren, torch_need: FrameworkNeed, host_warn: Any
) -> None:
    """Under determinism, a cuBLAS call without CUBLAS_WORKSPACE_CONFIG raises PyTorch's documented error."""
    batch = torch_live.batch(*TORCH_REFUSAL.args())
    refusals: Refusals = answer_of(torch_live, torch_need, batch, "cublas_without_workspace", Refusals)
    if not refusals.gpus:
        not_applicable("PyTorch sees no GPU (determinism::torch_golden_outputs_match_on_each_gpu fails for that)")
    wrong = [r for r in refusals.gpus if not (r.raised and r.error_type == "RuntimeError" and _refused(r.error))]
    if not wrong:
        return
    r = wrong[0]
    found = f"{r.error_type}: {r.error}" if r.raised else "torch.mm returned a result"
    judged(
        torch_need,
        Finding(
            f"a cuBLAS matrix multiply ran on {r.device} under torch.use_deterministic_algorithms(True) without "
            f"{torch_det.WORKSPACE}, instead of raising",
            expected=f"RuntimeError: {torch_det.REFUSAL} ...",
            found=found,
            source=f"torch.mm on {r.device} after torch.use_deterministic_algorithms(True), {torch_det.WORKSPACE} "
            f"unset (inherited: {refusals.inherited}); {torch_live.source(MODULE)}",
            why="cuBLAS picks its workspace per stream and its results can vary run to run without a fixed "
            "workspace: PyTorch must refuse, or determinism silently does not hold",
            fix=f"set {torch_det.WORKSPACE}={torch_det.DETERMINISTIC_WORKSPACE} in every job that uses "
            "torch.use_deterministic_algorithms(True), and make sure nothing passes warn_only=True; pin a release "
            f"that refuses: {torch_det.PIN}",
        ),
        host_warn,
    )


def _refused(error: str | None) -> bool:
    return error is not None and " ".join(error.split()).startswith(torch_det.REFUSAL)


@pytest.mark.depends_on(JAX_IMPORTS, JAX_STARTS)
def test_jax_repeats_bit_for_bit_within_a_process(
    request: pytest.FixtureRequest, jax_live: LiveChildren, jax_need: FrameworkNeed, jax_first: Batch,
    jax_run: ReferenceRun, host_warn: Any,
) -> None:
    """Five inferences of the batch in one JAX process, on the CPU and each GPU, give one digest."""
    repeats: Repeats = answer_of(jax_live, jax_need, jax_first, "repeat", Repeats)
    judged(jax_need, repeats_within(_jax_words(request, jax_need), repeats, jax_run), host_warn)


@pytest.mark.depends_on(JAX_IMPORTS, JAX_STARTS)
def test_jax_repeats_bit_for_bit_across_two_processes(
    request: pytest.FixtureRequest, jax_live: LiveChildren, jax_need: FrameworkNeed, jax_first: Batch,
    jax_second: Batch, jax_run: ReferenceRun, jax_golden_cpu: Outputs, host_warn: Any,
) -> None:
    """Two JAX processes give bit-for-bit the same outputs, on the CPU and each GPU."""
    second: Outputs = answer_of(jax_live, jax_need, jax_second, "golden_cpu", Outputs)
    gpus, second_gpus = _gpus(jax_live, jax_need, jax_first), _gpus(jax_live, jax_need, jax_second)
    words = _jax_words(request, jax_need)
    judged(jax_need, repeats_across(words, jax_golden_cpu, second, gpus, second_gpus, jax_run), host_warn)


@pytest.mark.depends_on(JAX_IMPORTS, JAX_STARTS)
def test_jax_golden_outputs_match_on_the_cpu(
    request: pytest.FixtureRequest, jax_need: FrameworkNeed, jax_golden_cpu: Outputs, jax_run: ReferenceRun,
    reference: ReferenceModel, measured: Any, host_warn: Any,
) -> None:
    """JAX's CPU outputs of the reference model, built from the neutral weights, match the goldens."""
    measured("tolerance", f"{FRAMEWORK_CPU} ({FRAMEWORK_CPU.why})")
    measured("max_abs_diff", max_abs_diff(jax_golden_cpu.outputs, reference.golden))
    judged(jax_need, golden_on_cpu(_jax_words(request, jax_need), jax_golden_cpu, reference, jax_run), host_warn)


@pytest.mark.depends_on(JAX_IMPORTS, JAX_STARTS, JAX_BUILD, JAX_SEES)
def test_jax_golden_outputs_match_on_each_gpu(
    request: pytest.FixtureRequest, gpu_profile: Expectations, jax_live: LiveChildren, jax_need: FrameworkNeed,
    jax_first: Batch, jax_run: ReferenceRun, reference: ReferenceModel, host_warn: Any,
) -> None:
    """JAX's outputs on each GPU match the goldens within the GPU's (TF32-aware) tolerance."""
    words = _jax_words(request, jax_need)
    gpus = _gpus(jax_live, jax_need, jax_first)
    judged(jax_need, _no_gpu(words, gpu_profile, JAX_SEES) if not gpus else None, host_warn)
    judged(jax_need, golden_on_gpus(words, gpus, reference), host_warn)


def _no_gpu(words: Words, gpu_profile: Expectations, sees: str) -> Finding:
    return Finding(
        f"{words.name} sees no GPU, so the reference model could not run on one",
        expected=f"{gpu_profile.profile.gpus.count} GPU(s)",
        found="no GPU",
        source=words.source,
        why=f"GPU inference can only be checked on a GPU, and {words.name} in this layer's child listed none",
        fix=f"run the framework layer alone to see why: pytest --pyargs gpuconform.suites -m framework "
        f"--host-profile {gpu_profile.profile.name}; {sees} names the cause",
    )


# ---- every framework on this host, one model -------------------------------------------------------

#: Each framework's CPU outputs of the reference model, as its own checks fetch them.
CPU_OUTPUTS = {"tensorflow": "golden_cpu", "torch": "torch_golden_cpu", "jax": "jax_golden_cpu"}
PINS = {"tensorflow": PIN, "torch": torch_det.PIN, "jax": jax_det.PIN}


def test_frameworks_agree_on_the_reference_model(
    request: pytest.FixtureRequest, host_expect: Expectations, host_facts: Facts, reference: ReferenceModel,
    measured: Any, host_warn: Any,
) -> None:
    """Every framework the profile checks runs the same weights on the same batch; their outputs agree."""
    profile = host_expect.profile
    needs = [n for n in profile.framework_needs(host_facts.packages) if n.installed is not None]
    if len(needs) < 2:
        named = ", ".join(framework(n.name).name for n in needs) or "none"
        checked = f"installed, and checked by profile {profile.name!r}: {named}"
        not_applicable(f"fewer than two frameworks to compare ({checked})")
    outputs: dict[str, Any] = {}
    left_out: list[str] = []  # a framework whose outputs could not be had: its own golden check says why
    for need in needs:
        try:
            found = request.getfixturevalue(CPU_OUTPUTS[need.name])
        except (CouldNotCheck, pytest.skip.Exception) as exc:
            left_out.append(f"{framework(need.name).name} ({_golden_id(need.name)}: {headline(str(exc))})")
            continue
        outputs[framework(need.name).name] = found["outputs"] if isinstance(found, dict) else found.outputs
    if len(outputs) < 2:
        not_applicable(f"fewer than two frameworks computed the reference model; left out: {'; '.join(left_out)}")
    compared = pairs(outputs)
    for pair in compared:
        measured(f"max_abs_diff {pair.first} vs {pair.second}", pair.max_abs)
    if all(p.agree for p in compared):
        return
    names = list(outputs)
    odd = outliers(compared, names)
    by_name = {framework(n.name).name: n for n in needs}
    rest = [n for n in names if n not in odd]
    summary = (
        f"{' and '.join(odd)} computes other outputs than {' and '.join(rest)} for the same reference model"
        if rest
        else f"{' and '.join(odd)} compute different outputs for the same reference model"
    )
    goldens = ", ".join(f"{n} {max_abs_diff(o, reference.golden):.3g}" for n, o in outputs.items())
    versions = ", ".join(f"{n} {by_name[n].installed.version}" for n in names if by_name[n].installed)
    finding = Finding(
        summary,
        expected=f"every framework's outputs within {AGREE:g} of every other's, with the same predicted class for "
        f"every sample: {AGREE_WHY}",
        found="; ".join(str(p) for p in compared if not p.agree) + f"; max |diff| from the goldens: {goldens}",
        source=f"the reference model (reference_model.bin, one set of weights) on the CPU in a child of each "
        f"framework: {versions}",
        why="weights moved between frameworks (an export, a port, a hand conversion) must give the same predictions; "
        "when the frameworks on one host disagree on identical weights and inputs, one of them computes wrong "
        "numbers or reads the weights in the wrong layout",
        fix="the golden checks name the framework that is off ("
        + ", ".join(_golden_id(by_name[n].name) for n in odd)
        + "); pin its release that agrees: "
        + "; ".join(PINS[by_name[n].name] for n in odd),
    )
    required = [by_name[n] for n in odd if by_name[n].required]
    judged(required[0] if required else by_name[odd[0]], finding, host_warn)


def _golden_id(framework_id: str) -> str:
    prefix = "" if framework_id == "tensorflow" else f"{framework_id}_"
    return f"determinism::{prefix}golden_outputs_match_on_the_cpu"
