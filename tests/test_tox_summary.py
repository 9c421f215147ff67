"""The tox sweep: tox.ini's envs and factors, and tools/tox_summary.py's tables.

tox.ini is read through `tox config` (what tox itself resolves, no env is built).
The summary is tested on report directories written the way each tox env writes
them: one from a real (platform-layer) run of the suites, others shaped like it.
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.test_preprocessing_suite import run_suites

ROOT = Path(__file__).resolve().parents[1]
RELEASES = [f"2{n}" for n in range(12, 22)]


def load_tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("tox_summary", ROOT / "tools" / "tox_summary.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["tox_summary"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


tool = load_tool()


# --- tox.ini -------------------------------------------------------------------------------------


def tox_config(*envs: str, keys: tuple[str, ...] = ("deps", "set_env", "commands")) -> dict[str, dict[str, str]]:
    """`tox config` of `envs`, as {env: {key: text}}."""
    command = [sys.executable, "-m", "tox", "config", "-c", str(ROOT / "tox.ini"), "-e", ",".join(envs), "-k", *keys]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    out: dict[str, dict[str, str]] = {}
    env = key = ""
    for line in proc.stdout.splitlines():
        if m := re.fullmatch(r"\[testenv:(.+)\]", line):
            env = m.group(1)
            out[env] = {}
        elif m := re.fullmatch(r"(\w+) =\s*(.*)", line):
            key = m.group(1)
            out[env][key] = m.group(2)
        elif line.startswith("  ") and env:
            out[env][key] += "\n" + line.strip()
    return out


@pytest.fixture(scope="module")
def cpu_envs() -> dict[str, dict[str, str]]:
    return tox_config(*(f"tf{r}" for r in RELEASES))


def test_every_release_from_2_12_to_2_21_has_an_env_in_the_default_list() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "tox", "config", "-c", str(ROOT / "tox.ini"), "-k", "env_name"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    listed = re.findall(r"^\[testenv:(\S+)\]", proc.stdout, re.MULTILINE)
    assert listed == ["selftest", *(f"tf{r}" for r in RELEASES), "torch213", "jax09", "jax010"]


def test_the_torch_and_jax_envs_install_their_release_alone_and_run_on_a_profile_requiring_it() -> None:
    config = tox_config("torch213", "torch214", "jax09", "jax010")
    assert "torch==2.13.0" in config["torch213"]["deps"].split()  # pip takes the 2.13.0+cpu wheel for it
    assert "torch==2.14.*" in config["torch214"]["deps"].split()
    assert config["jax09"]["deps"].split() == ["jax[cpu]==0.9.*"]
    assert config["jax010"]["deps"].split() == ["jax[cpu]==0.10.*"]
    for env, profile in (
        ("torch213", "cpu-torch"),
        ("torch214", "cpu-torch"),
        ("jax09", "cpu-jax"),
        ("jax010", "cpu-jax"),
    ):
        assert "tensorflow" not in config[env]["deps"]
        assert f"--host-profile {ROOT}/tools/profiles/{profile}.toml" in config[env]["commands"]
        assert f"--host-reports {ROOT}/reports/{env}" in config[env]["commands"]


@pytest.mark.parametrize(("name", "framework"), [("cpu-torch", "torch"), ("cpu-jax", "jax")])
def test_the_framework_envs_profiles_require_their_framework_and_no_gpu(name: str, framework: str) -> None:
    from gpuconform.expect.loading import load_matrices
    from gpuconform.expect.profiles import load_profile

    profile = load_profile(ROOT / "tools" / "profiles" / f"{name}.toml", load_matrices())
    assert profile.gpus.count == 0
    assert dict(profile.frameworks)[framework] == "*"
    assert {n: s for n, s in profile.frameworks if n != framework} == {
        n: "auto" for n in ("tensorflow", "torch", "jax") if n != framework
    }
    assert not profile.tensorflow.required


@pytest.mark.parametrize("release", RELEASES)
def test_a_release_env_installs_the_cpu_wheel_of_that_release(
    cpu_envs: dict[str, dict[str, str]], release: str
) -> None:
    deps = cpu_envs[f"tf{release}"]["deps"].split()
    assert f"tensorflow-cpu=={release[0]}.{release[1:]}.*" in deps
    assert not [d for d in deps if d.startswith("tensorflow[") or d.startswith("tensorflow==")]
    assert {"pillow", "werkzeug", "keras-preprocessing==1.1.2"} <= set(deps)


@pytest.mark.parametrize("release", RELEASES)
def test_each_env_keeps_its_reports_apart_and_takes_the_profile_from_the_environment(
    cpu_envs: dict[str, dict[str, str]], release: str
) -> None:
    command = cpu_envs[f"tf{release}"]["commands"]
    assert f"--host-reports {ROOT}/reports/tf{release}" in command
    assert "--host-profile auto" in command  # GPUCONFORM_PROFILE unset: the default


def test_the_gpu_factor_installs_the_cuda_build_and_never_tensorflow_cpu() -> None:
    config = tox_config("tf221-gpu", "tf215-gpu", "tf212-gpu")
    assert "tensorflow[and-cuda]==2.21.*" in config["tf221-gpu"]["deps"].split()
    assert "tensorflow[and-cuda]==2.15.*" in config["tf215-gpu"]["deps"].split()
    assert "tensorflow==2.12.*" in config["tf212-gpu"]["deps"].split()  # no [and-cuda] extra before 2.14
    for env in config.values():
        assert "tensorflow-cpu" not in env["deps"]


def test_the_tf222rc_env_pins_the_pre_release_exactly_so_pip_needs_no_pre_flag() -> None:
    config = tox_config("tf222rc", "tf222rc-gpu")
    assert "tensorflow-cpu==2.22.0rc0" in config["tf222rc"]["deps"].split()
    assert "tensorflow[and-cuda]==2.22.0rc0" in config["tf222rc-gpu"]["deps"].split()
    assert "tensorflow-cpu" not in config["tf222rc-gpu"]["deps"]
    assert f"--host-reports {ROOT}/reports/tf222rc" in config["tf222rc"]["commands"]


def test_the_legacy_factor_switches_tf_keras_on_and_the_kp110_factor_pins_the_old_loader() -> None:
    config = tox_config("tf221-legacy", "tf212-kp110")
    legacy = config["tf221-legacy"]["deps"].split()
    assert "tf-keras==2.21.*" in legacy and "tensorflow==2.21.*" in legacy  # tf-keras requires `tensorflow`
    assert "tensorflow-cpu" not in config["tf221-legacy"]["deps"]
    assert "TF_USE_LEGACY_KERAS=1" in config["tf221-legacy"]["set_env"].split()
    deps = config["tf212-kp110"]["deps"].split()
    assert "keras-preprocessing==1.1.0" in deps and "keras-preprocessing==1.1.2" not in deps


def test_the_profile_comes_from_gpuconform_profile(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GPUCONFORM_PROFILE", "t4")
    assert "--host-profile t4" in tox_config("tf221")["tf221"]["commands"]


# --- the summary -------------------------------------------------------------------------------


def write_env(
    reports: Path,
    env: str,
    tf: str,
    layers: dict[str, str],
    checks: dict[str, str],
    others: dict[str, str] | None = None,
) -> None:
    """A reports/<env>/ directory holding what the summary reads (`tf` "": TensorFlow not installed;
    `others`: the other distributions facts.json lists, name -> version)."""
    directory = reports / env
    directory.mkdir(parents=True)
    counts = {"passed": 3, "xfailed": 1, "not-applicable": 2}
    result: dict[str, Any] = {
        "summary": [{"label": "tensorflow", "value": f"tensorflow-cpu {tf}" if tf else "not installed"}],
        "verdict": {"line": "host verdict: PASS (profile cpu)", "status": "PASS"},
        "layers": [{"layer": layer, "status": status, "counts": counts} for layer, status in layers.items()],
        "checks": [{"id": i, "outcome": o} for i, o in checks.items()],
    }
    (directory / "result.json").write_text(json.dumps(result))
    listed = [{"name": n, "version": v, "location": "/site-packages"} for n, v in (others or {}).items()]
    packages: dict[str, Any] = {"keras": {"version": "3.15.1"}} if tf else {}
    (directory / "facts.json").write_text(json.dumps({"packages": {**packages, "others": listed}}))


def test_envs_are_ordered_by_tensorflow_version_not_by_name(tmp_path: Path) -> None:
    for env, tf in (("tf221", "2.21.0"), ("tf29", "2.9.3"), ("tf212", "2.12.1")):
        write_env(tmp_path, env, tf, {"preprocessing": "pass"}, {"preprocessing::x": "passed"})
    assert [e.env for e in tool.collect(tmp_path, "*")] == ["tf29", "tf212", "tf221"]
    assert [e.env for e in tool.collect(tmp_path, "tf22*")] == ["tf221"]


def test_the_release_table_has_a_cell_per_layer_with_its_counts(tmp_path: Path) -> None:
    write_env(tmp_path, "tf215", "2.15.1", {"platform": "pass", "determinism": "fail"}, {})
    table = tool.release_table(tool.collect(tmp_path, "*"))
    header, rule, row = table.splitlines()
    assert header == "| env | TensorFlow | PyTorch | JAX | Keras packages | verdict | platform | determinism |"
    assert rule.count("---") == 8
    assert row == (
        "| tf215 | tensorflow-cpu 2.15.1 | - | - | keras 3.15.1 | host verdict: PASS (profile cpu) "
        "| pass (3 ok, 1 xfail, 2 n/a) | fail (3 ok, 1 xfail, 2 n/a) |"
    )


def test_torch_and_jax_envs_get_rows_after_the_tensorflow_envs_each_ordered_by_its_version(tmp_path: Path) -> None:
    layers = {"framework": "pass"}
    write_env(tmp_path, "jax010", "", layers, {}, {"jax": "0.10.2", "numpy": "2.4.6"})
    write_env(tmp_path, "torch214", "", layers, {}, {"torch": "2.14.1"})
    write_env(tmp_path, "jax09", "", layers, {}, {"jax": "0.9.2"})
    write_env(tmp_path, "torch213", "", layers, {}, {"torch": "2.13.0+cpu"})
    write_env(tmp_path, "tf212", "2.12.1", layers, {}, {"jax": "0.4.30"})  # TF 2.12 depends on jax
    envs = tool.collect(tmp_path, "*")
    assert [e.env for e in envs] == ["tf212", "torch213", "torch214", "jax09", "jax010"]
    rows = tool.release_table(envs).splitlines()[2:]
    assert [row.split(" | ")[:5] for row in rows] == [
        ["| tf212", "tensorflow-cpu 2.12.1", "-", "jax 0.4.30", "keras 3.15.1"],
        ["| torch213", "not installed", "torch 2.13.0+cpu", "-", "?"],
        ["| torch214", "not installed", "torch 2.14.1", "-", "?"],
        ["| jax09", "not installed", "-", "jax 0.9.2", "?"],
        ["| jax010", "not installed", "-", "jax 0.10.2", "?"],
    ]
    assert [e.env for e in tool.collect(tmp_path, "torch*, jax*")] == ["torch213", "torch214", "jax09", "jax010"]


def test_only_checks_whose_outcome_differs_are_listed_with_every_env(tmp_path: Path) -> None:
    write_env(tmp_path, "tf215", "2.15.1", {}, {"p::same": "passed", "p::flow": "xfailed", "p::only215": "passed"})
    write_env(tmp_path, "tf216", "2.16.2", {}, {"p::same": "passed", "p::flow": "passed"})
    lines = tool.differences_table(tool.collect(tmp_path, "*")).splitlines()
    assert lines[0] == "| check | tf215 | tf216 |"
    assert lines[2:] == ["| p::flow | xfailed | passed |", "| p::only215 | passed | - |"]


def test_an_env_without_a_result_is_left_out_and_no_result_at_all_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "tf213").mkdir()
    assert tool.main([str(tmp_path)]) == 1
    assert "no tox env reports (result.json) below" in capsys.readouterr().err


def test_the_summary_reads_the_reports_a_real_run_writes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = run_suites(tmp_path / "run", "platform", "--host-profile", "cpu")
    assert run.ret == 0, run.output[-2000:]
    (tmp_path / "by-env").mkdir()
    run.reports.rename(tmp_path / "by-env" / "tf221")  # where `tox -e tf221` would have written it
    assert tool.main([str(tmp_path / "by-env")]) == 0
    out = capsys.readouterr().out
    assert "## Framework release x layer" in out
    row = next(line for line in out.splitlines() if line.startswith("| tf221 |"))
    assert "host verdict: PASS (profile cpu)" in row
    assert re.search(r"\| pass \(\d+ ok", row), row
