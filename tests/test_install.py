"""The built wheel, installed into a fresh virtual environment away from the checkout, runs the
suite, the `gpuconform` command and a fleet merge, and agrees with a run from the checkout.

The environment is new (`python -m venv`, no system site-packages, nothing of this checkout on
its path, started from an empty directory) and gets the wheel the way launchers/docker/Dockerfile
installs it (its RUN line), its dependencies from the package registry. When the checkout's
environment has TensorFlow, the same distribution and version is installed beside it, so that
both runs judge the same host; the registry must be reachable (CI has it): a failed install fails
this test, it never skips.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import gpuconform
from tests.packaging_build import REPO
from tests.packaging_build import release_wheel

MARKERS = "platform or driver or libraries"
DOCKERFILE = REPO / "launchers" / "docker" / "Dockerfile"
#: The fields of a check in result.json that say what it found (nodeid and duration differ by nature).
JUDGED = ("id", "layer", "outcome", "reason", "message", "remediation", "finding", "blocked_by", "warnings")


@dataclass(frozen=True)
class Installed:
    venv: Path
    work: Path  # an empty directory, no checkout in sight: every command of the venv runs here
    env: dict[str, str]

    def run(self, *argv: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        command = [str(self.venv / "bin" / argv[0]), *argv[1:]]
        return subprocess.run(
            command, cwd=self.work, env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without what would steer Python, pytest or gpuconform."""
    steering = ("PYTHON", "PYTEST", "GPUCONFORM_", "VIRTUAL_ENV", "CONDA_PREFIX")
    env = {k: v for k, v in os.environ.items() if not k.startswith(steering)}
    env.update(extra)
    return env


