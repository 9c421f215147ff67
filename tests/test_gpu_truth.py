"""tools/gpu_truth.sh on this (GPU-less) host, and tools/carried_wheels.py's choice of wheels.

The script is run for real with a short budget: the h200-torch-jax profile on a host without a
GPU is a host that does not conform (the driver layer finds no NVIDIA GPU), and the script still
leaves facts, result.json, junit.xml, the children's answers and its step table in the one
folder it was given. The carried-wheel choice is tested on small wheels written here: a
requirement the environment meets is left to it, one it does not meet takes the carried wheel.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tools" / "gpu_truth.sh"
CARRIED = ROOT / "tools" / "carried_wheels.py"


@pytest.mark.skipif(
    shutil.which("bash") is None or shutil.which("timeout") is None, reason="gpu_truth.sh needs bash and timeout"
)
def test_gpu_truth_on_a_host_without_a_gpu_writes_every_report_into_the_one_folder(tmp_path: Path) -> None:
    out = tmp_path / "truth"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GPUCONFORM_", "GPU_TRUTH_"))}
    env.update(
        GPU_TRUTH_PYTHON=sys.executable,  # this environment's gpuconform: no carried folder here
        GPU_TRUTH_WHEELS=str(tmp_path / "no-wheels"),
        GPU_TRUTH_BUDGET="240",
        PYTHONUNBUFFERED="1",
    )
    env.pop("OUT", None)
    proc = subprocess.run(
        ["bash", str(SCRIPT), str(out)], env=env, capture_output=True, text=True, timeout=300, check=False
    )
    said = proc.stdout + proc.stderr
    assert f"gpu_truth: everything it recorded is in {out}" in said, said[-3000:]
    for name in ("facts.json", "result.json", "junit.xml", "low/facts.json", "low/result.json", "steps.tsv"):
        assert (out / name).is_file(), (name, said[-3000:])
    result = json.loads((out / "result.json").read_text())
    assert result["verdict"]["status"] == "FAIL", result["verdict"]  # an H200 profile, and no GPU here
    assert proc.returncode == 1, said[-3000:]
    checks = {c["id"]: c for c in result["checks"]}
    assert not [c for c in checks.values() if c["outcome"] == "error"], "a check errored"
    gpu_count = next(c for i, c in checks.items() if i.startswith("driver::") and c["outcome"] == "failed")
    assert "GPU" in json.dumps(gpu_count)
    # Every child's answers, one file each, as facts.json has them.
    observations = json.loads((out / "facts.json").read_text())["observations"]
    children = sorted((out / "children").glob("*.json"))
    assert len(children) == len(observations)
    for path, child in zip(children, observations):
        assert json.loads(path.read_text()) == child
        assert path.name.endswith(f"-{child['framework']}-{child['module']}.json")
    steps = (out / "steps.tsv").read_text().splitlines()
    assert steps[0] == "step\texit\tseconds"
    assert {line.split("\t")[0] for line in steps[1:]} >= {"host-pip-list", "low", "suite", "children"}
    assert (out / "host" / "pip-list.txt").is_file()


# --- carried_wheels.py missing -----------------------------------------------------------------------


def wheel(folder: Path, name: str, version: str, *requires: str) -> Path:
    """A pure wheel holding only its METADATA (what `missing` reads)."""
    path = folder / f"{name}-{version}-py3-none-any.whl"
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    metadata += "".join(f"Requires-Dist: {r}\n" for r in requires)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"{name}-{version}.dist-info/METADATA", metadata)
    return path


def missing(folder: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(CARRIED), "missing", str(folder)], capture_output=True, text=True, timeout=60, check=False
    )


def test_the_carried_wheels_picked_are_gpuconform_and_what_the_environment_does_not_already_meet(
    tmp_path: Path,
) -> None:
    requires = ("pytest>=8.0", "absent-helper>=1.0", "tomli>=2.0; python_version < '3'")
    own = wheel(tmp_path, "gpuconform", "0.1.0", *requires)
    wheel(tmp_path, "pytest", "99.0")  # carried, but the environment's pytest meets >=8.0
    wheel(tmp_path, "absent_helper", "0.9")  # too old for >=1.0
    helper = wheel(tmp_path, "absent_helper", "1.2", "absent-leaf")
    leaf = wheel(tmp_path, "absent_leaf", "3.0")
    proc = missing(tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [str(own), str(helper), str(leaf)]


def test_a_requirement_no_carried_wheel_meets_is_named_and_the_exit_status_is_1(tmp_path: Path) -> None:
    own = wheel(tmp_path, "gpuconform", "0.1.0", "absent-helper>=2")
    wheel(tmp_path, "absent_helper", "1.0")
    proc = missing(tmp_path)
    assert proc.returncode == 1
    assert proc.stdout.splitlines() == [str(own)]
    assert "absent-helper>=2 is needed (not installed) and no carried wheel meets it" in proc.stderr
