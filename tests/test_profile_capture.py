"""`gpuconform profile capture`: a profile of a known-good host that the rest of its fleet is checked against.

The good host and its drifted siblings are compact host descriptions expanded by `gpuconform
facts from-spec`; the checks are real pytest runs of the suites replaying their facts. The keys
a description cannot express (PCIe links, persistence mode, ECC, mixed models) are captured from
Facts built here and loaded back as a profile file.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from gpuconform.expect.capture import capture_profile
from gpuconform.expect.loading import load_matrices
from gpuconform.expect.profiles import Profile
from gpuconform.expect.profiles import load_profile
from gpuconform.facts.model import DriverFacts
from gpuconform.facts.model import Facts
from gpuconform.facts.model import GpuFacts
from gpuconform.facts.model import HostIdentity
from gpuconform.facts.model import NvmlFacts
from gpuconform.facts.model import PackageInfo
from gpuconform.facts.model import PackagesFacts
from gpuconform.facts.model import PlatformFacts
from gpuconform.plugin.keys import suites_dir
from gpuconform.probes.host import facts_json
from tests.catalogue import Row
from tests.catalogue import catalogued

GOOD = """\
[host]
name = "good-node"

[[gpu]]
model = "t4"
count = 2

[driver]
version = "550.54.15"

[tensorflow]
version = "2.21.0"
"""
LAYERS = ("-m", "platform or driver")  # what a description holds (it names no CUDA libraries)
SECTION = "Profiles: recorded by a run, captured from a good host"
#: row id -> (the --facts file, its content or None for absent, what the message says after the file)
UNREADABLE = {
    "capture-facts-missing": ("missing.json", None, "file does not exist"),
    "capture-facts-not-json": ("facts.json", '{"host": ', "is not valid JSON"),
}
CATALOGUE = [
    Row("bad-input", SECTION, "the good host's facts file is not there", "`gpuconform profile capture --facts`",
        "exit 4; `missing.json: file does not exist`; nothing on standard output", "capture-facts-missing"),
    Row("bad-input", SECTION, "the good host's facts file is not JSON", "`gpuconform profile capture --facts`",
        "exit 4; `facts.json: is not valid JSON`; nothing on standard output", "capture-facts-not-json"),
]


def run(where: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GPUCONFORM_")}
    return subprocess.run(
        [sys.executable, *argv], cwd=where, env=env, capture_output=True, text=True, timeout=600, check=False
    )


def described(where: Path, name: str, text: str) -> Path:
    (where / f"{name}.toml").write_text(text)
    proc = run(where, "-m", "gpuconform", "facts", "from-spec", f"{name}.toml", "-o", f"{name}.json")
    assert proc.returncode == 0, proc.stderr
    return where / f"{name}.json"


def check(where: Path, facts: Path, profile: str) -> str:
    proc = run(where, "-m", "pytest", str(suites_dir()), "-p", "no:cacheprovider", "--host-reports", "off",
               "--host-facts", str(facts), "--host-profile", profile, *LAYERS)
    return proc.stdout.splitlines()[-1]


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fleet.toml captured from the good host's facts, as a user redirects it."""
    where = tmp_path_factory.mktemp("fleet")
    described(where, "good", GOOD)
    proc = run(where, "-m", "gpuconform", "profile", "capture", "--facts", "good.json")
    assert proc.returncode == 0, proc.stderr
    (where / "fleet.toml").write_text(proc.stdout)
    return where


def test_the_captured_profile_holds_what_the_good_host_is(fleet: Path) -> None:
    profile = load_profile(fleet / "fleet.toml", load_matrices())  # a valid profile file
    assert profile.name == "fleet"
    assert profile.description == "like good-node: 2 x Tesla T4; driver 550.54.15; tensorflow 2.21.0"
    assert (profile.gpus.count, profile.gpus.model, profile.gpus.compute_capability) == (2, "t4", "7.5")
    assert profile.gpus.min_memory_mib == 15360
    assert (profile.driver.min_version, profile.driver.max_version) == ("550.54.15", "551")
    assert (profile.tensorflow.required, profile.tensorflow.version, profile.tensorflow.gpu_build) == (
        True, "==2.21.0", True,
    )


def test_the_good_host_passes_its_own_profile(fleet: Path) -> None:
    assert check(fleet, fleet / "good.json", "fleet.toml").startswith("host verdict: PASS (profile fleet")


def test_a_host_on_another_driver_branch_fails_naming_the_drift(fleet: Path) -> None:
    other = described(fleet, "older-driver", GOOD.replace("550.54.15", "535.104.05"))
    assert check(fleet, other, "fleet.toml") == (
        "host verdict: FAIL at driver: driver 535.104.05 is outside the profile's range (>= 550.54.15 and < 551)"
    )


def test_a_host_with_a_gpu_fewer_fails_naming_the_drift(fleet: Path) -> None:
    other = described(fleet, "one-gpu", GOOD.replace("count = 2", "count = 1"))
    assert check(fleet, other, "fleet.toml") == (
        "host verdict: FAIL at driver: expected 2 Tesla T4 on the PCI bus, found 1"
    )


def test_a_host_on_another_tensorflow_fails_naming_the_drift(fleet: Path) -> None:
    other = described(fleet, "newer-tf", GOOD.replace('version = "2.21.0"', 'version = "2.20.0"'))
    line = check(fleet, other, "fleet.toml")
    assert line.startswith("host verdict: FAIL at platform: ") and "2.20.0" in line and "==2.21.0" in line, line


