"""Keras 3 under each backend in the preprocessing layer: real children here, and each check failing as a user reads it.

Live, one run of the Keras checks with HOME an empty directory: a Keras child per installed
backend (KERAS_BACKEND=tensorflow always, torch and jax where their wheels are installed; the
+cpu wheel and jax[cpu] will do) runs the load_img behaviours and the preprocessing layers, and
each backend's checks pass (or xfail, as the matrix's known regressions); an absent backend's do
not apply. What such a run recorded is committed (tests/data/keras_backends/cpu-wheels.json), so
that everywhere a described host carries those answers, edited one at a time, replayed with
`--host-facts` as a user reproduces a broken host.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gpuconform.expect.tables.keras_preprocessing import load_keras_matrix
from gpuconform.plugin.keys import suites_dir

RECORDED = Path(__file__).parent / "data" / "keras_backends" / "cpu-wheels.json"
SUITES = str(suites_dir())
#: The Keras 3 checks of the preprocessing layer (not tf.keras's, nor keras-preprocessing's).
ONLY = "keras_runs or keras_imports or keras_load or keras_preprocessing_layer or keras_text"
BACKENDS = ("tensorflow", "torch", "jax")
LAYERS = ("rescaling", "normalization", "center_crop", "resizing_bilinear", "resizing_nearest")
RUNS_ON = "preprocessing::keras_runs_on_the_requested_backend[{}]"
DEFAULT = "preprocessing::keras_imports_with_this_hosts_backend_settings"
LAYER = "preprocessing::keras_preprocessing_layer_agrees_with_numpy[{}-{}]"
CPU_PROFILE = '[profile]\nname = "cpu-keras"\ndescription = "no GPU; Keras 3 on its backends"\n[gpus]\ncount = 0\n'
#: What keras 3.15.1 raises with KERAS_BACKEND=torhc (keras/src/backend/__init__.py), as run here.
TYPO = "Unable to import backend : torhc"
NAMES = {"tensorflow": "TensorFlow", "torch": "PyTorch", "jax": "JAX"}


def installed(backend: str) -> bool:
    return importlib.util.find_spec(backend) is not None


def pytest_run(where: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`pytest SUITES ARGS` started in `where`, as a user would, with none of our variables set."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("GPUCONFORM_", "KERAS_"))}
    argv = [sys.executable, "-m", "pytest", SUITES, "-p", "no:cacheprovider", "-m", "preprocessing", "-k", ONLY, *args]
    return subprocess.run(
        argv, cwd=where, env={**base, **(env or {})}, capture_output=True, text=True, timeout=900, check=False
    )


def checks(where: Path) -> dict[str, dict[str, Any]]:
    result = json.loads((where / "reports" / "result.json").read_text())
    return {c["id"]: c for c in result["checks"]}


def verdict_line(proc: subprocess.CompletedProcess[str]) -> str:
    return proc.stdout.splitlines()[-1]


# ---- the live run ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path, Path]:
    """The Keras checks on this CPU, HOME an empty directory (Keras writes ~/.keras/keras.json when it finds none)."""
    where, home = tmp_path_factory.mktemp("live"), tmp_path_factory.mktemp("home")
    (where / "cpu.toml").write_text(CPU_PROFILE)
    proc = pytest_run(where, "--host-profile", "cpu.toml", env={"HOME": str(home)})
    return proc, where, home


def test_each_installed_backend_runs_the_keras_behaviours_for_real(
    live: tuple[subprocess.CompletedProcess[str], Path, Path],
) -> None:
    proc, where, _ = live
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert verdict_line(proc) == "host verdict: PASS (profile cpu-keras)"
    got = checks(where)
    assert got[DEFAULT]["outcome"] == "passed"
    for backend in BACKENDS:
        ours = {k: c for k, c in got.items() if k.endswith(f"[{backend}]") or f"[{backend}-" in k}
        assert len(ours) == 26, sorted(ours)
        if not installed(backend):
            reason = f"not applicable: {NAMES[backend]} is not installed, and profile 'cpu-keras' does not require it"
            assert {(c["outcome"], c["reason"]) for c in ours.values()} == {("not-applicable", reason)}
            continue
        assert got[RUNS_ON.format(backend)]["outcome"] == "passed"
        for layer in LAYERS:
            assert got[LAYER.format(backend, layer)]["outcome"] == "passed"
        # The matrix's known regressions of Keras 3's load_img (file-like objects) hold on every backend.
        outcomes = {c["outcome"] for c in ours.values()}
        assert outcomes <= {"passed", "xfailed", "not-applicable"}, ours
        assert got[f"preprocessing::keras_load_img_reads_an_image_from[{backend}-binary_file]"]["outcome"] == "xfailed"
        assert all(c["warnings"] == [] for c in ours.values())


def test_the_run_writes_nothing_into_home(live: tuple[subprocess.CompletedProcess[str], Path, Path]) -> None:
    proc, _, home = live
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert list(home.iterdir()) == []


def test_facts_json_records_one_keras_child_per_backend_keyed_by_keras_backend(
    live: tuple[subprocess.CompletedProcess[str], Path, Path],
) -> None:
    facts = json.loads((live[1] / "reports" / "facts.json").read_text())
    keras = {(b["module"], tuple(map(tuple, b["env"]))): b for b in facts["observations"] if b["framework"] == "keras"}
    assert ("backend", ()) in keras  # the host's own settings: no KERAS_BACKEND added
    for backend in (b for b in BACKENDS if installed(b)):
        # One child per backend: it says which backend it runs on, then runs the behaviours.
        child = keras["preprocessing", (("KERAS_BACKEND", backend),)]
        assert [r["name"] for r in child["results"]][:2] == ["__import__", "backend"]
        answer = next(r for r in child["results"] if r["name"] == "backend")
        assert (answer["value"]["backend"], answer["value"]["requested"]) == (backend, backend)
        assert ("backend", (("KERAS_BACKEND", backend),)) not in keras


# ---- replayed: a described host with the recorded children's answers, one edited --------------


@pytest.fixture(scope="module")
def recorded() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(RECORDED.read_text())
    return data


Edit = Callable[[dict[tuple[str, str], dict[str, Any]]], None]


def host(where: Path, recorded: dict[str, Any], edit: Edit = lambda batches: None, keras: str = "3.15.1") -> None:
    """A described CPU host with TensorFlow 2.21.0 and keras `keras`, the recorded packages (Pillow, torch, jax)
    beside them, and the recorded Keras children, which `edit` gets keyed by (module, KERAS_BACKEND or "")."""
    spec = '[host]\nname = "described-cpu"\n[tensorflow]\ndistribution = "tensorflow-cpu"\nversion = "2.21.0"\n'
    (where / "host.toml").write_text(spec + f'keras = "{keras}"\n')
    argv = [sys.executable, "-m", "gpuconform", "facts", "from-spec", "host.toml", "-o", "facts.json"]
    done = subprocess.run(argv, cwd=where, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    data = json.loads((where / "facts.json").read_text())
    others = [p for p in recorded["packages"] if p["name"] in ("pillow", "torch", "jax")]
    data["packages"]["others"] = [*data["packages"]["others"], *copy.deepcopy(others)]
    batches = {(b["module"], dict(map(tuple, b["env"])).get("KERAS_BACKEND", "")): b for b in recorded["observations"]}
    batches = copy.deepcopy(batches)
    edit(batches)
    data["observations"] = [*data["observations"], *batches.values()]
    (where / "facts.json").write_text(json.dumps(data, indent=2))


def replay(where: Path, frameworks: str = "") -> tuple[subprocess.CompletedProcess[str], dict[str, dict[str, Any]]]:
    (where / "cpu.toml").write_text(CPU_PROFILE + (f"[frameworks]\n{frameworks}" if frameworks else ""))
    proc = pytest_run(where, "--host-profile", "cpu.toml", "--host-facts", "facts.json")
    return proc, checks(where)


def answer(batch: dict[str, Any], name: str) -> Any:
    return next(r for r in batch["results"] if r["name"] == name)


def test_the_recorded_children_replay_with_their_live_outcomes(recorded: dict[str, Any], tmp_path: Path) -> None:
    host(tmp_path, recorded)
    proc, got = replay(tmp_path)
    assert verdict_line(proc) == "host verdict: PASS (profile cpu-keras)", proc.stdout[-4000:]
    for backend in BACKENDS:
        assert got[RUNS_ON.format(backend)]["outcome"] == "passed"
        assert got[LAYER.format(backend, "resizing_nearest")]["outcome"] == "passed"


def test_keras_on_another_backend_than_requested_fails_naming_the_variable_and_keras_json(
    recorded: dict[str, Any], tmp_path: Path
) -> None:
    def imported_first(batches: dict[tuple[str, str], dict[str, Any]]) -> None:
        answer(batches["preprocessing", "torch"], "backend")["value"].update(
            backend="tensorflow", config_backend="tensorflow"
        )

    host(tmp_path, recorded, imported_first)
    proc, got = replay(tmp_path, 'tensorflow = "*"\ntorch = "*"\n')
    assert proc.returncode == 1, proc.stdout[-4000:]
    check = got[RUNS_ON.format("torch")]
    assert check["outcome"] == "failed"
    assert check["reason"] == (
        "Keras runs on 'tensorflow', not on the 'torch' that KERAS_BACKEND asked for before it imported"
    )
    assert (
        "found:    keras.backend.backend() = 'tensorflow'; KERAS_BACKEND = 'torch' in the child; "
        "keras.json's backend = 'tensorflow'" in check["message"]
    )
    assert "set KERAS_BACKEND before the first import keras" in check["remediation"]
    assert got[RUNS_ON.format("jax")]["outcome"] == "passed"


def test_a_backend_the_profile_does_not_require_warns_instead_of_failing(
    recorded: dict[str, Any], tmp_path: Path
) -> None:
    def off_by_one(batches: dict[tuple[str, str], dict[str, Any]]) -> None:
        for record in answer(batches["preprocessing", "jax"], "layers")["value"]:
            if record["behaviour"] == "layers.resizing_nearest":
                record["measures"]["max_abs_vs_numpy"] = 37.0

    host(tmp_path, recorded, off_by_one)
    proc, got = replay(tmp_path)  # no [frameworks] table: TensorFlow required, jax only installed
    assert verdict_line(proc) == "host verdict: PASS (profile cpu-keras, 1 warning(s))", proc.stdout[-4000:]
    check = got[LAYER.format("jax", "resizing_nearest")]
    assert check["outcome"] == "passed"
    (warning,) = check["warnings"]
    row = load_keras_matrix().lookup("layers.resizing_nearest", "keras", "3.15.1")
    assert row is not None
    assert warning["summary"] == (
        "keras.layers.Resizing(interpolation='nearest') halving an image, against every other pixel changed with "
        f"keras 3.15.1 on the jax backend: it no longer behaves as {row.key} of the matrix says"
    )
    assert "max_abs_vs_numpy: expected within [0, 0], found 37" in warning["found"]
    assert "(a warning: installed, not required by" in warning["why"]


def test_a_layer_that_differs_under_a_required_backend_fails_naming_the_backend_and_the_matrix_row(
    recorded: dict[str, Any], tmp_path: Path
) -> None:
    def off_by_one(batches: dict[tuple[str, str], dict[str, Any]]) -> None:
        for record in answer(batches["preprocessing", "jax"], "layers")["value"]:
            if record["behaviour"] == "layers.resizing_nearest":
                record["measures"]["max_abs_vs_numpy"] = 37.0

    host(tmp_path, recorded, off_by_one)
    proc, got = replay(tmp_path, 'tensorflow = "*"\njax = "*"\n')
    assert proc.returncode == 1, proc.stdout[-4000:]
    check = got[LAYER.format("jax", "resizing_nearest")]
    assert check["outcome"] == "failed"
    row = load_keras_matrix().lookup("layers.resizing_nearest", "keras", "3.15.1")
    assert row is not None
    assert check["reason"].endswith(f"on the jax backend: it no longer behaves as {row.key} of the matrix says")
    assert "in a Keras child with KERAS_BACKEND=jax" in check["message"]
    assert check["remediation"].startswith("update the matrix or pin: if keras 3.15.1 on the jax backend is meant")
    assert got[LAYER.format("tensorflow", "resizing_nearest")]["outcome"] == "passed"


def test_a_keras_backend_setting_that_names_no_backend_fails_with_keras_own_words(
    recorded: dict[str, Any], tmp_path: Path
) -> None:
    def typo(batches: dict[tuple[str, str], dict[str, Any]]) -> None:
        batch = batches["backend", ""]
        batch["results"] = [
            {"name": "__import__", "ok": False, "value": None, "error_type": "ValueError", "error": TYPO, "crash": None}
        ]

    host(tmp_path, recorded, typo)
    proc, got = replay(tmp_path)
    assert proc.returncode == 1, proc.stdout[-4000:]
    check = got[DEFAULT]
    assert check["outcome"] == "failed"
    assert check["reason"] == f"import keras fails with this host's backend settings: ValueError: {TYPO}"
    assert check["remediation"] == (
        'correct KERAS_BACKEND (echo $KERAS_BACKEND) or keras.json\'s "backend" to an installed backend, '
        "e.g. export KERAS_BACKEND=tensorflow"
    )
    assert verdict_line(proc) == f"host verdict: FAIL at preprocessing: {check['reason']}"
    for backend in BACKENDS:  # KERAS_BACKEND set explicitly, each backend still runs
        assert got[RUNS_ON.format(backend)]["outcome"] == "passed"


def test_keras_killed_while_importing_on_one_backend_fails_that_backend_and_blocks_its_behaviours(
    recorded: dict[str, Any], tmp_path: Path
) -> None:
    # keras/src/backend/__init__.py imports torch first "otherwise it will segfault upon import": a child
    # that dies of SIGSEGV while importing, as a recorded crash says it.
    def crashed(batches: dict[tuple[str, str], dict[str, Any]]) -> None:
        died = {"results": [], "returncode": -11, "log": "Fatal Python error: Segmentation fault\n"}
        batches["preprocessing", "torch"].update(died)

    host(tmp_path, recorded, crashed)
    proc, got = replay(tmp_path, 'tensorflow = "*"\ntorch = "*"\n')
    assert proc.returncode == 1, proc.stdout[-4000:]
    check = got[RUNS_ON.format("torch")]
    assert check["outcome"] == "failed"
    assert check["reason"].startswith("import keras fails with KERAS_BACKEND=torch: signal: killed by SIGSEGV")
    assert "Fatal Python error: Segmentation fault" in check["message"]
    layer = got[LAYER.format("torch", "rescaling")]
    assert (layer["outcome"], layer["blocked_by"]) == ("blocked", RUNS_ON.format("torch"))
    assert got[LAYER.format("jax", "rescaling")]["outcome"] == "passed"


def test_a_required_torch_that_does_not_import_blocks_keras_on_torch_by_its_own_import_check(
    recorded: dict[str, Any], tmp_path: Path
) -> None:
    # torch's own child and Keras's torch child both killed while importing torch: the root is the framework
    # layer's import check, and the Keras checks on torch are blocked by it, not failing beside it.
    died = {"results": [], "returncode": -11, "log": "Fatal Python error: Segmentation fault\n"}

    def crashed(batches: dict[tuple[str, str], dict[str, Any]]) -> None:
        batches["preprocessing", "torch"].update(copy.deepcopy(died))
        torch_child = {"framework": "torch", "module": "framework", "env": [], "timed_out": False}
        batches["framework", "torch-child"] = {**torch_child, **copy.deepcopy(died)}

    host(tmp_path, recorded, crashed)
    (tmp_path / "cpu.toml").write_text(CPU_PROFILE + '[frameworks]\ntensorflow = "*"\ntorch = "*"\n')
    imports = "framework::torch_imports_as_the_installed_distribution"
    layers = ("-m", "framework or preprocessing", "-k", f"{ONLY} or torch_imports")  # the last -m and -k count
    proc = pytest_run(tmp_path, *layers, "--host-profile", "cpu.toml", "--host-facts", "facts.json")
    got = checks(tmp_path)
    assert proc.returncode == 1, proc.stdout[-4000:]
    assert got[imports]["outcome"] == "failed", got[imports]
    for check in (RUNS_ON.format("torch"), LAYER.format("torch", "rescaling")):
        assert (got[check]["outcome"], got[check]["blocked_by"]) == ("blocked", imports), got[check]
    assert f"root check: {imports}" in proc.stdout
    assert got[RUNS_ON.format("jax")]["outcome"] == "passed"


def test_keras_2_has_no_backends_to_check(recorded: dict[str, Any], tmp_path: Path) -> None:
    host(tmp_path, recorded, keras="2.15.0")
    proc, got = replay(tmp_path)
    reason = "not applicable: keras 2.15.0 is Keras 2, which runs on TensorFlow alone; the backends are Keras 3's"
    assert (got[DEFAULT]["outcome"], got[DEFAULT]["reason"]) == ("not-applicable", reason)
    assert {got[RUNS_ON.format(b)]["reason"] for b in BACKENDS} == {reason}


def raises(record: dict[str, Any]) -> None:
    record.update(outcome="raises", error_type="OSError", error="image file is truncated", values={})


def succeeds(record: dict[str, Any]) -> None:
    record.update(outcome="ok", values={"shape": [48, 64, 3]})
    record.pop("error_type", None)
    record.pop("error", None)


#: Each Keras behaviour check not shown failing above: (experiment, behaviour, how a broken Keras answers).
BROKEN: dict[str, tuple[str, str, Callable[[dict[str, Any]], None]]] = {
    "keras_load_img_reads_an_image_from[torch-str_path]": ("load_img_inputs", "load_img.str_path", raises),
    "keras_load_img_resizes_like_pil_with[torch-bilinear]": (
        "interpolations", "load_img.interpolation.bilinear", lambda r: r["values"].update(matches_pil=False)
    ),
    "keras_load_img_uses_its_documented_default_interpolation[torch]": (
        "interpolations", "load_img.default_interpolation", lambda r: r["values"].update(default="bilinear")
    ),
    "keras_load_img_refuses_an_unknown_interpolation[torch]": (
        "interpolations", "load_img.unknown_interpolation", succeeds
    ),
    "keras_load_img_on_a_truncated_image_fails_where_the_matrix_says[torch-jpeg]": (
        "truncated_images", "truncated_jpeg.load_img", succeeds
    ),
    "keras_load_img_with_target_size_on_a_truncated_image_fails_where_the_matrix_says[torch-png]": (
        "truncated_images", "truncated_png.load_img_target_size", succeeds
    ),
    "keras_load_truncated_images_lets_pil_read_a_truncated_image[torch-jpeg]": (
        "truncated_images", "truncated_jpeg.load_truncated_images", raises
    ),
    "keras_text_vectorization_maps_words_to_ids[torch]": (
        "layers", "layers.text_vectorization", lambda r: r["values"].update(ids=[2, 1, 1])
    ),
}


@pytest.mark.parametrize("check", list(BROKEN))
def test_each_keras_behaviour_that_breaks_under_a_required_backend_fails_naming_it_and_its_matrix_row(
    check: str, recorded: dict[str, Any], tmp_path: Path
) -> None:
    experiment, behaviour, breaks = BROKEN[check]

    def broken(batches: dict[tuple[str, str], dict[str, Any]]) -> None:
        records = answer(batches["preprocessing", "torch"], experiment)["value"]
        (record,) = [r for r in records if r["behaviour"] == behaviour]
        breaks(record)

    host(tmp_path, recorded, broken)
    proc, got = replay(tmp_path, 'tensorflow = "*"\ntorch = "*"\n')
    assert proc.returncode == 1, proc.stdout[-4000:]
    failed = got[f"preprocessing::{check}"]
    assert failed["outcome"] == "failed", failed
    row = load_keras_matrix().lookup(behaviour, "keras", "3.15.1")
    assert row is not None
    says = f"with keras 3.15.1 on the torch backend: it no longer behaves as {row.key} of the matrix says"
    assert failed["reason"].endswith(says), failed["reason"]
    assert "in a Keras child with KERAS_BACKEND=torch" in failed["message"]
    assert failed["remediation"].startswith("update the matrix or pin: if keras 3.15.1 on the torch backend is meant")
    assert verdict_line(proc) == f"host verdict: FAIL at preprocessing: {failed['reason']}"
    assert got[f"preprocessing::{check.replace('[torch', '[tensorflow')}"]["outcome"] == "passed"


def default_on_jax(batches: dict[tuple[str, str], dict[str, Any]]) -> None:
    """What the default child answered here under KERAS_BACKEND=jax (TensorFlow 2.21, Keras 3.15.1)."""
    answer(batches["backend", ""], "backend")["value"].update(backend="jax", requested="jax")


def test_a_host_whose_settings_put_tf_keras_on_jax_passes_with_a_warning_for_its_tensorflow_programs(
    recorded: dict[str, Any], tmp_path: Path
) -> None:
    host(tmp_path, recorded, default_on_jax)
    proc, got = replay(tmp_path)
    assert verdict_line(proc) == "host verdict: PASS (profile cpu-keras, 1 warning(s))", proc.stdout[-4000:]
    (warning,) = got[DEFAULT]["warnings"]
    assert warning["summary"] == (
        "tf.keras runs on 'jax' on this host, not on TensorFlow: a TensorFlow program that calls a Keras model on "
        "tf.Tensors (in a tf.function, a tf.data map, a SavedModel export) fails"
    )
    assert warning["found"] == (
        "keras.backend.backend() = 'jax'; KERAS_BACKEND = 'jax'; keras.json's backend = 'tensorflow'"
    )
    assert "Cannot convert a symbolic tf.Tensor (images:0) to a numpy array" in warning["why"]
    assert warning["fix"].startswith("export KERAS_BACKEND=tensorflow for TensorFlow programs")


def test_tf_keras_on_keras_2_or_tf_keras_gets_no_warning_whatever_keras_backend_says(
    recorded: dict[str, Any], tmp_path: Path
) -> None:
    host(tmp_path, recorded, default_on_jax)
    data = json.loads((tmp_path / "facts.json").read_text())
    data["platform"]["environment"] = [*data["platform"]["environment"], ["TF_USE_LEGACY_KERAS", "1"]]
    (tmp_path / "facts.json").write_text(json.dumps(data))
    proc, got = replay(tmp_path)
    assert verdict_line(proc) == "host verdict: PASS (profile cpu-keras)", proc.stdout[-4000:]
    assert got[DEFAULT]["warnings"] == []


def test_a_keras_that_does_not_import_under_the_hosts_settings_blocks_the_tf_keras_checks(
    recorded: dict[str, Any], tmp_path: Path
) -> None:
    # KERAS_BACKEND=numpy without scipy, as this machine answered: tf.keras is that keras, so every tf.keras
    # behaviour raises "Keras cannot be imported"; the root is the settings check, once.
    error_type, error = "ModuleNotFoundError", "No module named 'scipy'"

    def no_scipy(batches: dict[tuple[str, str], dict[str, Any]]) -> None:
        failed = {"name": "__import__", "ok": False, "value": None, "crash": None}
        batches["backend", ""]["results"] = [{**failed, "error_type": error_type, "error": error}]

    host(tmp_path, recorded, no_scipy)
    (tmp_path / "cpu.toml").write_text(CPU_PROFILE)
    only = ("-k", "keras_imports or test_load_img_reads_an_image_from")  # the last -k counts
    proc = pytest_run(tmp_path, *only, "--host-profile", "cpu.toml", "--host-facts", "facts.json")
    got = checks(tmp_path)
    assert proc.returncode == 1, proc.stdout[-4000:]
    assert got[DEFAULT]["reason"] == f"import keras fails with this host's backend settings: {error_type}: {error}"
    tf_keras = got["preprocessing::load_img_reads_an_image_from[str_path]"]
    assert (tf_keras["outcome"], tf_keras["blocked_by"]) == ("blocked", DEFAULT), tf_keras
    assert verdict_line(proc) == f"host verdict: FAIL at preprocessing: {got[DEFAULT]['reason']}"
