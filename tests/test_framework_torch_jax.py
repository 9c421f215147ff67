"""PyTorch and JAX in the framework layer: real children on this CPU, and each GPU-side failure as a user reads it.

Where torch and jax are installed (the +cpu wheel and jax[cpu] will do), one live run of the
framework layer with a CPU profile whose `[frameworks]` table names them: their children import
the real wheels and the checks pass or do not apply, honestly, and facts.json records those
children by framework id. What such a run recorded is committed
(tests/data/framework_children/cpu-wheels.json), so that everywhere the GPU hosts below are
described hosts (`gpuconform facts from-spec`) carrying those answers, with only the
hardware-facing fields changed (what CUDA build, which GPUs torch and JAX counted, what they
warned), replayed with `--host-facts` as a user reproduces a broken host.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gpuconform.expect.framework_tables import load_framework_tables
from gpuconform.plugin.keys import suites_dir

#: The live runs need the real wheels (found without importing them: this process imports neither).
WHEELS = pytest.mark.skipif(
    importlib.util.find_spec("torch") is None or importlib.util.find_spec("jax") is None,
    reason="the live children need torch and jax: pip install torch 'jax[cpu]' (the +cpu wheel will do)",
)
RECORDED = Path(__file__).parent / "data" / "framework_children" / "cpu-wheels.json"

SUITES = str(suites_dir())
ONLY = "torch or jax"
TORCH = {
    "imports": "framework::torch_imports_as_the_installed_distribution",
    "build": "framework::torch_build_can_use_the_gpu",
    "driver": "framework::torch_cuda_build_runs_on_this_driver",
    "kernels": "framework::torch_build_has_kernels_for_each_gpu",
    "sees": "framework::torch_sees_the_expected_gpus",
}
JAX = {
    "imports": "framework::jax_imports_as_the_installed_distribution",
    "build": "framework::jax_build_can_use_the_gpu",
    "versions": "framework::jaxlib_and_its_cuda_plugin_versions_match",
    "driver": "framework::jax_cuda_plugin_runs_on_this_driver",
    "sees": "framework::jax_sees_the_expected_gpus",
    "starts": "framework::jax_starts_a_backend_under_this_hosts_settings",
}
#: The described hosts' GPU: an H100 SXM (a key of matrices/gpus.toml; the profiles call it "h100").
H100 = '[[gpu]]\nmodel = "h100-sxm"\n'
FRAMEWORKS = '[frameworks]\ntorch = "*"\njax = "*"\n'
CPU_PROFILE = '[profile]\nname = "cpu-torch-jax"\ndescription = "no GPU; PyTorch and JAX"\n[gpus]\ncount = 0\n'
#: What torch 2.x prints when its CUDA is newer than the driver's (c10/cuda/CUDAFunctions.cpp).
TOO_OLD = (
    "CUDA initialization: The NVIDIA driver on your system is too old (found version 12040). Please update your "
    "GPU driver by downloading and installing a new version from the URL: http://www.nvidia.com/Download/index.aspx "
    "Alternatively, go to: https://pytorch.org to install a PyTorch version that has been compiled with your "
    "version of the CUDA driver. (Triggered internally at /pytorch/c10/cuda/CUDAFunctions.cpp:119.)"
)
#: What JAX logs with /dev/nvidia* present and no CUDA plugin (jax/_src/xla_bridge.py).
NO_CUDA_JAXLIB = (
    "An NVIDIA GPU may be present on this machine, but a CUDA-enabled jaxlib is not installed. Falling back to cpu."
)
#: How jaxlib 0.10.2 aborts here under XLA_FLAGS='--xla_bogus_flag=1' (xla/parse_flags_from_env.cc, run live).
XLA_ABORT = "F1202 13:48:47.171830   19223 parse_flags_from_env.cc:234] Unknown flag in XLA_FLAGS: --xla_bogus_flag=1"
#: A flag XLA defines (JAX's documentation uses it to fake CPU devices).
KNOWN_FLAG = "--xla_force_host_platform_device_count=2"
#: Records which frameworks the pytest process itself imported, at its end.
MODULE_SPY = """\
import json, os, sys

def pytest_sessionfinish(session):
    tops = {"torch", "jax", "jaxlib", "tensorflow"}
    found = sorted({name.split(".")[0] for name in sys.modules} & tops)
    with open(os.environ["GPUCONFORM_TEST_MODULES"], "w") as out:
        json.dump(found, out)
