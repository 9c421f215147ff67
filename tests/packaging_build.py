"""Build gpuconform's sdist and wheel as a release does, from a copy of the working tree.

The copy holds the files git would hand a fresh clone plus the untracked files it does not
ignore (so a module added but not yet committed is built too), and none of the ignored ones:
no build/, .venv/, egg-info or reports/ of this checkout can leak into what is built.
Builds go through `python -m build` (PEP 517, an isolated build environment with the
build-system requirements of pyproject.toml from the registry), started from the output
directory so that no folder of the tree shadows the `build` module.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
#: Set by the release workflow: test this already-built wheel instead of building one.
WHEEL_ENV = "GPUCONFORM_TEST_WHEEL"


def tree_files(repo: Path = REPO) -> list[str]:
    """The working tree's files a build can see: tracked or untracked, not ignored, present."""
    proc = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        pytest.fail(f"git ls-files failed in {repo}: {proc.stderr.strip()}")
    return sorted({name for name in proc.stdout.split("\0") if name and (repo / name).is_file()})


def copy_tree(dest: Path, repo: Path = REPO) -> Path:
    """Copy the tree's files (as tree_files lists them) below dest; return dest."""
    for name in tree_files(repo):
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(repo / name, target)
    return dest


def build(source: Path, out: Path, *options: str) -> None:
    """`python -m build [options] --outdir out source`; fails the test with the build's output."""
    out.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "build", *options, "--outdir", str(out), str(source)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    proc = subprocess.run(argv, cwd=out, env=env, capture_output=True, text=True, timeout=600, check=False)
    if proc.returncode != 0:
        pytest.fail(f"{' '.join(argv)} failed ({proc.returncode}):\n{(proc.stdout + proc.stderr)[-4000:]}")


def only(directory: Path, pattern: str) -> Path:
    """The one file matching pattern in directory."""
    found = sorted(directory.glob(pattern))
    assert len(found) == 1, f"expected one {pattern} in {directory}, found {[p.name for p in found]}"
    return found[0]


def release_wheel(tmp: Path) -> Path:
    """The wheel a release publishes: $GPUCONFORM_TEST_WHEEL, or one built from the tree's sdist."""
    given = os.environ.get(WHEEL_ENV)
    if given:
        path = Path(given)
        if not path.is_file():
            pytest.fail(f"{WHEEL_ENV}={given} is not a file")
        return path
    build(copy_tree(tmp / "tree"), tmp / "dist")
    return only(tmp / "dist", "gpuconform-*.whl")


def wheel_names(wheel: Path) -> set[str]:
    """The files of a wheel, without its .dist-info directory."""
    with zipfile.ZipFile(wheel) as archive:
        return {n for n in archive.namelist() if not n.split("/")[0].endswith(".dist-info") and not n.endswith("/")}
