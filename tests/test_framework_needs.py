"""A profile's [frameworks] table: what it requires, what it checks because it is installed, and
whether an installed version satisfies it. Installed frameworks are real dist-info directories
written here and read by the platform probe (importlib.metadata), never imported."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import pytest

from gpuconform.expect.framework_needs import FrameworkNeed
from gpuconform.expect.framework_needs import installed_frameworks
from gpuconform.expect.framework_needs import version_satisfies
from gpuconform.expect.loading import load_matrices
from gpuconform.expect.profiles import Profile
from gpuconform.expect.profiles import auto_profile
from gpuconform.expect.profiles import builtin_dir
from gpuconform.expect.profiles import builtin_names
from gpuconform.expect.profiles import load_profile
from gpuconform.facts.errors import DataError
from gpuconform.facts.model import PackagesFacts
from gpuconform.probes.described import expand
from gpuconform.probes.described import load_description
from gpuconform.probes.platform import probe_packages

MATRICES = load_matrices()
HEAD = '[profile]\nname = "p"\ndescription = "d"\n[gpus]\ncount = 1\n'


def profile(tmp_path: Path, text: str) -> Profile:
    (tmp_path / "p.toml").write_text(text + HEAD)
    return load_profile(tmp_path / "p.toml", MATRICES)


def refused(tmp_path: Path, text: str) -> DataError:
    with pytest.raises(DataError) as caught:
        profile(tmp_path, text)
    return caught.value


def site(tmp_path: Path, **versions: str) -> PackagesFacts:
    """An environment holding these distributions (dist-info only), as the probe reads it."""
    root = tmp_path / "site"
    for name, version in versions.items():
        info = root / f"{name}-{version}.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name.replace('_', '-')}\nVersion: {version}\n")
    return probe_packages(path=[str(root)])


def needs(p: Profile, packages: PackagesFacts) -> dict[str, FrameworkNeed]:
    return {n.name: n for n in p.framework_needs(packages)}


# --- profiles without the table mean TensorFlow, as before ------------------------------------------


@pytest.mark.parametrize("name", [n for n in builtin_names() if n != "auto"])
def test_a_builtin_profile_requires_tensorflow_exactly_when_its_tensorflow_table_does(name: str) -> None:
    p = load_profile(builtin_dir() / f"{name}.toml", MATRICES)
    expected = (("tensorflow", p.tensorflow.version or "*"),) if p.tensorflow.required else ()
    assert p.frameworks == expected
    assert p.tensorflow.required == (name != "cpu")


def test_without_the_table_a_tensorflow_version_is_the_requirement(tmp_path: Path) -> None:
    p = profile(tmp_path, '[tensorflow]\nversion = ">=2.16"\n')
    assert p.frameworks == (("tensorflow", ">=2.16"),)
    need = needs(p, site(tmp_path))["tensorflow"]
    assert (need.required, need.installed, need.satisfied, need.failure_level) == (True, None, None, "failure")


# --- the table ----------------------------------------------------------------------------------------


def test_the_table_names_what_the_host_must_run_and_tensorflow_follows_it(tmp_path: Path) -> None:
    p = profile(tmp_path, '[frameworks]\ntorch = ">=2.6"\njax = "*"\ntensorflow = ">=2.16"\n')
    assert p.frameworks == (("tensorflow", ">=2.16"), ("torch", ">=2.6"), ("jax", "*"))
    assert p.tensorflow.required and p.tensorflow.version == ">=2.16"  # what the TensorFlow checks read


def test_a_table_without_tensorflow_makes_an_installed_tensorflow_optional(tmp_path: Path) -> None:
    p = profile(tmp_path, '[frameworks]\ntorch = ">=2.6"\n')
    assert not p.tensorflow.required
    found = needs(p, site(tmp_path, torch="2.9.0+cu128", tensorflow="2.21.0"))
    assert found["torch"].required and found["torch"].satisfied
    assert not found["tensorflow"].required and found["tensorflow"].failure_level == "warning"
    assert "jax" not in found  # neither required nor installed


def test_an_installed_version_outside_the_specifier_is_not_satisfied(tmp_path: Path) -> None:
    p = profile(tmp_path, '[frameworks]\ntorch = ">=2.6"\n')
    need = needs(p, site(tmp_path, torch="2.5.1"))["torch"]
    assert need.installed is not None and need.installed.version == "2.5.1"
    assert need.satisfied is False and need.source == f"frameworks.torch in {tmp_path / 'p.toml'}"


def test_auto_in_the_table_requires_a_framework_only_when_it_is_installed(tmp_path: Path) -> None:
    p = profile(tmp_path, '[frameworks]\njax = "auto"\ntorch = "auto"\n')
    found = needs(p, site(tmp_path, jax="0.7.2"))
    assert found["jax"].required and found["jax"].satisfied
    assert "torch" not in found


@pytest.mark.parametrize(
    ("text", "key", "words"),
    [
        ('[frameworks]\npytorch = "*"\n', "frameworks.pytorch", ("did you mean 'torch'?", "jax, tensorflow, torch")),
        ('[frameworks]\ntorch = "2.6+"\n', "frameworks.torch", ("is not a version specifier", "'auto'")),
        ('[frameworks]\ntorch = ""\n', "frameworks.torch", ("is not a version specifier", "PEP 440")),
        ("[frameworks]\ntorch = 2.6\n", "frameworks.torch", ("expected a string, got float",)),
        ('frameworks = "torch"\n', "frameworks", ("expected a table",)),
        ('[frameworks]\ntensorflow = ">=2.16"\n[tensorflow]\nversion = "<3"\n', "frameworks.tensorflow", ("differs",)),
        ('[frameworks]\ntorch = "*"\n[tensorflow]\nrequired = true\n', "tensorflow.required", ("does not require",)),
    ],
)
def test_a_bad_table_is_a_data_error_naming_the_file_the_key_and_what_is_accepted(
    tmp_path: Path, text: str, key: str, words: tuple[str, ...]
) -> None:
    error = refused(tmp_path, text)
    assert (error.source, error.key) == (str(tmp_path / "p.toml"), key)
    message = str(error)
    assert "accepted" in message and all(w in message for w in words), message


# --- installed, and satisfied --------------------------------------------------------------------------


def test_installed_frameworks_come_from_distribution_metadata_without_importing_them(tmp_path: Path) -> None:
    packages = site(tmp_path, torch="2.9.0", jax="0.7.2", jaxlib="0.7.2", numpy="2.1.0")
    found = installed_frameworks(packages)
    assert {name: info.version for name, info in found.items()} == {"torch": "2.9.0", "jax": "0.7.2"}
    assert "torch" not in sys.modules and "jax" not in sys.modules


@pytest.mark.parametrize(
    ("specifier", "version", "meets"),
    [
        (">=2.6", "2.9.0+cu128", True),  # a local label is ignored
        (">=2.6", "2.5.1", False),
        (">=2.6", "2.8.0rc1", True),  # a pre-release is judged by its version
        ("==2.9.0", "2.9.0+cu128", True),
        (">=2.6,<2.9", "2.9.0", False),
        ("*", "0.0.1", True),
        ("auto", "1.0", True),
        (">=2.6", "not a version", False),
    ],
)
def test_an_installed_version_satisfies_a_specifier_as_pep_440_says(specifier: str, version: str, meets: bool) -> None:
    assert version_satisfies(specifier, version) is meets


def test_the_auto_profile_requires_every_framework_that_is_installed(tmp_path: Path) -> None:
    (tmp_path / "host.toml").write_text('[[gpu]]\nmodel = "t4"\n[driver]\nversion = "550.54.15"\n')
    facts = expand(load_description(tmp_path / "host.toml"), MATRICES)
    facts = replace(facts, packages=site(tmp_path, torch="2.9.0"))
    p = auto_profile(facts, MATRICES)
    found = needs(p, facts.packages)
    assert list(found) == ["torch"] and found["torch"].required
    assert not p.tensorflow.required  # TensorFlow is not installed here
