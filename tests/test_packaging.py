"""The sdist and the wheel: built as a release builds them, checked by twine, and holding what
the suite needs at run time and nothing else.

What the wheel must hold is read from the tree, not listed here: every file below
plugins/gpuconform (the modules of every subpackage, the schemas, the reference model's data,
py.typed), every file below matrices/ (the matrices and the built-in profiles) and below suites/
(the checks). A module or data file added there ships, or these tests say which one did not.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tarfile
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

import gpuconform
from tests.packaging_build import REPO
from tests.packaging_build import build
from tests.packaging_build import copy_tree
from tests.packaging_build import only
from tests.packaging_build import tree_files
from tests.packaging_build import wheel_names

#: Folders of the tree and where their files lie in the wheel (pyproject.toml's package-dir).
SHIPPED = {"plugins/gpuconform/": "gpuconform/", "matrices/": "gpuconform/matrices/", "suites/": "gpuconform/suites/"}
#: The canonical Apache License 2.0 text (apache.org's LICENSE-2.0.txt), as pyproject.toml declares.
APACHE_2_0_SHA256 = "cfc7749b96f63bd31c3c42b5c471bf756814053e847c10f3eb003417bc523d30"


def expected_wheel_files(names: list[str]) -> set[str]:
    """Where each shipped file of the tree lies in the wheel."""
    out = set()
    for name in names:
        for folder, target in SHIPPED.items():
            if name.startswith(folder):
                out.add(target + name[len(folder) :])
    return out


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A release's sdist and wheel (`python -m build`: the wheel is built from the sdist), and a
    wheel built straight from the tree (`python -m build --wheel`)."""
    tmp = tmp_path_factory.mktemp("packaging")
    tree = copy_tree(tmp / "tree")
    build(tree, tmp / "release")
    build(tree, tmp / "from-tree", "--wheel")
    return {
        "sdist": only(tmp / "release", "gpuconform-*.tar.gz"),
        "wheel": only(tmp / "release", "gpuconform-*.whl"),
        "tree_wheel": only(tmp / "from-tree", "gpuconform-*.whl"),
    }


def contents(wheel: Path) -> dict[str, str]:
    """Each file of the wheel and the SHA-256 of its bytes (the RECORD itself left out)."""
    with zipfile.ZipFile(wheel) as archive:
        return {
            name: hashlib.sha256(archive.read(name)).hexdigest()
            for name in archive.namelist()
            if not name.endswith(("/RECORD", "/"))
        }


def metadata(wheel: Path) -> tuple[dict[str, str], list[tuple[str, str]]]:
    with zipfile.ZipFile(wheel) as archive:
        text = archive.read(next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))).decode()
    message = Parser().parsestr(text)
    return dict(message.items()), list(message.items())


def test_the_sdist_and_the_wheel_pass_twine_check(built: dict[str, Path]) -> None:
    argv = [sys.executable, "-m", "twine", "check", "--strict", str(built["sdist"]), str(built["wheel"])]
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("PASSED") == 2, proc.stdout


def test_the_wheel_built_from_the_sdist_is_the_wheel_built_from_the_tree(built: dict[str, Path]) -> None:
    from_sdist, from_tree = contents(built["wheel"]), contents(built["tree_wheel"])
    assert sorted(from_sdist) == sorted(from_tree)
    assert [n for n in from_sdist if from_sdist[n] != from_tree[n]] == []


def test_the_wheel_holds_every_module_and_data_file_of_the_package_and_nothing_else(built: dict[str, Path]) -> None:
    expected = expected_wheel_files(tree_files())
    found = wheel_names(built["wheel"])
    assert sorted(expected - found) == [], "in the tree's package folders but not in the wheel"
    assert sorted(found - expected) == [], "in the wheel but not a file of plugins/gpuconform, matrices or suites"


def test_the_wheel_holds_what_the_suite_opens_at_run_time(built: dict[str, Path]) -> None:
    found = wheel_names(built["wheel"])
    tree = tree_files()
    matrices = [n for n in tree if n.startswith("matrices/") and n.endswith(".toml")]
    assert {f"gpuconform/{n}" for n in matrices} <= found
    assert any(n.startswith("matrices/profiles/") for n in matrices)
    for needed in (
        "gpuconform/py.typed",
        "gpuconform/schemas/facts.schema.json",
        "gpuconform/schemas/result.schema.json",
        "gpuconform/schemas/fleet.schema.json",
        "gpuconform/data/reference_model.json",
        "gpuconform/data/reference_model.bin",
        "gpuconform/frameworks/tensorflow/experiments/__init__.py",
        "gpuconform/frameworks/tensorflow/experiments/child.py",
        "gpuconform/suites/__init__.py",
        "gpuconform/suites/conftest.py",
        "gpuconform/suites/test_platform.py",
        "gpuconform/matrices/__init__.py",
        "gpuconform/matrices/profiles/__init__.py",
    ):
        assert needed in found, needed
    suites = {n for n in tree if n.startswith("suites/test_") and n.endswith(".py")}
    assert len(suites) >= 8 and {f"gpuconform/{n}" for n in suites} <= found