"""


def pytest_run(where: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`pytest SUITES ARGS` started in `where`, as a user would, with none of our variables set."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("GPUCONFORM_")}
    argv = [sys.executable, "-m", "pytest", SUITES, "-p", "no:cacheprovider", *args]
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
def live(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    """The framework layer on this CPU, with a profile that requires torch and jax (real children)."""
    where = tmp_path_factory.mktemp("live")
    (where / "cpu.toml").write_text(CPU_PROFILE + FRAMEWORKS)
    (where / "modulespy.py").write_text(MODULE_SPY)
    env = {"PYTHONPATH": str(where), "GPUCONFORM_TEST_MODULES": str(where / "modules.json")}
    proc = pytest_run(where, "-m", "framework", "-k", ONLY, "--host-profile", "cpu.toml", "-p", "modulespy", env=env)
    return proc, where


@pytest.fixture(scope="module")
def live_facts(live: tuple[subprocess.CompletedProcess[str], Path]) -> dict[str, Any]:
    """The live run's facts.json."""
    data: dict[str, Any] = json.loads((live[1] / "reports" / "facts.json").read_text())
    return data


@pytest.fixture(scope="module")
def recorded() -> dict[str, Any]:
    """The committed recording of the real CPU wheels' children: their packages and observations."""
    data: dict[str, Any] = json.loads(RECORDED.read_text())
    return data