def dockerfile_install_command() -> str:
    """The Dockerfile's RUN line without its BuildKit flags: what pip runs in the user's image."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    (run,) = [line for line in text.splitlines() if line.startswith("RUN ")]
    return re.sub(r"^RUN\s+(--\S+\s+)*", "", run)


def tensorflow_here() -> str | None:
    """The TensorFlow distribution of this environment as a pin (tensorflow-cpu==2.21.0), if any."""
    for name in ("tensorflow-cpu", "tensorflow", "tensorflow-intel", "tensorflow-macos"):
        try:
            return f"{name}=={importlib.metadata.version(name)}"
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def must(proc: subprocess.CompletedProcess[str], what: str) -> str:
    if proc.returncode != 0:
        pytest.fail(f"{what} failed ({proc.returncode}):\n{(proc.stdout + proc.stderr)[-4000:]}")
    return proc.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    tmp = tmp_path_factory.mktemp("install")
    wheel = release_wheel(tmp)
    venv = tmp / "venv"
    must(subprocess.run([sys.executable, "-m", "venv", str(venv)], capture_output=True, text=True), "python -m venv")
    work = tmp / "work"
    work.mkdir()
    env = clean_env(PATH=f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}", VIRTUAL_ENV=str(venv))
    tensorflow = tensorflow_here()
    if tensorflow is not None:
        pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--no-compile", tensorflow]
        must(
            subprocess.run(pip, cwd=work, env=env, capture_output=True, text=True, timeout=900),
            f"pip install {tensorflow}",
        )
    install = dockerfile_install_command()
    docker_args = {"PYTHON": str(venv / "bin" / "python"), "GPUCONFORM_REQUIREMENT": str(wheel)}
    proc = subprocess.run(
        ["bash", "-c", install], cwd=work, env={**env, **docker_args}, capture_output=True, text=True, timeout=900
    )
    must(proc, f"the Dockerfile's install ({install}) of {wheel.name}")
    return Installed(venv, work, env)


@pytest.fixture(scope="module")
def checkout_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    reports = tmp_path_factory.mktemp("checkout-reports")
    argv = [sys.executable, "-m", "pytest", "--host-profile", "cpu", "-m", MARKERS, "-p", "no:cacheprovider"]
    argv += ["--host-reports", str(reports)]
    proc = subprocess.run(argv, cwd=REPO, env=clean_env(), capture_output=True, text=True, timeout=600, check=False)
    return proc, reports


@pytest.fixture(scope="module")
def installed_run(installed: Installed) -> subprocess.CompletedProcess[str]:
    # -rs: pytest's line for each skip, which names the check file it ran (gpuconform's summary does not).
    return installed.run("pytest", "--pyargs", "gpuconform.suites", "--host-profile", "cpu", "-m", MARKERS, "-rs")


def result(reports: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((reports / "result.json").read_text())
    return data


def test_the_installed_copy_is_the_wheel_and_nothing_of_the_checkout(installed: Installed) -> None:
    code = "import gpuconform, json, sys; print(json.dumps([gpuconform.__file__, sys.path]))"
    module, path = json.loads(must(installed.run("python", "-c", code), "import gpuconform"))
    assert module.startswith(str(installed.venv))
    assert [p for p in path if p.startswith(str(REPO))] == []
    code = "import importlib.metadata as m; print(m.version('gpuconform'))"
    assert must(installed.run("python", "-c", code), "importlib.metadata").strip() == gpuconform.__version__


def test_gpuconform_version_names_the_release(installed: Installed) -> None:
    assert (
        must(installed.run("gpuconform", "--version"), "gpuconform --version")
        == f"gpuconform {gpuconform.__version__}\n"
    )


def test_gpuconform_checks_lists_the_check_ids_of_the_checkout(installed: Installed) -> None:
    here = subprocess.run(
        [sys.executable, "-m", "gpuconform", "checks"], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert must(installed.run("gpuconform", "checks"), "gpuconform checks") == must(here, "python -m gpuconform checks")


def test_the_installed_suite_reaches_the_checkouts_verdict_with_the_same_checks(
    installed: Installed,
    installed_run: subprocess.CompletedProcess[str],
    checkout_run: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    checkout, checkout_reports = checkout_run
    output = installed_run.stdout + installed_run.stderr
    assert installed_run.returncode == checkout.returncode, output
    assert output.splitlines()[-1] == checkout.stdout.splitlines()[-1]
    assert output.splitlines()[-1].startswith("host verdict: ")
    mine, theirs = result(installed.work / "reports"), result(checkout_reports)
    assert mine["verdict"] == theirs["verdict"]
    assert [c["id"] for c in mine["checks"]] == [c["id"] for c in theirs["checks"]]
    listed = must(installed.run("gpuconform", "checks", "--ids"), "gpuconform checks --ids").split()
    layers = ("platform", "driver", "libraries")
    assert sorted(c["id"] for c in mine["checks"]) == sorted(
        i for i in listed if i.startswith(tuple(f"{x}::" for x in layers))
    )
    judged = [{k: c[k] for k in JUDGED} for c in mine["checks"]], [{k: c[k] for k in JUDGED} for c in theirs["checks"]]
    assert judged[0] == judged[1]
    # The checks that ran are the installed copy's: each skip reason points into the fresh venv.
    where = re.findall(r"^SKIPPED \[\d+\] (\S+?):\d+:", output, re.MULTILINE)
    assert where and all((installed.work / w).resolve().is_relative_to(installed.venv) for w in where), where[:3]


def test_the_installed_run_records_the_release_in_result_json_and_facts_json(
    installed: Installed, installed_run: subprocess.CompletedProcess[str]
) -> None:
    reports = installed.work / "reports"
    assert result(reports)["gpuconform_version"] == gpuconform.__version__
    facts = json.loads((reports / "facts.json").read_text())
    assert facts["host"]["gpuconform_version"] == gpuconform.__version__
    assert {p.name for p in reports.iterdir()} >= {"junit.xml", "report.html", "facts.json", "result.json"}


def test_the_installed_fleet_merge_of_the_run_agrees_with_the_checkouts(
    installed: Installed,
    installed_run: subprocess.CompletedProcess[str],
    checkout_run: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    merged = installed.run("gpuconform", "fleet", "merge", "reports", "-o", "fleet", "--expect", "1")
    _, checkout_reports = checkout_run
    fleet_dir = checkout_reports.parent / "checkout-fleet"
    argv = [sys.executable, "-m", "gpuconform", "fleet", "merge", str(checkout_reports), "-o", str(fleet_dir)]
    here = subprocess.run([*argv, "--expect", "1"], cwd=REPO, capture_output=True, text=True, check=False)
    assert merged.returncode == here.returncode, merged.stdout + merged.stderr
    assert merged.stdout.splitlines()[-1] == here.stdout.splitlines()[-1]
    mine = json.loads((installed.work / "fleet" / "fleet.json").read_text())
    theirs = json.loads((fleet_dir / "fleet.json").read_text())
    assert mine["gpuconform_version"] == gpuconform.__version__
    for key in ("line", "ok", "totals", "layers", "outcomes", "causes"):
        assert mine[key] == theirs[key], key
    assert [(h["status"], h["layer"], h["check_id"]) for h in mine["hosts"]] == [
        (h["status"], h["layer"], h["check_id"]) for h in theirs["hosts"]
    ]
