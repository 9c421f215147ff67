"""Replaying a Facts file judges every layer: facts.json carries what the TensorFlow children observed.

Real pytest runs in subprocesses over the real suites/, as a user starts them (see
tests/test_plugin_cli.py): one live run of the TensorFlow layers with the cpu profile, then
``--host-facts reports/facts.json`` of it in another directory; GPU hosts written by hand or
described in the compact form (`gpuconform facts from-spec`) replayed on the t4 profile; and a
version-1 file, which records no children and replays as it always did.
"""

from __future__ import annotations

import importlib.resources
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import suites.test_framework as fw

from gpuconform.facts.observed import NvmlMemory
from gpuconform.facts.observed import ObservedBatch
from gpuconform.facts.observed import ObservedHold
from gpuconform.facts.observed import ObservedMemoryRun
from gpuconform.facts.observed import ObservedResult
from gpuconform.facts.serde import dump
from gpuconform.facts.serde import load
from gpuconform.frameworks.children import Batch
from gpuconform.frameworks.children import NotRecorded
from gpuconform.frameworks.children import Result
from gpuconform.frameworks.replay import LOG_CAP
from gpuconform.frameworks.replay import Replay
from gpuconform.frameworks.replay import cap_log
from gpuconform.frameworks.replay import observed_batch
from gpuconform.frameworks.tensorflow.framework import FRAMEWORK
from gpuconform.frameworks.tensorflow.log import parse_log
from gpuconform.plugin.keys import suites_dir
from gpuconform.probes.child import ChildResult
from gpuconform.probes.described import FRAMEWORK_ENV

SUITES = str(suites_dir())
TF_LAYERS = "framework or placement or memory or preprocessing or determinism"
IMPORTS = "framework::tensorflow_imports_as_the_installed_distribution"
LOADS = "framework::tensorflow_loads_every_gpu_library"
SEES = "framework::tensorflow_sees_the_expected_gpus"
DEFAULT_MODE = "memory::default_mode_reserves_most_of_the_gpu"
DETERMINISM = "determinism"
REFERENCE = "GPUCONFORM_REFERENCE_MODEL"
LIVE_ONLY = "not applicable: needs the live host (TensorFlow runs in child processes of the live host; "
#: Any framework's children: with torch or jax installed, a cpu run checks them too.
ANY_LIVE_ONLY = "not applicable: needs the live host ("
#: Checks of each TensorFlow layer that a live run judges from a child's answers.
NEED_A_CHILD = {
    IMPORTS,
    SEES,
    "placement::ops_placed_on_the_cpu_run_there",
    "memory::logical_devices_configured_before_initialisation_take_effect",
    "preprocessing::image_dataset_from_directory_names_classes_in_sorted_order",
    "determinism::repeated_inference_is_bitwise_equal",
}
CUINIT = (
    "E0000 00:00:1718000000.000001    4242 cuda_executor.cc:1309] failed call to cuInit: "
    "CUDA_ERROR_NO_DEVICE: no CUDA-capable device is detected"
)
CANNOT_DLOPEN = (
    "W0000 00:00:1718000000.000002    4242 gpu_device.cc:2344] Cannot dlopen some GPU libraries. Please make sure "
    "the missing libraries mentioned above are installed properly if you would like to use GPU. Skipping "
    "registering GPU devices..."
)
#: A T4 host as a bug report would describe it: TensorFlow saw its GPU (tests below edit what it saw).
T4_HOST = """\
[host]
name = "described-t4"

[[gpu]]
model = "t4"

[driver]
version = "550.54.15"

[tensorflow]
version = "2.21.0"

[tensorflow.observed]
"""


def pytest_run(where: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`pytest SUITES ARGS` started in `where`, as a user would, with none of our variables set."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GPUCONFORM_")}
    argv = [sys.executable, "-m", "pytest", SUITES, "-p", "no:cacheprovider", *args]
    return subprocess.run(argv, cwd=where, env=env, capture_output=True, text=True, timeout=900, check=False)


def checks(where: Path) -> dict[str, dict[str, Any]]:
    """check id -> its entry in the run's result.json."""
    result = json.loads((where / "reports" / "result.json").read_text())
    return {c["id"]: c for c in result["checks"]}


def verdict_line(proc: subprocess.CompletedProcess[str]) -> str:
    return proc.stdout.splitlines()[-1]