@WHEELS
def test_a_cpu_profile_requiring_torch_and_jax_passes_with_their_real_children(
    live: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    proc, where = live
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert verdict_line(proc) == "host verdict: PASS (profile cpu-torch-jax)"
    got = checks(where)
    for check in (TORCH["imports"], JAX["imports"], JAX["versions"]):
        assert got[check]["outcome"] == "passed", got[check]
        assert got[check]["warnings"] == []
    gpu_only = [TORCH["build"], TORCH["driver"], TORCH["kernels"], TORCH["sees"]]
    gpu_only += [JAX["build"], JAX["driver"], JAX["sees"]]
    for check in gpu_only:
        assert (got[check]["outcome"], got[check]["reason"]) == (
            "not-applicable",
            "not applicable: profile 'cpu-torch-jax' expects no GPU",
        )


@WHEELS
def test_the_pytest_process_never_imports_torch_or_jax(live: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    proc, where = live
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert json.loads((where / "modules.json").read_text()) == []


@WHEELS
def test_facts_json_records_each_frameworks_child_under_its_id_with_the_real_wheels_answers(
    live_facts: dict[str, Any],
) -> None:
    by_framework = {b["framework"]: b for b in live_facts["observations"] if b["module"] == "framework"}
    assert {"torch", "jax"} <= by_framework.keys()
    torch = {r["name"]: r for r in by_framework["torch"]["results"]}
    assert torch["build_info"]["value"]["cuda"] is None  # the +cpu wheel
    assert torch["build_info"]["value"]["arch_list"] == []
    assert torch["devices"]["value"]["device_count"] == 0
    jax = {r["name"]: r for r in by_framework["jax"]["results"]}
    assert dict(jax["build_info"]["value"]["installed"]).keys() == {"jaxlib"}
    gpu = next(b for b in jax["devices"]["value"]["backends"] if b["platform"] == "gpu")
    assert gpu["error"].startswith("RuntimeError: Unknown backend")


@WHEELS
def test_the_committed_recording_has_the_shape_the_installed_wheels_answer_in(
    live_facts: dict[str, Any], recorded: dict[str, Any]
) -> None:
    def shape(observations: list[dict[str, Any]]) -> dict[tuple[str, str], Any]:
        return {
            (b["framework"], r["name"]): sorted(r["value"]) if isinstance(r["value"], dict) else r["value"]
            for b in observations
            if b["framework"] in ("torch", "jax")
            for r in b["results"]
        }

    assert shape(live_facts["observations"]) == shape(recorded["observations"])


@WHEELS
def test_replaying_the_live_runs_facts_gives_every_torch_and_jax_check_its_live_outcome(
    live: tuple[subprocess.CompletedProcess[str], Path], tmp_path: Path
) -> None:
    facts = live[1] / "reports" / "facts.json"
    proc = pytest_run(tmp_path, "-m", "framework", "-k", ONLY, "--host-facts", str(facts))
    assert verdict_line(proc) == verdict_line(live[0])
    live_checks, replayed = checks(live[1]), checks(tmp_path)
    for check in (*TORCH.values(), *JAX.values()):
        assert (replayed[check]["outcome"], replayed[check]["reason"]) == (
            live_checks[check]["outcome"],
            live_checks[check]["reason"],
        )


def test_a_profile_without_a_frameworks_table_requires_tensorflow_and_checks_torch_and_jax_as_warnings(
    recorded: dict[str, Any], tmp_path: Path
) -> None:
    gpu_host(tmp_path, recorded, H100, "580.65.06")  # the +cpu torch and the CPU jaxlib, on an H100 host
    proc, got = replay(tmp_path, "h100")
    for check in (TORCH["build"], JAX["build"]):
        assert got[check]["outcome"] == "passed", got[check]
        (warning,) = got[check]["warnings"]
        assert re.search(r"\(a warning: installed, not required by \S*h100\.toml, so its failures", warning["why"])
    assert got[TORCH["build"]]["warnings"][0]["summary"].endswith("is a CPU-only build: torch.version.cuda is None")
    assert not re.search("PyTorch|JAX|torch|jax", verdict_line(proc)), verdict_line(proc)


def test_a_required_framework_that_is_not_installed_fails_with_the_pip_command(
    recorded: dict[str, Any], tmp_path: Path
) -> None:
    without_torch = {
        "packages": [p for p in recorded["packages"] if p["name"] != "torch"],
        "observations": [b for b in recorded["observations"] if b["framework"] != "torch"],
    }
    gpu_host(tmp_path, without_torch, H100, "580.65.06")
    (tmp_path / "p.toml").write_text(CPU_PROFILE + '[frameworks]\ntorch = ">=2.6"\n')
    proc, _ = replay(tmp_path, "p.toml")
    assert proc.returncode == 1, proc.stdout[-4000:]
    imports = checks(tmp_path)[TORCH["imports"]]
    assert imports["outcome"] == "failed"
    assert imports["reason"] == "PyTorch is required but not installed"
    assert f"expected: torch >=2.6 (frameworks.torch in {tmp_path / 'p.toml'})" in imports["message"]
    assert imports["remediation"] == "pip install 'torch>=2.6'"
    assert verdict_line(proc) == "host verdict: FAIL at framework: PyTorch is required but not installed"


# ---- GPU hosts: described, with the recorded children's answers ----------------------------------


def gpu_host(
    where: Path,
    recorded: dict[str, Any],
    gpus: str,
    driver: str,
    torch: Callable[[dict[str, Any]], None] = lambda answers: None,
    jax: Callable[[dict[str, Any]], None] = lambda answers: None,
) -> Path:
    """A described GPU host (its [[gpu]] tables `gpus`, driver `driver`) whose environment has the torch and jax
    this machine has, and whose children answered as the live ones did, edited by `torch` and `jax`
    (each gets its child's answers, experiment name -> value)."""
    spec = f'[host]\nname = "described-gpu"\n\n{gpus}\n[driver]\nversion = "{driver}"\n'
    (where / "host.toml").write_text(spec)
    argv = [sys.executable, "-m", "gpuconform", "facts", "from-spec", "host.toml", "-o", "facts.json"]
    done = subprocess.run(argv, cwd=where, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    data = json.loads((where / "facts.json").read_text())
    frameworks = copy.deepcopy(recorded["packages"])
    data["packages"]["others"] = [*data["packages"]["others"], *frameworks]
    children = []
    for batch in recorded["observations"]:
        if batch["framework"] not in ("torch", "jax") or batch["module"] != "framework":
            continue
        batch = copy.deepcopy(batch)
        answers = {r["name"]: r["value"] for r in batch["results"]}
        (torch if batch["framework"] == "torch" else jax)(answers)
        for result in batch["results"]:
            result["value"] = answers[result["name"]]
        children.append(batch)
        # The environment's metadata says what the child imported (a CUDA build's version label).
        for package in data["packages"]["others"]:
            if package["name"] == batch["framework"]:
                package["version"] = answers["identity"]["distribution_version"]
    data["observations"] = children
    (where / "facts.json").write_text(json.dumps(data, indent=2))
    return where / "facts.json"


def profile(where: Path, count: int, model: str, frameworks: str = FRAMEWORKS) -> str:
    head = f'[profile]\nname = "{model}-torch-jax"\ndescription = "d"\n'
    (where / "gpu.toml").write_text(f'{head}[gpus]\ncount = {count}\nmodel = "{model}"\n{frameworks}')
    return "gpu.toml"


def replay(where: Path, profile_file: str) -> tuple[subprocess.CompletedProcess[str], dict[str, dict[str, Any]]]:
    proc = pytest_run(
        where, "-m", "framework", "-k", ONLY, "--host-profile", profile_file, "--host-facts", "facts.json"
    )
    return proc, checks(where)


def cuda_build(torch_version: str, variant: str) -> Callable[[dict[str, Any]], None]:
    """The torch child's build answer turned into that CUDA build's, as torch.toml records it from the wheel."""
    (row,) = [b for b in load_framework_tables().torch.builds if str(b.torch) == torch_version and b.variant == variant]

    def edit(answers: dict[str, Any]) -> None:
        version = f"{torch_version}+{variant}"
        answers["identity"]["version"] = answers["identity"]["distribution_version"] = version
        answers["build_info"].update(cuda=str(row.cuda), cudnn=91002, arch_list=list(row.arch_list))

    return edit


def sees(*gpus: tuple[str, tuple[int, int]], warnings: tuple[str, ...] = ()) -> Callable[[dict[str, Any]], None]:
    """The torch child's devices answer: torch.cuda counted these GPUs and warned this."""

    def edit(answers: dict[str, Any]) -> None:
        listed = [{"index": i, "name": n, "capability": list(cc), "error": None} for i, (n, cc) in enumerate(gpus)]
        answers["devices"].update(is_available=bool(gpus), device_count=len(gpus), gpus=listed, warnings=list(warnings))

    return edit


def both(*edits: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
    def edit(answers: dict[str, Any]) -> None:
        for one in edits:
            one(answers)

    return edit


def torch_child_of(facts: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """A described host's facts and, in them, its torch child, to edit (then write the facts back)."""
    data: dict[str, Any] = json.loads(facts.read_text())
    (child,) = [b for b in data["observations"] if b["framework"] == "torch"]
    return data, child


def installed_torch_version(recorded: dict[str, Any]) -> str:
    return str(next(p["version"] for p in recorded["packages"] if p["name"] == "torch"))


def test_a_cpu_only_torch_build_on_a_gpu_profile_fails_naming_the_cuda_wheel_index(
    recorded: dict[str, Any], tmp_path: Path
) -> None:
    gpu_host(tmp_path, recorded, H100, "580.65.06")  # the +cpu wheel's own answers
    proc, got = replay(tmp_path, profile(tmp_path, 1, "h100"))
    assert proc.returncode == 1, proc.stdout[-4000:]
    build = got[TORCH["build"]]
    version = installed_torch_version(recorded)
    assert build["outcome"] == "failed"
    assert build["reason"] == f"torch {version} is a CPU-only build: torch.version.cuda is None"
    assert "found:    torch.version.cuda = None, torch.cuda.get_arch_list() = []" in build["message"]
    assert "--index-url https://download.pytorch.org/whl/cu13" in build["remediation"]
    assert build["remediation"].startswith("pip install --force-reinstall 'torch==")
    for dependent in ("driver", "kernels", "sees"):
        assert got[TORCH[dependent]]["outcome"] == "blocked"
    assert verdict_line(proc) == f"host verdict: FAIL at framework: {build['reason']}"


def test_an_installed_torch_the_profile_does_not_require_warns_instead_of_failing(
    recorded: dict[str, Any], tmp_path: Path
) -> None:
    gpu_host(tmp_path, recorded, H100, "580.65.06", jax=_with_plugin("jax-cuda13-plugin"))
    proc, got = replay(tmp_path, profile(tmp_path, 1, "h100", '[frameworks]\njax = "*"\n'))
    build = got[TORCH["build"]]
    assert build["outcome"] == "passed"
    (warning,) = build["warnings"]
    assert warning["summary"].endswith("is a CPU-only build: torch.version.cuda is None")
    assert f"(a warning: installed, not required by {tmp_path / 'gpu.toml'}, so its failures" in warning["why"]
    assert "download.pytorch.org/whl/cu13" in warning["fix"]


def test_a_torch_build_for_a_cuda_newer_than_the_driver_fails_with_the_drivers_own_words(
    recorded: dict[str, Any], tmp_path: Path
) -> None:
    torch = both(cuda_build("2.13.0", "cu130"), sees(warnings=(TOO_OLD,)))
    gpu_host(tmp_path, recorded, H100, "550.54.15", torch=torch)
    proc, got = replay(tmp_path, profile(tmp_path, 1, "h100"))
    assert proc.returncode == 1, proc.stdout[-4000:]
    driver = got[TORCH["driver"]]
    assert driver["outcome"] == "failed"
    assert driver["reason"] == (
        "torch 2.13.0+cu130 is built for CUDA 13.0, which needs NVIDIA driver >= 580.65.06; this host has 550.54.15"
    )
    assert "The NVIDIA driver on your system is too old" in driver["message"]
    assert driver["remediation"].startswith("upgrade the NVIDIA driver to >= 580.65.06")
    # The newest build of torch.toml whose CUDA (12.8) a 550 driver runs through minor-version compatibility.
    assert (
        "pip install --force-reinstall 'torch==2.10.0' --index-url https://download.pytorch.org/whl/cu128"
        in (driver["remediation"])
    )
    assert got[TORCH["build"]]["outcome"] == "passed"
    # The GPU count is blocked by the driver check: the user reads one cause, not two.
    assert got[TORCH["sees"]]["blocked_by"] == TORCH["driver"]
    assert verdict_line(proc) == f"host verdict: FAIL at framework: {driver['reason']}"


def test_a_gpu_whose_compute_capability_is_not_in_the_arch_list_fails_naming_a_wheel_that_has_it(
    recorded: dict[str, Any], tmp_path: Path
) -> None:
    warned = (
        "NVIDIA GeForce RTX 5090 with CUDA capability sm_120 is not compatible with the current PyTorch installation."
    )
    torch = both(cuda_build("2.4.0", "cu121"), sees(("NVIDIA GeForce RTX 5090", (12, 0)), warnings=(warned,)))
    gpu_host(tmp_path, recorded, '[[gpu]]\nmodel = "rtx5090"\n', "575.57.08", torch=torch)
    proc, got = replay(tmp_path, profile(tmp_path, 1, "rtx5090"))
    assert proc.returncode == 1, proc.stdout[-4000:]
    kernels = got[TORCH["kernels"]]
    assert kernels["outcome"] == "failed"
    assert kernels["reason"] == "torch 2.4.0+cu121 has no kernels for NVIDIA GeForce RTX 5090 (compute capability 12.0)"
    assert (
        "found:    torch.cuda.get_arch_list() = ['sm_50', 'sm_60', 'sm_70', 'sm_75', 'sm_80', 'sm_86', 'sm_90']"
        in (kernels["message"])
    )
    assert "no kernel image is available for execution on the device" in kernels["message"]
    # A 575 driver runs CUDA 12.8 in full: the newest torch.toml build with sm_120 for it.
    assert kernels["remediation"] == (
        "install a build with sm_120: pip install --force-reinstall 'torch==2.10.0' "
        "--index-url https://download.pytorch.org/whl/cu128"
    )
    assert got[TORCH["driver"]]["outcome"] == "passed"
    assert verdict_line(proc) == f"host verdict: FAIL at framework: {kernels['reason']}"


def test_torch_counting_fewer_gpus_than_the_profile_promises_fails_with_its_count(
    recorded: dict[str, Any], tmp_path: Path
) -> None:
    torch = both(cuda_build("2.13.0", "cu130"), sees(("NVIDIA H100 80GB HBM3", (9, 0))))
    gpu_host(tmp_path, recorded, H100 + "count = 2\n", "580.82.07", torch=torch)
    proc, got = replay(tmp_path, profile(tmp_path, 2, "h100"))
    assert proc.returncode == 1, proc.stdout[-4000:]
    seen = got[TORCH["sees"]]
    assert seen["outcome"] == "failed"
    assert seen["reason"] == "PyTorch sees 1 of the 2 GPU(s) expected: torch.cuda gave no reason"
    assert "found:    torch.cuda.is_available() = True, torch.cuda.device_count() = 1" in seen["message"]
    assert "expected: 2 GPU(s): GPU 0 (NVIDIA H100 80GB HBM3), GPU 1 (NVIDIA H100 80GB HBM3)" in seen["message"]
    for check in ("imports", "build", "driver", "kernels"):
        assert got[TORCH[check]]["outcome"] == "passed", got[TORCH[check]]


def _with_plugin(
    package: str, version: str | None = None, gpus: int = 1, pjrt: str | None = None
) -> Callable[[dict[str, Any]], None]:
    """The jax child's answers with a CUDA plugin installed (at `version`, else jaxlib's) that listed `gpus` GPUs."""

    def edit(answers: dict[str, Any]) -> None:
        jaxlib = dict(answers["build_info"]["installed"])["jaxlib"]
        installed = answers["build_info"]["installed"]
        installed += [[package, version or jaxlib], [package.replace("-plugin", "-pjrt"), pjrt or version or jaxlib]]
        devices = [
            {"id": i, "platform": "gpu", "kind": "NVIDIA H100 80GB HBM3", "compute_capability": "9.0"}
            for i in range(gpus)
        ]
        answers["devices"]["backends"] = [
            b if b["platform"] != "gpu" else {"platform": "gpu", "devices": devices, "error": None}
            for b in answers["devices"]["backends"]
        ]
        answers["devices"]["default_backend"] = "gpu" if gpus else "cpu"

    return edit


def test_jaxlib_without_a_cuda_plugin_on_a_gpu_profile_fails_with_what_jax_logs(
    recorded: dict[str, Any], tmp_path: Path
) -> None:
    def warned(answers: dict[str, Any]) -> None:
        answers["devices"]["warnings"] = [NO_CUDA_JAXLIB]  # what the same wheel logs where /dev/nvidia0 exists

    gpu_host(tmp_path, recorded, H100, "580.65.06", jax=warned)
    proc, got = replay(tmp_path, profile(tmp_path, 1, "h100", '[frameworks]\njax = "*"\n'))
    assert proc.returncode == 1, proc.stdout[-4000:]
    build = got[JAX["build"]]
    jaxlib = build["reason"].split("jaxlib ")[1].split()[0]
    assert build["outcome"] == "failed"
    assert build["reason"].endswith(f"has no CUDA plugin: jaxlib {jaxlib} runs on the CPU only")
    assert f"JAX logged: {NO_CUDA_JAXLIB}" in build["message"]
    jax_version = build["reason"].split()[1]
    assert build["remediation"] == f"pip install -U 'jax[cuda13]=={jax_version}'"
    assert got[JAX["driver"]]["outcome"] == got[JAX["sees"]]["outcome"] == "blocked"
    assert got[JAX["versions"]]["outcome"] == "passed"


def test_a_cuda_plugin_of_another_version_than_jaxlib_fails_the_version_match(
    recorded: dict[str, Any], tmp_path: Path
) -> None:
    gpu_host(tmp_path, recorded, H100, "580.65.06", jax=_with_plugin("jax-cuda12-plugin", "0.10.1"))
    proc, got = replay(tmp_path, profile(tmp_path, 1, "h100", '[frameworks]\njax = "*"\n'))
    assert proc.returncode == 1, proc.stdout[-4000:]
    versions = got[JAX["versions"]]
    jaxlib = next(p for p in recorded["packages"] if p["name"] == "jax")["version"]
    assert versions["outcome"] == "failed"
    assert versions["reason"] == (
        f"jax {jaxlib}'s jaxlib and CUDA plugin versions do not match: jax-cuda12-plugin 0.10.1 is not jaxlib {jaxlib}"
    )
    assert versions["remediation"].startswith(f"pip install -U 'jax[cuda12]=={jaxlib}'")


def test_a_cuda_13_plugin_on_a_driver_of_the_cuda_12_era_fails_and_names_the_cuda_12_plugin(
    recorded: dict[str, Any], tmp_path: Path
) -> None:
    gpu_host(tmp_path, recorded, H100, "550.54.15", jax=_with_plugin("jax-cuda13-plugin"))
    proc, got = replay(tmp_path, profile(tmp_path, 1, "h100", '[frameworks]\njax = "*"\n'))
    assert proc.returncode == 1, proc.stdout[-4000:]
    driver = got[JAX["driver"]]
    version = next(p for p in recorded["packages"] if p["name"] == "jax")["version"]
    assert driver["outcome"] == "failed"
    assert driver["reason"] == (
        f"jax-cuda13-plugin {version} needs CUDA 13.0, which needs NVIDIA driver >= 580.65.06; this host has 550.54.15"
    )
    assert driver["remediation"].endswith(
        f"pip uninstall -y jax-cuda13-plugin jax-cuda13-pjrt && pip install -U 'jax[cuda12]=={version}'"
    )


def test_jax_listing_fewer_gpus_than_the_profile_promises_fails_with_its_count(
    recorded: dict[str, Any], tmp_path: Path
) -> None:
    gpu_host(tmp_path, recorded, H100 + "count = 2\n", "580.82.07", jax=_with_plugin("jax-cuda13-plugin"))
    proc, got = replay(tmp_path, profile(tmp_path, 2, "h100", '[frameworks]\njax = "*"\n'))
    assert proc.returncode == 1, proc.stdout[-4000:]
    seen = got[JAX["sees"]]
    assert seen["outcome"] == "failed"
    assert seen["reason"] == "JAX sees 1 of the 2 GPU(s) expected: JAX gave no reason"
    assert "found:    jax.devices('gpu'): NVIDIA H100 80GB HBM3; default backend gpu" in seen["message"]
    for check in ("imports", "build", "versions", "driver"):
        assert got[JAX[check]]["outcome"] == "passed", got[JAX[check]]


def test_a_torch_child_killed_while_importing_fails_the_import_check_and_blocks_the_rest(
    recorded: dict[str, Any], tmp_path: Path
) -> None:
    facts = gpu_host(tmp_path, recorded, H100, "580.65.06")
    data, child = torch_child_of(facts)
    child.update(results=[], returncode=-11, log="Fatal Python error: Segmentation fault\n")
    facts.write_text(json.dumps(data))
    proc, got = replay(tmp_path, profile(tmp_path, 1, "h100"))
    assert proc.returncode == 1, proc.stdout[-4000:]
    imports = got[TORCH["imports"]]
    assert imports["outcome"] == "failed"
    assert imports["reason"].startswith("import torch fails in a child process: signal: killed by SIGSEGV")
    assert "Fatal Python error: Segmentation fault" in imports["message"]
    for check in ("build", "driver", "kernels", "sees"):
        assert got[TORCH[check]]["blocked_by"] == TORCH["imports"]


@pytest.mark.parametrize(
    ("imported", "installed", "same"),
    [
        ("2.14.1+cu130", "2.14.1", True),  # PyPI's wheel: the CUDA label is in torch.__version__ only
        ("2.13.0+cpu", "2.13.0+cpu", True),  # download.pytorch.org's wheel: in both
        ("2.14.0+cu130", "2.14.1", False),
        ("2.14.1+cu128", "2.14.1+cu130", False),
        ("2.13.0", "2.13.0+cpu", False),
    ],
)
def test_the_import_check_takes_a_cuda_label_only_the_imported_torch_reports_as_the_same_release(
    imported: str, installed: str, same: bool
) -> None:
    from gpuconform.facts.model import PackageInfo
    from gpuconform.frameworks.identity import Identity
    from gpuconform.frameworks.torch.checks import imports_as_installed

    site = "/venv/lib/python3.11/site-packages"
    identity = Identity(imported, f"{site}/torch/__init__.py", "torch", installed, site)
    finding = imports_as_installed(PackageInfo("torch", installed, site), identity, "frameworks.torch in cpu.toml")
    if same:
        assert finding is None
    else:
        assert finding is not None
        loads = f"import torch loads {site}/torch/__init__.py (torch {imported})"
        assert finding.summary == f"{loads}, not torch {installed}"


# ---- JAX under the host's own XLA_FLAGS and JAX_PLATFORMS ------------------------------------------


def _jax_under(where: Path, env: dict[str, str]) -> tuple[subprocess.CompletedProcess[str], dict[str, dict[str, Any]]]:
    """The JAX checks of every layer on this CPU, with a profile that requires jax, under `env`."""
    (where / "cpu.toml").write_text(CPU_PROFILE + '[frameworks]\njax = "*"\n')
    proc = pytest_run(where, "-k", "jax", "--host-profile", "cpu.toml", env=env)
    return proc, checks(where)


@WHEELS
def test_an_xla_flag_jaxlib_does_not_know_fails_jax_starts_naming_it_and_blocks_every_jax_check(
    tmp_path: Path,
) -> None:
    proc, got = _jax_under(tmp_path, {"XLA_FLAGS": f"--xla_bogus_flag=1 {KNOWN_FLAG}"})
    assert proc.returncode == 1, proc.stdout[-4000:]
    starts = got[JAX["starts"]]
    assert starts["outcome"] == "failed", starts
    assert starts["reason"] == (
        "XLA_FLAGS names flags XLA does not know (--xla_bogus_flag=1): every JAX program aborts when it starts a "
        "backend"
    )
    assert "found:    XLA aborted the child (exit status 1): Unknown flag in XLA_FLAGS: --xla_bogus_flag=1 (from" in (
        starts["message"]
    )
    assert starts["remediation"] == f"export XLA_FLAGS='{KNOWN_FLAG}'"
    assert verdict_line(proc) == f"host verdict: FAIL at framework: {starts['reason']}"
    blocked = ("placement::jax_ops_placed_on_the_cpu_run_there", "determinism::jax_golden_outputs_match_on_the_cpu")
    for check in (JAX["sees"], *blocked, "preprocessing::keras_runs_on_the_requested_backend[jax]"):
        assert (got[check]["outcome"], got[check]["blocked_by"]) == ("blocked", JAX["starts"]), got[check]
    assert [c for c, entry in got.items() if entry["outcome"] == "error"] == []


@WHEELS
def test_jax_platforms_naming_only_a_platform_this_host_lacks_fails_jax_starts_with_the_setting(tmp_path: Path) -> None:
    proc, got = _jax_under(tmp_path, {"JAX_PLATFORMS": "cuda"})
    assert proc.returncode == 1, proc.stdout[-4000:]
    starts = got[JAX["starts"]]
    assert starts["outcome"] == "failed", starts
    # jax 0.10.2 skips cuda where no NVIDIA GPU is visible, then asserts that it has a default backend.
    assert starts["reason"] == (
        "JAX starts no backend under this host's settings: jax.devices() raised AssertionError: (JAX_PLATFORMS=cuda)"
    )
    assert "JAX_PLATFORMS='cuda'" in starts["message"]
    assert starts["remediation"].endswith("unset JAX_PLATFORMS or name cpu after it (export JAX_PLATFORMS=cuda,cpu)")
    assert got["placement::jax_ops_placed_on_the_cpu_run_there"]["blocked_by"] == JAX["starts"]
    assert [c for c, entry in got.items() if entry["outcome"] == "error"] == []


def test_a_recorded_xla_abort_replays_as_the_live_failure_on_a_described_gpu_host(
    recorded: dict[str, Any], tmp_path: Path
) -> None:
    facts = gpu_host(tmp_path, recorded, H100, "580.65.06", jax=_with_plugin("jax-cuda13-plugin"))
    data = json.loads(facts.read_text())
    data["platform"]["environment"] = [["XLA_FLAGS", f"{KNOWN_FLAG} --xla_bogus_flag=1"]]
    (child,) = [b for b in data["observations"] if b["framework"] == "jax"]
    kept = [r for r in child["results"] if r["name"] in ("__import__", "identity", "build_info")]
    child.update(results=kept, returncode=1, log=XLA_ABORT + "\n")  # it died in `devices`, as live
    facts.write_text(json.dumps(data))
    proc, got = replay(tmp_path, profile(tmp_path, 1, "h100", '[frameworks]\njax = "*"\n'))
    assert proc.returncode == 1, proc.stdout[-4000:]
    starts = got[JAX["starts"]]
    assert (starts["outcome"], starts["remediation"]) == ("failed", f"export XLA_FLAGS='{KNOWN_FLAG}'"), starts
    for check in ("build", "sees"):
        assert got[JAX[check]]["blocked_by"] == JAX["starts"], got[JAX[check]]
    assert got[JAX["versions"]]["outcome"] == "passed"


# ---- a framework whose import the host's own settings break --------------------------------------

#: What torch 2.13.0+cpu raises here under TORCH_LOGS=bogus, as `import torch` (torch/_logging/_internal.py),
#: its list of valid settings cut short.
TORCH_LOGS_ERROR = (
    "\nInvalid log settings: bogus, must be a comma separated list of fully\nqualified module names, registered log "
    'names or registered artifact names.\nFor more info on various settings, try TORCH_LOGS="help"\nValid settings:\n'
    "all, annotation, aot, aot_graphs"
)
SETTING_FIX = (
    "correct or unset what the error names in this host's environment (TORCH_LOGS='bogus'): every program gets it"
)


@WHEELS
def test_a_torch_logs_setting_that_makes_import_torch_raise_is_named_as_the_fix_not_a_reinstall(tmp_path: Path) -> None:
    (tmp_path / "cpu.toml").write_text(CPU_PROFILE + '[frameworks]\ntorch = "*"\n')
    only = ("-m", "framework", "-k", "torch", "--host-profile", "cpu.toml")
    proc = pytest_run(tmp_path, *only, env={"TORCH_LOGS": "bogus"})
    imports = checks(tmp_path)[TORCH["imports"]]
    assert imports["outcome"] == "failed", imports
    assert imports["reason"].startswith(
        "import torch fails in a child process: ValueError: | Invalid log settings: bogus, must be a comma separated"
    )
    assert imports["remediation"] == SETTING_FIX
    assert verdict_line(proc) == f"host verdict: FAIL at framework: {imports['reason']}"
    facts = json.loads((tmp_path / "reports" / "facts.json").read_text())
    assert ["TORCH_LOGS", "bogus"] in facts["platform"]["environment"]


def test_an_import_error_names_the_hosts_variable_it_mentions_as_the_fix_else_a_reinstall(
    recorded: dict[str, Any], tmp_path: Path
) -> None:
    facts = gpu_host(tmp_path, recorded, H100, "580.65.06")
    data, child = torch_child_of(facts)
    failed = {"name": "__import__", "ok": False, "value": None, "error_type": "ValueError", "crash": None}
    child["results"] = [{**failed, "error": TORCH_LOGS_ERROR}]
    for environment, fix in ([["TORCH_LOGS", "bogus"]], SETTING_FIX), ([], "pip install --force-reinstall 'torch=="):
        data["platform"]["environment"] = environment
        facts.write_text(json.dumps(data))
        proc, got = replay(tmp_path, profile(tmp_path, 1, "h100"))
        assert proc.returncode == 1, proc.stdout[-4000:]
        assert got[TORCH["imports"]]["remediation"].startswith(fix), got[TORCH["imports"]]
