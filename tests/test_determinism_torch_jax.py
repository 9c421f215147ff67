"""PyTorch and JAX in the determinism layer: real children on this CPU, and every failure as a user reads it.

Where torch and jax are installed (the +cpu wheel and jax[cpu] will do), one live run of the
layer with a CPU profile whose `[frameworks]` table names TensorFlow, PyTorch and JAX: each
builds the reference model from the same reference_model.bin, matches the goldens, repeats bit
for bit, and the three agree. What such a run recorded is committed
(tests/data/framework_children/determinism-cpu.json), so that everywhere the failures are
shown on described hosts (`gpuconform facts from-spec`) carrying those answers, replayed with
`--host-facts`, with only what a test names changed: one framework's outputs recomputed here
with a convolution kernel in the wrong layout (the mistake a port of the weights makes), a
digest that differs, or the GPU-side answers of a described H100 host (this machine has no GPU).
"""

from __future__ import annotations

import copy
import hashlib
import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gpuconform.frameworks.reference import reference_dir
from gpuconform.frameworks.reference_arrays import read_arrays
from gpuconform.frameworks.reference_arrays import scaled_inputs
from gpuconform.frameworks.torch.determinism import REFUSAL
from tests.test_framework_torch_jax import WHEELS
from tests.test_framework_torch_jax import checks
from tests.test_framework_torch_jax import pytest_run
from tests.test_framework_torch_jax import verdict_line

RECORDED = Path(__file__).parent / "data" / "framework_children" / "determinism-cpu.json"
ONLY = "torch or jax or agree"
TORCH = {
    "within": "determinism::torch_repeats_bit_for_bit_within_a_process",
    "across": "determinism::torch_repeats_bit_for_bit_across_two_processes",
    "cpu": "determinism::torch_golden_outputs_match_on_the_cpu",
    "gpu": "determinism::torch_golden_outputs_match_on_each_gpu",
    "refuses": "determinism::torch_refuses_cublas_without_its_workspace_setting",
}
JAX = {
    "within": "determinism::jax_repeats_bit_for_bit_within_a_process",
    "across": "determinism::jax_repeats_bit_for_bit_across_two_processes",
    "cpu": "determinism::jax_golden_outputs_match_on_the_cpu",
    "gpu": "determinism::jax_golden_outputs_match_on_each_gpu",
}
AGREE = "determinism::frameworks_agree_on_the_reference_model"
GPU_ONLY = (TORCH["gpu"], TORCH["refuses"], JAX["gpu"])
ALL_THREE = '[frameworks]\ntensorflow = "*"\ntorch = "*"\njax = "*"\n'
CPU_HEAD = '[profile]\nname = "cpu-three"\ndescription = "no GPU; TensorFlow, PyTorch and JAX"\n[gpus]\ncount = 0\n'
#: PyTorch's refusal as it raises it (aten/src/ATen/Context.cpp, alertCuBLASConfigNotDeterministic).
REFUSED = (
    f"{REFUSAL} For more information, go to https://docs.nvidia.com/cuda/cublas/index.html#results-reproducibility"
)

Answers = dict[tuple[str, str], Any]  # (framework, experiment) -> value, for every recorded determinism child


@pytest.fixture(scope="module")
def recorded() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(RECORDED.read_text())
    return data


# ---- the model as a port that got the kernel layout wrong computes it --------------------------------