def describe(where: Path, observed: str) -> Path:
    """Expand the T4 host with `observed` as its [tensorflow.observed] table, through the command users run."""
    (where / "host.toml").write_text(T4_HOST + observed)
    argv = [sys.executable, "-m", "gpuconform", "facts", "from-spec", "host.toml", "-o", "facts.json"]
    proc = subprocess.run(argv, cwd=where, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    return where / "facts.json"


def edit_framework_child(facts_file: Path, log: str) -> None:
    """Hand-edit the recorded framework child: TensorFlow lists no GPU, and its log says `log`."""
    data = json.loads(facts_file.read_text())
    (child,) = [b for b in data["observations"] if b["module"] == fw.MODULE]
    devices = next(r for r in child["results"] if r["name"] == "devices")
    devices["value"] = {"physical": ["/physical_device:CPU:0"], "gpus": []}
    child["log"] = log + "\n"
    facts_file.write_text(json.dumps(data, indent=2))


# ---- a live run, and its replay ----------------------------------------------------------


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    """One live run of the TensorFlow layers with the cpu profile (its children run TensorFlow for real)."""
    where = tmp_path_factory.mktemp("live")
    return pytest_run(where, "-m", TF_LAYERS, "--host-profile", "cpu"), where


@pytest.fixture(scope="module")
def replayed(
    live: tuple[subprocess.CompletedProcess[str], Path], tmp_path_factory: pytest.TempPathFactory
) -> tuple[subprocess.CompletedProcess[str], Path]:
    """The same run replayed from the live run's facts.json, in another directory."""
    _, live_dir = live
    where = tmp_path_factory.mktemp("replay")
    facts = str(live_dir / "reports" / "facts.json")
    return pytest_run(where, "-m", TF_LAYERS, "--host-profile", "cpu", "--host-facts", facts), where


def test_a_live_run_records_every_tensorflow_child_it_started_in_facts_json(
    live: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    proc, where = live
    assert proc.returncode == 0, proc.stdout[-4000:]
    facts = json.loads((where / "reports" / "facts.json").read_text())
    recorded = {
        (b["module"], tuple(tuple(pair) for pair in b["env"]))
        for b in facts["observations"]
        if b["framework"] == "tensorflow"  # Keras 3's children per backend: tests/test_preprocessing_backends.py
    }
    # The verbose log is read only where the profile expects GPUs: on the cpu profile the framework child is
    # forked from the zygote every other layer uses, with no variable of its own.
    assert (fw.MODULE, ()) in recorded
    assert not any(dict(env).keys() & fw.VERBOSE.keys() for _, env in recorded)
    modules = {module for module, _ in recorded}
    layers = ("framework", "placement", "memory", "preprocessing", "determinism")
    assert modules == set(layers)  # experiments are named relative to their framework's package
    assert all(len(b["log"]) <= LOG_CAP for b in facts["observations"])


def test_replaying_a_live_runs_facts_elsewhere_gives_its_verdict_line(
    live: tuple[subprocess.CompletedProcess[str], Path], replayed: tuple[subprocess.CompletedProcess[str], Path]
) -> None:
    proc, _ = replayed
    assert proc.returncode == live[0].returncode, proc.stdout[-4000:]
    assert verdict_line(proc) == verdict_line(live[0]) == "host verdict: PASS (profile cpu)"


def test_replaying_a_live_runs_facts_gives_every_check_its_live_outcome_and_message(
    live: tuple[subprocess.CompletedProcess[str], Path], replayed: tuple[subprocess.CompletedProcess[str], Path]
) -> None:
    live_checks, replay_checks = checks(live[1]), checks(replayed[1])
    assert replay_checks.keys() == live_checks.keys()
    for check, entry in live_checks.items():
        got = replay_checks[check]
        assert (got["outcome"], got["reason"], got["message"]) == (entry["outcome"], entry["reason"], entry["message"])


def test_every_check_that_ran_live_is_judged_in_replay_not_skipped_as_live_only(
    live: tuple[subprocess.CompletedProcess[str], Path], replayed: tuple[subprocess.CompletedProcess[str], Path]
) -> None:
    live_checks, replay_checks = checks(live[1]), checks(replayed[1])
    judged = {check for check, c in live_checks.items() if c["outcome"] in ("passed", "failed", "xfailed", "error")}
    assert {c.split("::")[0] for c in judged} == {"framework", "placement", "memory", "preprocessing", "determinism"}
    assert {check for check in judged if replay_checks[check]["outcome"] == live_checks[check]["outcome"]} == judged
    assert [c["id"] for c in replay_checks.values() if "needs the live host" in (c["reason"] or "")] == []


def test_a_version_1_facts_file_still_skips_every_tensorflow_child_as_needing_the_live_host(
    live: tuple[subprocess.CompletedProcess[str], Path], tmp_path: Path
) -> None:
    facts = json.loads((live[1] / "reports" / "facts.json").read_text())
    old = tmp_path / "facts-v1.json"
    old.write_text(json.dumps(as_version_1(facts)))
    proc = pytest_run(tmp_path, "-m", TF_LAYERS, "--host-profile", "cpu", "--host-facts", str(old))
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert verdict_line(proc) == "host verdict: PASS (profile cpu)"
    replayed = checks(tmp_path)
    skipped = {check for check, c in replayed.items() if (c["reason"] or "").startswith(ANY_LIVE_ONLY)}
    assert skipped >= NEED_A_CHILD
    for check, entry in checks(live[1]).items():
        got = replayed[check]
        if check in skipped:
            assert got["outcome"] == "not-applicable", check
            assert got["reason"].endswith(f"is not recorded in {old})"), got["reason"]
        else:  # judged from the facts alone, as before version 2
            assert got["outcome"] == entry["outcome"], check


def test_a_0_1_0_facts_file_whose_framework_child_set_the_verbose_log_still_judges_the_framework_layer(
    live: tuple[subprocess.CompletedProcess[str], Path], tmp_path: Path
) -> None:
    # 0.1.0 set the verbose log on every profile; on one without GPUs no check reads it, so its child answers.
    facts = json.loads((live[1] / "reports" / "facts.json").read_text())
    (child,) = [b for b in facts["observations"] if b["framework"] == "tensorflow" and b["module"] == fw.MODULE]
    child["env"] = sorted([*child["env"], *(list(pair) for pair in fw.VERBOSE.items())])
    old = tmp_path / "facts-0.1.0.json"
    old.write_text(json.dumps(facts))
    proc = pytest_run(tmp_path, "-m", "framework", "--host-profile", "cpu", "--host-facts", str(old))
    assert proc.returncode == 0, proc.stdout[-4000:]
    live_checks, replayed = checks(live[1]), checks(tmp_path)
    for check in (IMPORTS, SEES):
        assert replayed[check]["outcome"] == live_checks[check]["outcome"] == "passed", replayed[check]
    assert [c for c, entry in replayed.items() if "needs the live host" in (entry["reason"] or "")] == []


def as_version_1(facts: dict[str, Any]) -> dict[str, Any]:
    """A version-2 Facts file as gpuconform wrote it before version 2: none of the keys version 2 added."""
    old = {k: v for k, v in facts.items() if k not in ("observations", "memory_runs", "toolchain")}
    old["schema_version"] = 1
    old["platform"] = {k: v for k, v in facts["platform"].items() if k != "container_runtime_error"}
    old["packages"] = {k: v for k, v in facts["packages"].items() if k != "tensorflow_distributions"}
    old["driver"] = {k: v for k, v in facts["driver"].items() if k != "kernel_log"}
    if facts.get("libraries"):
        libraries = []
        for lib in facts["libraries"]["libraries"]:
            lib = dict(lib)
            for key in ("candidates", "other_candidates"):
                lib[key] = [{k: v for k, v in c.items() if k not in ("origins", "driver_build")} for c in lib[key]]
            libraries.append(lib)
        old["libraries"] = {**facts["libraries"], "libraries": libraries}
    return old


# ---- GPU hosts written by hand or described ------------------------------------------------


def test_a_recorded_child_whose_cuinit_failed_fails_tensorflow_sees_the_expected_gpus(tmp_path: Path) -> None:
    facts = describe(tmp_path, "gpus = 1\n")
    edit_framework_child(facts, CUINIT)
    proc = pytest_run(tmp_path, "-m", "framework", "--host-profile", "t4", "--host-facts", str(facts))
    assert proc.returncode == 1, proc.stdout[-4000:]
    sees = checks(tmp_path)[SEES]
    assert sees["outcome"] == "failed"
    assert sees["reason"] == "TensorFlow sees 0 of the 1 GPU(s) expected: cuInit fails with CUDA_ERROR_NO_DEVICE"
    assert "found:    cuInit failed: CUDA_ERROR_NO_DEVICE: no CUDA-capable device is detected" in sees["message"]
    assert sees["remediation"].startswith("check CUDA_VISIBLE_DEVICES and the container's --gpus option")
    assert verdict_line(proc) == f"host verdict: FAIL at framework: {sees['reason']}"


def test_a_recorded_child_that_cannot_dlopen_the_gpu_libraries_fails_their_load_before_the_gpu_count(
    tmp_path: Path,
) -> None:
    # tensorflow_sees_the_expected_gpus depends on the load check: a log that says the libraries did not
    # load fails that check, and the GPU count is blocked by it (the user reads one cause, not two).
    facts = describe(tmp_path, "gpus = 1\n")
    edit_framework_child(facts, CANNOT_DLOPEN)
    proc = pytest_run(tmp_path, "-m", "framework", "--host-profile", "t4", "--host-facts", str(facts))
    assert proc.returncode == 1, proc.stdout[-4000:]
    got = checks(tmp_path)
    assert got[LOADS]["outcome"] == "failed"
    assert got[LOADS]["reason"].startswith("tensorflow 2.21.0 could not dlopen some GPU libraries")
    assert got[SEES]["outcome"] == "blocked"
    assert got[SEES]["reason"].startswith(f"blocked by {LOADS}: tensorflow 2.21.0 could not dlopen some GPU libraries")


def test_a_described_host_whose_tensorflow_saw_no_gpu_fails_tensorflow_sees_the_expected_gpus(tmp_path: Path) -> None:
    facts = describe(tmp_path, f"gpus = 0\nlog = [{json.dumps(CUINIT)}]\n")
    proc = pytest_run(tmp_path, "-m", "framework", "--host-profile", "t4", "--host-facts", str(facts))
    assert proc.returncode == 1, proc.stdout[-4000:]
    got = checks(tmp_path)
    assert got[IMPORTS]["outcome"] == "passed"
    assert got[SEES]["outcome"] == "failed"
    assert got[SEES]["reason"] == "TensorFlow sees 0 of the 1 GPU(s) expected: cuInit fails with CUDA_ERROR_NO_DEVICE"


def test_an_experiment_a_described_child_does_not_mention_skips_its_checks_as_needing_the_live_host(
    tmp_path: Path,
) -> None:
    facts = describe(tmp_path, "gpus = 1\n")
    proc = pytest_run(tmp_path, "-m", "framework", "--host-profile", "t4", "--host-facts", str(facts))
    assert proc.returncode == 0, proc.stdout[-4000:]
    got = checks(tmp_path)
    assert got[SEES]["outcome"] == "passed"
    mapped = got["framework::tensorflow_maps_the_libraries_the_libraries_layer_checked"]
    assert mapped["outcome"] == "not-applicable"
    assert mapped["reason"] == (
        f"{LIVE_ONLY}experiment 'gpu_init' of this child ({fw.MODULE}) is not recorded in {facts})"
    )


def test_a_recorded_memory_run_is_judged_as_the_live_one_was(tmp_path: Path) -> None:
    facts_file = describe(tmp_path, "gpus = 1\n")
    data = json.loads(facts_file.read_text())
    data["memory_runs"] = [dump(busy_t4_default_run())]
    facts_file.write_text(json.dumps(data, indent=2))
    proc = pytest_run(tmp_path, "-m", "framework or memory", "--host-profile", "t4", "--host-facts", str(facts_file))
    assert proc.returncode == 1, proc.stdout[-4000:]
    got = checks(tmp_path)
    assert got[DEFAULT_MODE]["outcome"] == "failed"
    assert got[DEFAULT_MODE]["reason"] == (
        "by default TensorFlow reserved only 2312 MiB of GPU 0 (Tesla T4)'s 15360 MiB: "
        "other processes already held 12288 MiB before TensorFlow started (pid 900: 12288 MiB)"
    )
    growth = got["memory::memory_growth_keeps_a_small_footprint[set_memory_growth]"]
    module = "gpuconform.frameworks.tensorflow.experiments.memory"
    unrecorded = f"this memory run (1 {module} child(ren) in mode 'set_memory_growth' on GPU 0)"
    assert growth["outcome"] == "not-applicable"
    assert growth["reason"] == f"{LIVE_ONLY}{unrecorded} is not recorded in {facts_file})"


def busy_t4_default_run() -> ObservedMemoryRun:
    """The default-mode run of tests/data/tf_outputs/t4_memory_default_busy.json, as facts.json records one."""
    recording = json.loads((Path(__file__).parent / "data" / "tf_outputs" / "t4_memory_default_busy.json").read_text())
    run = recording["run"]
    children = tuple(ObservedHold(c["pid"], True, c["report"], c["problem"], c["log_text"]) for c in run["children"])
    env = (("CUDA_DEVICE_ORDER", "PCI_BUS_ID"), ("CUDA_VISIBLE_DEVICES", "0"), ("TF_CPP_MIN_LOG_LEVEL", "0"))
    return ObservedMemoryRun(
        "tensorflow",
        "memory",
        "default",
        0,
        env,
        None,
        children,
        before=load(NvmlMemory, run["before"], "t4_memory_default_busy.json"),
        during=load(NvmlMemory, run["during"], "t4_memory_default_busy.json"),
    )


# ---- the pieces ---------------------------------------------------------------------------


def test_the_described_framework_child_has_the_environment_the_framework_layer_asks_for() -> None:
    # Described hosts are GPU hosts: the framework layer asks for the verbose log where the profile expects GPUs.
    assert tuple(sorted(fw.FRAMEWORK_CHILD.args(gpus=True)[2].items())) == FRAMEWORK_ENV
    assert fw.FRAMEWORK_CHILD.args(gpus=False)[2] == {}


def test_a_capped_log_keeps_its_tail_and_every_line_the_checks_read() -> None:
    missing = "W tensorflow/tsl/platform/default/dso_loader.cc:78] Could not load dynamic library 'libcudnn.so.9'; "
    missing += "dlerror: libcudnn.so.9: cannot open shared object file: No such file or directory\n"
    noise = "I0000 00:00:1718000000.000000 4242 some_module.cc:1] an ordinary VLOG(1) line\n"
    text = missing + noise * 20000 + CANNOT_DLOPEN + "\n" + noise * 10 + "the last line\n"
    capped = cap_log(text, FRAMEWORK.landmark)
    assert len(text) > 10 * LOG_CAP
    assert len(capped) <= LOG_CAP
    assert capped.endswith(noise * 10 + "the last line\n")
    assert parse_log(capped) == parse_log(text)
    assert cap_log(noise, FRAMEWORK.landmark) == noise


def test_a_recorded_child_names_gpuconforms_own_directory_so_it_replays_wherever_gpuconform_is_installed() -> None:
    here = str(importlib.resources.files("gpuconform"))
    child = ChildResult(("python",), 0, "", "")
    live = Batch(DETERMINISM, ((REFERENCE, f"{here}/data"),), {"golden_cpu": Result("golden_cpu", True, [1])}, child)
    assert observed_batch(live, "tensorflow").env == ((REFERENCE, "<gpuconform>/data"),)


def test_a_recorded_child_is_found_by_its_module_experiments_and_environment() -> None:
    here = str(importlib.resources.files("gpuconform"))
    answers = (ObservedResult("__import__", ok=True), ObservedResult("golden_cpu", ok=True, value=[1]))
    recorded = ObservedBatch("tensorflow", DETERMINISM, ((REFERENCE, "<gpuconform>/data"),), answers)
    replay = Replay("facts.json", "tensorflow", (recorded,))
    assert replay.find(DETERMINISM, ["golden_cpu"], {REFERENCE: f"{here}/data"}) == recorded
    assert replay.find(DETERMINISM, ["golden_cpu"], {REFERENCE: "/a/model/of/my/own"}) is None
    assert replay.find(DETERMINISM, ["repeat"], {REFERENCE: f"{here}/data"}) is None
    assert replay.find(fw.MODULE, ["golden_cpu"], {REFERENCE: f"{here}/data"}) is None


def test_a_facts_file_with_no_memory_runs_says_which_run_it_lacks() -> None:
    replay = Replay("facts.json", "tensorflow")
    module = "gpuconform.frameworks.tensorflow.experiments.memory"
    with pytest.raises(NotRecorded) as caught:
        replay.memory_run("memory", "default", 0, {}, 1, None)
    assert str(caught.value) == (
        f"this memory run (1 {module} child(ren) in mode 'default' on GPU 0) is not recorded in facts.json"
    )
