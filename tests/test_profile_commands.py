"""The built-in profiles: `pytest --host-profile list` and `gpuconform profiles` describe them,
and a built-in name is found in any case (`T4` is t4) while a profile file's path stays as written."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gpuconform.expect.loading import load_matrices
from gpuconform.expect.matrix import Matrices
from gpuconform.expect.profiles import builtin_names
from gpuconform.expect.profiles import resolve_profile
from gpuconform.plugin.keys import suites_dir
from tests.test_compat import host

T4_LINE = "t4            One NVIDIA Tesla T4 (Turing, 16 GB GDDR6), e.g. AWS g4dn or GCP n1 with T4"
MINE = """\
[profile]
name = "mine"
description = "my own T4 profile"

[gpus]
count = 1
model = "t4"
"""


@pytest.fixture(scope="module")
def matrices() -> Matrices:
    return load_matrices()


def run(where: Path, *argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GPUCONFORM_")}
    return subprocess.run(
        [sys.executable, *argv], cwd=where, env={**clean, **(env or {})},
        capture_output=True, text=True, timeout=300, check=False,
    )


def test_host_profile_list_prints_every_built_in_with_its_description_and_runs_no_check(tmp_path: Path) -> None:
    proc = run(tmp_path, "-m", "pytest", str(suites_dir()), "-p", "no:cacheprovider", "--host-profile", "list")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    assert [line.split()[0] for line in lines] == builtin_names()
    assert T4_LINE in lines
    assert any(line.startswith("auto ") and "(the default)" in line for line in lines)
    assert not (tmp_path / "reports").exists()  # nothing probed, nothing checked, nothing written
    assert "host verdict" not in proc.stdout and "passed" not in proc.stdout


def test_gpuconform_profiles_prints_the_same_list(tmp_path: Path) -> None:
    listed = run(tmp_path, "-m", "pytest", "--host-profile", "List", "-p", "no:cacheprovider")
    command = run(tmp_path, "-m", "gpuconform", "profiles")
    assert command.returncode == 0, command.stderr
    assert command.stdout == listed.stdout
    assert T4_LINE in command.stdout.splitlines()


def test_the_help_advertises_the_list(tmp_path: Path) -> None:
    proc = run(tmp_path, "-m", "pytest", "--help", "-p", "no:cacheprovider")
    assert "--host-profile=list" in proc.stdout


def test_a_built_in_name_is_found_in_any_case(matrices: Matrices, tmp_path: Path) -> None:
    facts = host()
    assert resolve_profile("T4", facts, matrices, tmp_path).name == "t4"
    assert resolve_profile("RTX-Pro-6000", facts, matrices, tmp_path).name == "rtx-pro-6000"
    assert resolve_profile("AUTO", facts, matrices, tmp_path).chosen_by.startswith("auto: ")


def test_a_misspelt_name_in_another_case_still_gets_a_suggestion(matrices: Matrices, tmp_path: Path) -> None:
    from gpuconform.facts.errors import DataError

    with pytest.raises(DataError, match="unknown profile 'A10O'; did you mean 'a100'"):
        resolve_profile("A10O", host(), matrices, tmp_path)


def test_a_profile_files_path_stays_as_written(matrices: Matrices, tmp_path: Path) -> None:
    (tmp_path / "Profiles").mkdir()
    (tmp_path / "Profiles" / "T4.toml").write_text(MINE)
    (tmp_path / "T4").write_text(MINE)  # a file of one's own named like a built-in but for case
    assert resolve_profile("Profiles/T4.toml", host(), matrices, tmp_path).name == "mine"
    assert resolve_profile("T4", host(), matrices, tmp_path).name == "mine"
    assert resolve_profile("t4", host(), matrices, tmp_path).name == "t4"  # the exact built-in name is the built-in
    from gpuconform.facts.errors import DataError

    with pytest.raises(DataError, match="file does not exist"):
        resolve_profile("profiles/t4.toml", host(), matrices, tmp_path)  # not lowered into the file that is there


def test_the_option_the_variable_and_compat_take_a_built_in_name_in_any_case(tmp_path: Path) -> None:
    suites = str(suites_dir())
    platform = ("-m", "pytest", suites, "-p", "no:cacheprovider", "-m", "platform")
    option = run(tmp_path, *platform, "--host-profile", "CPU")
    assert option.stdout.splitlines()[-1].startswith("host verdict: PASS (profile cpu"), option.stdout[-2000:]
    variable = run(tmp_path, *platform, env={"GPUCONFORM_PROFILE": "Cpu"})
    assert variable.stdout.splitlines()[-1].startswith("host verdict: PASS (profile cpu"), variable.stdout[-2000:]
    facts = tmp_path / "facts.json"
    from gpuconform.probes.host import facts_json

    facts.write_text(facts_json(host()))
    compat = run(tmp_path, "-m", "gpuconform", "compat", "--facts", str(facts), "--profile", "T4")
    assert compat.returncode == 0, compat.stderr
    assert compat.stdout.startswith("profile t4: One NVIDIA Tesla T4")