def test_the_wheel_leaves_out_tests_docs_tools_and_benchmarks(built: dict[str, Path]) -> None:
    with zipfile.ZipFile(built["wheel"]) as archive:
        names = archive.namelist()
    assert [n for n in names if n.split("/")[0] in ("tests", "docs", "tools", "benchmarks", "launchers")] == []
    assert [n for n in names if n.endswith((".png", ".pyc", ".so", ".c"))] == []
    assert {n.split("/")[0] for n in names} == {"gpuconform", f"gpuconform-{gpuconform.__version__}.dist-info"}


def test_the_wheel_declares_its_version_license_commands_and_no_ml_framework(built: dict[str, Path]) -> None:
    fields, items = metadata(built["wheel"])
    assert fields["Name"] == "gpuconform" and fields["Version"] == gpuconform.__version__
    assert fields["License-Expression"] == "Apache-2.0" and fields["License-File"] == "LICENSE"
    with zipfile.ZipFile(built["wheel"]) as archive:
        info = f"gpuconform-{gpuconform.__version__}.dist-info"
        assert archive.read(f"{info}/licenses/LICENSE") == (REPO / "LICENSE").read_bytes()
        entry_points = archive.read(f"{info}/entry_points.txt").decode()
    assert "[pytest11]\ngpuconform = gpuconform.plugin.hooks" in entry_points
    assert "[console_scripts]\ngpuconform = gpuconform.cli:main" in entry_points
    base = [v for k, v in items if k == "Requires-Dist" and "extra ==" not in v]
    assert base and not [r for r in base if r.split()[0].startswith(("tensorflow", "torch", "jax", "keras"))]


def test_the_sdist_holds_the_sources_license_and_changelog_but_not_the_tests(built: dict[str, Path]) -> None:
    with tarfile.open(built["sdist"]) as archive:
        names = {n.split("/", 1)[1] for n in archive.getnames() if "/" in n}
    for needed in ("pyproject.toml", "setup.py", "README.md", "LICENSE", "CHANGELOG.md", "PKG-INFO"):
        assert needed in names, needed
    shipped = [n for n in tree_files() if any(n.startswith(folder) for folder in SHIPPED)]
    assert sorted(set(shipped) - names) == []
    assert [n for n in names if n.startswith(("tests/", "docs/", "tools/", "benchmarks/"))] == []


def test_the_license_file_is_the_apache_2_0_text() -> None:
    text = (REPO / "LICENSE").read_bytes()
    assert hashlib.sha256(text).hexdigest() == APACHE_2_0_SHA256
    assert b"Apache License\n                           Version 2.0, January 2004" in text


def test_a_new_subpackage_and_its_data_ship_without_an_edit_to_the_packaging(tmp_path: Path) -> None:
    # The layout will change (plugins/gpuconform split into subpackages): packages are found, not listed.
    tree = copy_tree(tmp_path / "tree")
    new = tree / "plugins" / "gpuconform" / "layers" / "driver"
    new.mkdir(parents=True)
    for folder in (new.parent, new):
        (folder / "__init__.py").write_text('"""A subpackage the packaging has never heard of."""\n')
    (new / "rules.toml").write_text("[meta]\n")
    (tree / "matrices" / "vendors").mkdir()
    (tree / "matrices" / "vendors" / "__init__.py").write_text("")
    (tree / "matrices" / "vendors" / "amd.toml").write_text("[meta]\n")
    build(tree, tmp_path / "dist", "--wheel")
    found = wheel_names(only(tmp_path / "dist", "gpuconform-*.whl"))
    for shipped in (
        "gpuconform/layers/__init__.py",
        "gpuconform/layers/driver/__init__.py",
        "gpuconform/layers/driver/rules.toml",
        "gpuconform/matrices/vendors/__init__.py",
        "gpuconform/matrices/vendors/amd.toml",
    ):
        assert shipped in found, shipped


def test_an_installed_wheel_finds_its_matrices_profiles_schemas_model_and_suites(
    built: dict[str, Path], tmp_path: Path
) -> None:
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(built["wheel"])],
        check=True,
    )
    code = (
        "import gpuconform, gpuconform.plugin.hooks as p, gpuconform.expect.profiles as pr\n"
        "from gpuconform.expect.loading import load_matrices\n"
        "from gpuconform.frameworks.tensorflow.reference_model import load_reference\n"
        "from gpuconform.fleet.schema import SCHEMAS\n"
        "m = load_matrices()\n"
        "print(gpuconform.__file__)\n"
        "print(p.suites_dir())\n"
        "print(','.join(pr.builtin_names()))\n"
        "print(m.tf_release('2.21.0').release.cuda)\n"
        "print(len(load_reference().golden) > 0)\n"
        "print(sorted(f.name for f in SCHEMAS.glob('*.json')) == "
        "['facts.schema.json', 'fleet.schema.json', 'result.schema.json'])\n"
    )
    proc = subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(target)!r})\n{code}"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    module, suites, profiles, cuda, model, schemas = proc.stdout.split()
    assert module.startswith(str(target))
    assert suites.startswith(str(target))
    assert profiles.split(",") == sorted(["auto", *(p.stem for p in (REPO / "matrices" / "profiles").glob("*.toml"))])
    assert cuda == "12.5.1" and model == "True" and schemas == "True"