def forward(arrays: dict[str, np.ndarray], kernel: np.ndarray) -> np.ndarray:
    """The reference model in numpy (NHWC, as the weights are stored), with `kernel` as its HWIO kernel."""
    x = scaled_inputs(arrays)
    windows = np.lib.stride_tricks.sliding_window_view(x, (3, 3), axis=(1, 2))  # (n, 10, 10, c, 3, 3)
    y = np.einsum("nhwcij,ijco->nhwo", windows, kernel) + arrays["conv/bias"]
    y = np.maximum(y, 0.0)
    n, h, w, c = y.shape
    y = y.reshape(n, h // 2, 2, w // 2, 2, c).max(axis=(2, 4)).reshape(n, -1)
    y = np.maximum(y @ arrays["hidden/kernel"] + arrays["hidden/bias"], 0.0)
    logits = (y @ arrays["logits/kernel"] + arrays["logits/bias"]).astype(np.float64)
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


def misread_kernel_outputs() -> tuple[list[list[float]], str]:
    """The outputs when the HWIO kernel's bytes are taken as OIHW without a transpose (reshape, not permute)."""
    _, arrays, _ = read_arrays(reference_dir())
    kernel = arrays["conv/kernel"]
    misread = kernel.reshape(kernel.shape[3], kernel.shape[2], 3, 3).transpose(2, 3, 1, 0)
    out = forward(arrays, np.ascontiguousarray(misread))
    return [[float(v) for v in row] for row in out], hashlib.sha256(out.tobytes()).hexdigest()


def test_the_numpy_model_computes_the_goldens_with_the_kernel_as_stored() -> None:
    """The test's own model is the reference model: with the kernel as stored it gives the goldens."""
    manifest, arrays, _ = read_arrays(reference_dir())
    assert np.abs(forward(arrays, arrays["conv/kernel"]) - np.asarray(manifest["golden"])).max() < 1e-6


# ---- described hosts carrying the recorded answers --------------------------------------------------


Children = list[dict[str, Any]]


def host(
    where: Path,
    recorded: dict[str, Any],
    edit: Callable[[Children], None] = lambda children: None,
    *,
    gpus: str = "",
    driver: str = "",
    tensorflow: bool = True,
    versions: dict[str, str] | None = None,
) -> Path:
    """A described host (GPU-less unless `gpus` gives its [[gpu]] tables) with the recorded frameworks installed
    (at `versions` where given) and their determinism children answering as recorded, edited by `edit`."""
    spec = f'[host]\nname = "described"\n\n{gpus}\n'
    spec += f'[driver]\nversion = "{driver}"\n' if driver else '[driver]\nversion = ""\nloaded = false\n'
    if tensorflow:
        tf = recorded["tensorflow"]
        spec += f'[tensorflow]\ndistribution = "{tf["name"]}"\nversion = "{tf["version"]}"\n'
    (where / "host.toml").write_text(spec)
    argv = [sys.executable, "-m", "gpuconform", "facts", "from-spec", "host.toml", "-o", "facts.json"]
    done = subprocess.run(argv, cwd=where, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    data = json.loads((where / "facts.json").read_text())
    packages = copy.deepcopy(recorded["packages"])
    for package in packages:
        package["version"] = (versions or {}).get(package["name"], package["version"])
    data["packages"]["others"] = [*data["packages"]["others"], *packages]
    children = [copy.deepcopy(b) for b in recorded["observations"] if tensorflow or b["framework"] != "tensorflow"]
    edit(children)
    data["observations"] = [*data["observations"], *children]
    (where / "facts.json").write_text(json.dumps(data, indent=2))
    return where / "facts.json"


def results(children: Children, framework: str, name: str) -> list[dict[str, Any]]:
    """Experiment `name`'s results in every determinism child of `framework` (the first child's first)."""
    return [
        r
        for b in children
        if b["framework"] == framework and b["module"] == "determinism"
        for r in b["results"]
        if r["name"] == name
    ]


def replay(where: Path, profile: str, facts: Path) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    (where / "p.toml").write_text(profile)
    proc = pytest_run(where, "-m", "determinism", "-k", ONLY, "--host-profile", "p.toml", "--host-facts", str(facts))
    return proc, checks(where)


def cpu_profile(frameworks: str = ALL_THREE) -> str:
    return CPU_HEAD + frameworks


# ---- replayed on a CPU host: what each check says when its answer is wrong ----------------------------


def test_the_recorded_cpu_children_pass_every_check_on_replay(recorded: dict[str, Any], tmp_path: Path) -> None:
    proc, got = replay(tmp_path, cpu_profile(), host(tmp_path, recorded))
    assert proc.returncode == 0, proc.stdout[-4000:]
    for check in (*(TORCH[k] for k in ("within", "across", "cpu")), *(JAX[k] for k in ("within", "across", "cpu"))):
        assert got[check]["outcome"] == "passed", got[check]
    assert got[AGREE]["outcome"] == "passed", got[AGREE]
    for check in GPU_ONLY:
        assert got[check]["reason"] == "not applicable: profile 'cpu-three' expects no GPU"


def _misread_torch(children: Children) -> None:
    outputs, digest = misread_kernel_outputs()
    for result in results(children, "torch", "golden_cpu"):
        result["value"] = {"outputs": outputs, "digest": digest}
    for device in results(children, "torch", "repeat")[0]["value"]["devices"]:
        device["digests"] = [digest] * len(device["digests"])


def test_a_framework_that_read_the_kernel_in_the_wrong_layout_fails_the_agreement_named_as_the_odd_one_out(
    recorded: dict[str, Any], tmp_path: Path
) -> None:
    proc, got = replay(tmp_path, cpu_profile(), host(tmp_path, recorded, _misread_torch))
    assert proc.returncode == 1, proc.stdout[-4000:]
    agree = got[AGREE]
    assert agree["outcome"] == "failed"
    assert agree["reason"] == "PyTorch computes other outputs than TensorFlow and JAX for the same reference model"
    assert "found:    TensorFlow vs PyTorch: max |diff| " in agree["message"]
    assert "PyTorch vs JAX: max |diff| " in agree["message"]
    assert "PyTorch vs JAX: max |diff| 0.319, predicted class differs for sample(s) [0, 7]" in agree["message"]
    assert "TensorFlow vs JAX" not in agree["message"]  # those two agree
    assert "expected: every framework's outputs within 1e-05 of every other's" in agree["message"]
    assert agree["remediation"] == (
        "the golden checks name the framework that is off (determinism::torch_golden_outputs_match_on_the_cpu); "
        "pin its release that agrees: pip install 'torch==2.13.*'"
    )
    golden = got[TORCH["cpu"]]
    assert golden["outcome"] == "failed"
    assert golden["reason"] == (
        "the reference model's CPU outputs in PyTorch differ from the goldens beyond rtol 1e-05, atol 1e-06"
    )
    assert "32 of 32 values outside the tolerance" in golden["message"]
    assert got[JAX["cpu"]]["outcome"] == "passed"
    # The wrong numbers repeat exactly: the repeat checks pass, as they should.
    assert got[TORCH["within"]]["outcome"] == got[TORCH["across"]]["outcome"] == "passed"


def test_two_frameworks_that_disagree_are_both_named(recorded: dict[str, Any], tmp_path: Path) -> None:
    facts = host(tmp_path, recorded, _misread_torch)
    proc, got = replay(tmp_path, cpu_profile('[frameworks]\ntensorflow = "*"\ntorch = "*"\njax = "auto"\n'), facts)
    assert got[AGREE]["outcome"] == "failed", got[AGREE]  # jax "auto": installed, so required and compared too
    proc, got = replay(tmp_path, cpu_profile('[frameworks]\ntensorflow = "*"\ntorch = "*"\n'), facts)
    # jax is installed but not named: still compared, as an optional framework.
    assert got[AGREE]["reason"] == "PyTorch computes other outputs than TensorFlow and JAX for the same reference model"

    def without_jax(children: Children) -> None:
        _misread_torch(children)
        children[:] = _without(children, "jax")

    two = host(tmp_path, recorded, without_jax)
    data = json.loads(two.read_text())
    data["packages"]["others"] = [p for p in data["packages"]["others"] if p["name"] != "jax"]
    two.write_text(json.dumps(data))
    proc, got = replay(tmp_path, cpu_profile('[frameworks]\ntensorflow = "*"\ntorch = "*"\n'), two)
    assert got[AGREE]["reason"] == "TensorFlow and PyTorch compute different outputs for the same reference model"


def _without(children: Children, framework: str) -> Children:
    return [b for b in children if b["framework"] != framework]


def test_an_optional_framework_that_disagrees_warns_instead_of_failing(
    recorded: dict[str, Any], tmp_path: Path
) -> None:
    proc, got = replay(tmp_path, cpu_profile('[frameworks]\njax = "*"\n'), host(tmp_path, recorded, _misread_torch))
    agree = got[AGREE]
    assert agree["outcome"] == "passed", agree
    (warning,) = agree["warnings"]
    assert warning["summary"] == "PyTorch computes other outputs than TensorFlow and JAX for the same reference model"
    assert f"(a warning: installed, not required by {tmp_path / 'p.toml'}, so its failures" in warning["why"]
    assert got[TORCH["cpu"]]["outcome"] == "passed" and got[TORCH["cpu"]]["warnings"]


def test_a_profile_without_a_frameworks_table_compares_the_installed_frameworks_as_optional(
    recorded: dict[str, Any], tmp_path: Path
) -> None:
    proc, got = replay(tmp_path, CPU_HEAD, host(tmp_path, recorded, _misread_torch))
    agree = got[AGREE]
    assert agree["outcome"] == "passed", agree  # TensorFlow is required and agrees with JAX; PyTorch is only installed
    (warning,) = agree["warnings"]
    assert warning["summary"] == "PyTorch computes other outputs than TensorFlow and JAX for the same reference model"


def test_the_agreement_does_not_apply_without_two_frameworks_to_compare(
    recorded: dict[str, Any], tmp_path: Path
) -> None:
    only_tf = host(tmp_path, recorded)
    data = json.loads(only_tf.read_text())
    data["packages"]["others"] = [p for p in data["packages"]["others"] if p["name"] not in ("torch", "jax")]
    only_tf.write_text(json.dumps(data))
    proc, got = replay(tmp_path, cpu_profile('[frameworks]\ntensorflow = "*"\n'), only_tf)
    assert got[AGREE]["reason"] == (
        "not applicable: fewer than two frameworks to compare (installed, and checked by profile 'cpu-three': "
        "TensorFlow)"
    )
    assert got[TORCH["cpu"]]["outcome"] == got[JAX["cpu"]]["outcome"] == "not-applicable"


def test_outputs_that_change_between_inferences_or_processes_fail_the_repeat_checks(
    recorded: dict[str, Any], tmp_path: Path
) -> None:
    def drifting(children: Children) -> None:
        cpu = results(children, "torch", "repeat")[0]["value"]["devices"][0]
        cpu["digests"] = [*cpu["digests"][:4], "0" * 64]
        second = results(children, "jax", "golden_cpu")[1]["value"]
        second["outputs"][0][0] += 2**-20
        second["digest"] = "1" * 64

    proc, got = replay(tmp_path, cpu_profile(), host(tmp_path, recorded, drifting))
    within = got[TORCH["within"]]
    assert within["outcome"] == "failed"
    assert within["reason"] == "5 inferences of the same batch in one PyTorch process gave 2 different outputs on cpu"
    assert "torch.use_deterministic_algorithms(True) and CUBLAS_WORKSPACE_CONFIG=:4096:8" in within["message"]
    across = got[JAX["across"]]
    assert across["outcome"] == "failed"
    assert across["reason"] == "two JAX processes computed different outputs for the same model and batch"
    assert "XLA_FLAGS=--xla_gpu_deterministic_ops=true" in across["message"]
    assert "max |diff| 9.54e-07" in across["message"]


# ---- replayed on a described H100 host: the GPU-side answers ------------------------------------------

H100 = '[[gpu]]\nmodel = "h100-sxm"\n'
H100_PROFILE = (
    '[profile]\nname = "h100-torch-jax"\ndescription = "d"\n[gpus]\ncount = 1\nmodel = "h100"\n'
    '[frameworks]\ntorch = "*"\njax = "*"\n'
)
CUDA = {"torch": "2.13.0+cu130"}


def on_h100(
    outputs: list[list[float]] | None = None, refusal: dict[str, Any] | None = None
) -> Callable[[Children], None]:
    """The children's answers as on one H100 (capability 9.0, TF32 at PyTorch's and JAX's defaults): each GPU
    experiment answers for cuda:0 / gpu:0 with `outputs` (the CPU's recorded ones when None), and a child without
    the workspace setting answers `refusal` (PyTorch's documented RuntimeError when None)."""

    def edit(children: Children) -> None:
        for framework, device, switches in (
            ("torch", "cuda:0", "torch.backends.cuda.matmul.allow_tf32=False, torch.backends.cudnn.allow_tf32=True"),
            ("jax", "gpu:0", "jax_default_matmul_precision=None"),
        ):
            cpu = results(children, framework, "golden_cpu")[0]["value"]
            rows = outputs if outputs is not None else cpu["outputs"]
            digest = cpu["digest"] if outputs is None else hashlib.sha256(np.float32(rows).tobytes()).hexdigest()
            gpu = {
                "device": device,
                "name": "NVIDIA H100 80GB HBM3",
                "capability": [9, 0],
                "tf32": True,
                "switches": switches,
                "outputs": rows,
                "digest": digest,
            }
            for result in results(children, framework, "gpu_golden"):
                result["value"] = [gpu]
            repeats = results(children, framework, "repeat")[0]["value"]["devices"]
            repeats.append({"device": device, "digests": [digest] * 5})
        first = next(b for b in children if b["framework"] == "torch" and b["module"] == "determinism")
        answer = refusal or {"device": "cuda:0", "raised": True, "error_type": "RuntimeError", "error": REFUSED}
        children.append(
            {
                **first,
                "env": [
                    ["GPUCONFORM_DETERMINISM_RUN", "no-workspace"],
                    ["GPUCONFORM_REFERENCE_MODEL", "<gpuconform>/data"],
                ],
                "results": [
                    first["results"][0],
                    {
                        "name": "cublas_without_workspace",
                        "ok": True,
                        "value": {"inherited": None, "gpus": [answer]},
                        "error_type": None,
                        "error": None,
                        "crash": None,
                    },
                ],
            }
        )

    return edit


def gpu_replay(tmp_path: Path, recorded: dict[str, Any], edit: Callable[[Children], None]) -> dict[str, Any]:
    facts = host(tmp_path, recorded, edit, gpus=H100, driver="580.65.06", tensorflow=False, versions=CUDA)
    _, got = replay(tmp_path, H100_PROFILE, facts)
    return got


def test_gpu_answers_that_match_and_pytorchs_documented_refusal_pass(recorded: dict[str, Any], tmp_path: Path) -> None:
    got = gpu_replay(tmp_path, recorded, on_h100())
    for check in (*TORCH.values(), *JAX.values(), AGREE):
        assert got[check]["outcome"] == "passed", got[check]


def test_a_cublas_call_that_runs_without_the_workspace_setting_fails_naming_the_setting(
    recorded: dict[str, Any], tmp_path: Path
) -> None:
    got = gpu_replay(tmp_path, recorded, on_h100(refusal={"device": "cuda:0", "raised": False}))
    refuses = got[TORCH["refuses"]]
    assert refuses["outcome"] == "failed"
    assert refuses["reason"] == (
        "a cuBLAS matrix multiply ran on cuda:0 under torch.use_deterministic_algorithms(True) without "
        "CUBLAS_WORKSPACE_CONFIG, instead of raising"
    )
    assert "found:    torch.mm returned a result" in refuses["message"]
    assert f"expected: RuntimeError: {REFUSAL} ..." in refuses["message"]
    assert refuses["remediation"].startswith("set CUBLAS_WORKSPACE_CONFIG=:4096:8 in every job")


def test_another_error_than_the_documented_refusal_fails_too(recorded: dict[str, Any], tmp_path: Path) -> None:
    oom = {"device": "cuda:0", "raised": True, "error_type": "OutOfMemoryError", "error": "CUDA out of memory."}
    got = gpu_replay(tmp_path, recorded, on_h100(refusal=oom))
    assert got[TORCH["refuses"]]["outcome"] == "failed"
    assert "found:    OutOfMemoryError: CUDA out of memory." in got[TORCH["refuses"]]["message"]


def test_wrong_outputs_on_a_gpu_fail_with_the_tf32_aware_tolerance(recorded: dict[str, Any], tmp_path: Path) -> None:
    got = gpu_replay(tmp_path, recorded, on_h100(outputs=[[0.25] * 4] * 8))
    torch = got[TORCH["gpu"]]
    assert torch["outcome"] == "failed"
    assert torch["reason"] == (
        "the reference model's outputs in PyTorch on cuda:0 (NVIDIA H100 80GB HBM3) differ from the goldens beyond "
        "rtol 0.01, atol 0.002"
    )
    assert (
        "TF32 allowed (torch.backends.cuda.matmul.allow_tf32=False, torch.backends.cudnn.allow_tf32=True)"
        in (torch["message"])
    )
    assert "and compute capability 9.0" in torch["message"]
    assert "torch.backends.cudnn.allow_tf32 = False gives full fp32" in torch["remediation"]
    jax = got[JAX["gpu"]]
    assert jax["outcome"] == "failed"
    assert "jax.config.update('jax_default_matmul_precision', 'highest') gives full fp32" in jax["remediation"]
    # The CPU agrees everywhere: the agreement is a CPU check and passes.
    assert got[AGREE]["outcome"] == "passed"


def test_a_gpu_profile_where_torch_lists_no_gpu_fails_the_gpu_golden_check(
    recorded: dict[str, Any], tmp_path: Path
) -> None:
    got = gpu_replay(tmp_path, recorded, lambda children: None)  # the CPU wheel's answers: no GPU
    golden = got[TORCH["gpu"]]
    assert golden["outcome"] == "failed"
    assert golden["reason"] == "PyTorch sees no GPU, so the reference model could not run on one"
    assert "framework::torch_sees_the_expected_gpus names the cause" in golden["remediation"]


# ---- the live run --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    """The layer's PyTorch, JAX and agreement checks on this CPU, with a profile that requires all three."""
    where = tmp_path_factory.mktemp("live")
    (where / "cpu.toml").write_text(cpu_profile())
    proc = pytest_run(where, "-m", "determinism", "-k", ONLY, "--host-profile", "cpu.toml")
    return proc, where


@WHEELS
def test_a_cpu_profile_requiring_all_three_frameworks_passes_with_their_real_children(
    live: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    proc, where = live
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert verdict_line(proc) == "host verdict: PASS (profile cpu-three)"
    got = checks(where)
    for check in (*(TORCH[k] for k in ("within", "across", "cpu")), *(JAX[k] for k in ("within", "across", "cpu"))):
        assert (got[check]["outcome"], got[check]["warnings"]) == ("passed", []), got[check]
    assert got[AGREE]["outcome"] == "passed"
    for check in GPU_ONLY:
        assert got[check]["reason"] == "not applicable: profile 'cpu-three' expects no GPU"


@WHEELS
def test_the_live_run_reports_how_far_each_framework_is_from_the_goldens_and_from_the_others(
    live: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    junit = ET.parse(live[1] / "reports" / "junit.xml").getroot()
    props = {
        (case.get("name"), p.get("name")): p.get("value")
        for case in junit.iter("testcase")
        for p in case.iter("property")
    }
    for name in ("test_torch_golden_outputs_match_on_the_cpu", "test_jax_golden_outputs_match_on_the_cpu"):
        assert float(str(props[(name, "gpuconform.measured.max_abs_diff")])) <= 1e-6
    agree = {k[1]: v for k, v in props.items() if k[0] == "test_frameworks_agree_on_the_reference_model"}
    pairs = {k: float(str(v)) for k, v in agree.items() if k.startswith("gpuconform.measured.max_abs_diff ")}
    assert set(pairs) == {
        f"gpuconform.measured.max_abs_diff {a} vs {b}"
        for a, b in (("TensorFlow", "PyTorch"), ("TensorFlow", "JAX"), ("PyTorch", "JAX"))
    }
    assert all(v <= 1e-6 for v in pairs.values()), pairs


@WHEELS
def test_the_children_ran_with_each_frameworks_determinism_switch(
    live: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    facts = json.loads((live[1] / "reports" / "facts.json").read_text())
    envs = {(b["framework"], dict(b["env"]).get("GPUCONFORM_DETERMINISM_RUN")): b for b in facts["observations"]}
    torch, jax = envs[("torch", None)], envs[("jax", None)]
    assert dict(torch["env"])["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
    assert dict(jax["env"])["XLA_FLAGS"] == "--xla_gpu_deterministic_ops=true"  # matrices/jax.toml for jax 0.10.2
    settings = {r["name"]: r["value"] for r in jax["results"]}["environment"]["settings"]
    assert ["XLA_FLAGS", "--xla_gpu_deterministic_ops=true"] in settings  # what the child itself read
    settings = {r["name"]: r["value"] for r in torch["results"]}["environment"]["settings"]
    assert ["torch.are_deterministic_algorithms_enabled()", "True"] in settings


@WHEELS
def test_the_committed_recording_has_the_shape_the_installed_wheels_answer_in(
    live: tuple[subprocess.CompletedProcess[str], Path], recorded: dict[str, Any]
) -> None:
    def shape(observations: list[dict[str, Any]]) -> set[tuple[str, str, tuple[tuple[str, str], ...], str]]:
        return {
            (b["framework"], r["name"], tuple(map(tuple, b["env"])), type(r["value"]).__name__)
            for b in observations
            if b["module"] == "determinism"
            for r in b["results"]
            if r["name"] != "__import__"
        }

    live_facts = json.loads((live[1] / "reports" / "facts.json").read_text())
    assert shape(live_facts["observations"]) == shape(recorded["observations"])


@WHEELS
def test_replaying_the_live_runs_facts_gives_every_check_its_live_outcome(
    live: tuple[subprocess.CompletedProcess[str], Path], tmp_path: Path
) -> None:
    facts = live[1] / "reports" / "facts.json"
    proc = pytest_run(tmp_path, "-m", "determinism", "-k", ONLY, "--host-facts", str(facts))
    assert verdict_line(proc) == verdict_line(live[0])
    live_checks, replayed = checks(live[1]), checks(tmp_path)
    for check in (*TORCH.values(), *JAX.values(), AGREE):
        assert replayed[check]["outcome"] == live_checks[check]["outcome"], replayed[check]
