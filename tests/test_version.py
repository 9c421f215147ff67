"""One version, defined once (gpuconform.__version__), and every place that shows it agrees:
the distribution's metadata, `gpuconform --version`, result.json, facts.json and CHANGELOG.md.
(The launchers' default pins are checked in test_launchers.py.)"""

from __future__ import annotations

import importlib.metadata
import json
import re
import subprocess
import sys
from pathlib import Path

from packaging.version import Version

import gpuconform

REPO = Path(__file__).resolve().parents[1]

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - the dev environment runs 3.11
    import tomli as tomllib


def changelog_entries() -> list[tuple[str, str]]:
    """(version, date) of each `## [VERSION] - DATE` heading of CHANGELOG.md, newest first."""
    text = (REPO / "CHANGELOG.md").read_text()
    return re.findall(r"^## \[([^\]]+)\](?: - (\S+))?$", text, re.MULTILINE)


def test_the_version_is_defined_once_and_pyproject_reads_it() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert "version" not in project["project"] and "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "gpuconform.__version__"}
    assert str(Version(gpuconform.__version__)) == gpuconform.__version__  # a normalised PEP 440 version
    source = (REPO / "plugins" / "gpuconform" / "__init__.py").read_text()
    assert source.count(f'__version__ = "{gpuconform.__version__}"') == 1


def test_the_installed_distribution_has_the_version_of_the_code() -> None:
    installed = importlib.metadata.version("gpuconform")
    assert installed == gpuconform.__version__, f"the metadata says {installed}: reinstall (pip install -e .)"


def test_gpuconform_version_prints_it() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "gpuconform", "--version"], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0 and proc.stdout == f"gpuconform {gpuconform.__version__}\n", proc.stderr


def test_the_changelogs_top_entry_is_this_version() -> None:
    entries = [(v, d) for v, d in changelog_entries() if v.lower() != "unreleased"]
    assert entries, "CHANGELOG.md has no `## [VERSION] - YYYY-MM-DD` entry"
    version, date = entries[0]
    assert version == gpuconform.__version__
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", date), date
    assert len({v for v, _ in entries}) == len(entries), "a version appears twice"


def test_a_run_records_the_version_in_result_json_and_facts_json(tmp_path: Path) -> None:
    argv = [sys.executable, "-m", "pytest", "--host-profile", "cpu", "-m", "platform", "-p", "no:cacheprovider"]
    argv += ["--host-reports", str(tmp_path), "--host-report-formats", "facts,result"]
    proc = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert json.loads((tmp_path / "result.json").read_text())["gpuconform_version"] == gpuconform.__version__
    host = json.loads((tmp_path / "facts.json").read_text())["host"]
    assert host["gpuconform_version"] == gpuconform.__version__