def test_capture_of_this_live_host_writes_a_profile_it_passes(tmp_path: Path) -> None:
    proc = run(tmp_path, "-m", "gpuconform", "profile", "capture", "--name", "this-host", "-o", "here.toml")
    assert proc.returncode == 0 and proc.stdout == "", proc.stderr
    assert load_profile(tmp_path / "here.toml", load_matrices()).name == "this-host"
    live = run(tmp_path, "-m", "pytest", str(suites_dir()), "-p", "no:cacheprovider", "--host-reports", "off",
               "--host-profile", "here.toml", *LAYERS)
    assert live.stdout.splitlines()[-1].startswith("host verdict: PASS (profile this-host"), live.stdout[-3000:]


@catalogued(CATALOGUE)
def test_a_facts_file_capture_cannot_read_is_a_usage_error_naming_it(row: Row, tmp_path: Path) -> None:
    name, content, words = UNREADABLE[row.id]
    if content is not None:
        (tmp_path / name).write_text(content)
    proc = run(tmp_path, "-m", "gpuconform", "profile", "capture", "--facts", name)
    assert proc.returncode == 4, proc.stderr
    assert proc.stderr.startswith(f"gpuconform: error: {name}: {words}") and proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stdout == ""  # no half profile redirected into fleet.toml


def facts_of(*gpus: GpuFacts, hostname: str = "node-1") -> Facts:
    """A recorded host with these NVML GPUs, driver 550.54.15 and TensorFlow 2.21.0."""
    return Facts(
        host=HostIdentity(hostname, "2026-09-01T00:00:00+00:00"),
        platform=PlatformFacts("3.11.9", "CPython", "Linux", "6.8.0", "x86_64"),
        packages=PackagesFacts(tensorflow=PackageInfo("tensorflow", "2.21.0")),
        driver=DriverFacts(nvml=NvmlFacts(driver_version="550.54.15", gpus=gpus)),
    )


def captured(facts: Facts, tmp_path: Path) -> Profile:
    """Capture `facts`, write the text and load it back as `--host-profile` would."""
    (tmp_path / "captured.toml").write_text(capture_profile(facts, load_matrices(), "fleet"))
    return load_profile(tmp_path / "captured.toml", load_matrices())


def test_the_weakest_gpu_sets_each_minimum_and_a_state_is_required_only_where_every_gpu_has_it(
    tmp_path: Path,
) -> None:
    full = GpuFacts(0, "Tesla T4", compute_capability=(7, 5), memory_total_mib=15360, persistence_mode=True,
                    ecc_enabled=True, pcie_gen_max=3, pcie_width_max=16)
    narrower = replace(full, index=1, memory_total_mib=15109, ecc_enabled=False, pcie_width_max=8)
    gpus = captured(facts_of(full, narrower), tmp_path).gpus
    assert (gpus.count, gpus.model, gpus.min_memory_mib, gpus.min_pcie_gen, gpus.min_pcie_width) == (
        2, "t4", 15109, 3, 8,
    )
    assert gpus.persistence_mode is True and gpus.ecc is None


def test_a_host_of_mixed_models_pins_the_count_but_no_model(tmp_path: Path) -> None:
    t4 = GpuFacts(0, "Tesla T4", compute_capability=(7, 5))
    a100 = GpuFacts(1, "NVIDIA A100-SXM4-40GB", compute_capability=(8, 0))
    gpus = captured(facts_of(t4, a100), tmp_path).gpus
    assert (gpus.count, gpus.model, gpus.compute_capability, gpus.min_memory_mib) == (2, None, None, None)


def test_a_hostname_with_quotes_and_backslashes_still_captures_a_valid_profile(tmp_path: Path) -> None:
    odd = 'node "7" \\ rack\tb'
    profile = captured(facts_of(GpuFacts(0, "Tesla T4"), hostname=odd), tmp_path)
    assert profile.description.startswith(f"like {odd}: 1 x Tesla T4")


def test_a_host_with_pytorch_and_jax_captures_a_frameworks_table_pinning_each_and_a_drifted_torch_fails(
    tmp_path: Path,
) -> None:
    frameworks = (PackageInfo("torch", "2.13.0+cpu"), PackageInfo("jax", "0.10.2"), PackageInfo("numpy", "2.3.4"))
    good = facts_of(GpuFacts(0, "Tesla T4", compute_capability=(7, 5)))
    good = replace(good, packages=replace(good.packages, others=frameworks))
    profile = captured(good, tmp_path)
    needs = {n.name: (n.required, n.specifier) for n in profile.framework_needs(good.packages)}
    assert needs == {"tensorflow": (True, "==2.21.0"), "torch": (True, "==2.13.0+cpu"), "jax": (True, "==0.10.2")}
    assert profile.tensorflow.gpu_build is True
    assert profile.description == (
        "like node-1: 1 x Tesla T4; driver 550.54.15; tensorflow 2.21.0; torch 2.13.0+cpu; jax 0.10.2"
    )
    older = (PackageInfo("torch", "2.12.1+cpu"), *frameworks[1:])
    (tmp_path / "drifted.json").write_text(facts_json(replace(good, packages=replace(good.packages, others=older))))
    proc = run(tmp_path, "-m", "pytest", str(suites_dir()), "-p", "no:cacheprovider", "--host-reports", "off",
               "--host-facts", "drifted.json", "--host-profile", "captured.toml", "-m", "framework",
               "-k", "torch_imports")
    assert proc.stdout.splitlines()[-1] == (
        "host verdict: FAIL at framework: torch 2.12.1+cpu is outside the profile's range (==2.13.0+cpu)"
    ), proc.stdout[-3000:]
