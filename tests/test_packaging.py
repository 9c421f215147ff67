"""The matrices, profiles, schemas and suites ship inside the wheel, not only in a checkout."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(REPO)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        pytest.fail(f"building the wheel failed:\n{proc.stderr[-3000:]}")
    return next(out.glob("gpuconform-*.whl"))


def test_the_wheel_carries_data_and_suites(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for expected in (
        "gpuconform/plugin.py",
        "gpuconform/matrices/tensorflow.toml",
        "gpuconform/matrices/cuda_drivers.toml",
        "gpuconform/matrices/gpus.toml",
        "gpuconform/matrices/kernels.toml",
        "gpuconform/matrices/and_cuda.toml",
        "gpuconform/matrices/sonames.toml",
        "gpuconform/matrices/profiles/t4.toml",
        "gpuconform/matrices/profiles/cpu.toml",
        "gpuconform/schemas/facts.schema.json",
        "gpuconform/suites/test_driver.py",
        "gpuconform/suites/conftest.py",
        "gpuconform/py.typed",
    ):
        assert expected in names, expected
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "gpuconform = gpuconform.plugin" in zipfile.ZipFile(wheel).read(entry_points).decode()


def test_an_installed_wheel_finds_its_matrices_profiles_and_suites(wheel: Path, tmp_path: Path) -> None:
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)], check=True
    )
    code = (
        "import gpuconform, gpuconform.plugin as p, gpuconform.profiles as pr\n"
        "from gpuconform.matrix import load_matrices\n"
        "m = load_matrices()\n"
        "print(gpuconform.__file__)\n"
        "print(p.suites_dir())\n"
        "print(','.join(pr.builtin_names()))\n"
        "print(m.tf_release('2.21.0').release.cuda)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    module, suites, profiles, cuda = proc.stdout.split()
    assert module.startswith(str(target))
    assert suites.startswith(str(target))
    assert profiles == "a100,auto,b200,cpu,gb200,h100,h200,l4,l40s,rtx-pro-6000,rtx2080ti,rtx5090,t4,v100"
    assert cuda == "12.5.1"
