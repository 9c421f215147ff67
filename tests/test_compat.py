"""`--host-compat` and `gpuconform compat`: every TensorFlow release with the verdict it would get here.

The verdicts come from the matrices (Matrices.runnable_releases); these tests pin what
this host's facts are judged on, the fix each verdict gets, and where the table shows
up: the terminal (before the verdict line), result.json and the HTML.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from gpuconform.expect.compat import CompatTable
from gpuconform.expect.compat import predict
from gpuconform.expect.compat import render_text
from gpuconform.expect.loading import load_matrices
from gpuconform.expect.matrix import Matrices
from gpuconform.expect.profiles import resolve_profile
from gpuconform.facts.model import DriverFacts
from gpuconform.facts.model import Facts
from gpuconform.facts.model import GpuFacts
from gpuconform.facts.model import HostIdentity
from gpuconform.facts.model import NvmlFacts
from gpuconform.facts.model import PackageInfo
from gpuconform.facts.model import PackagesFacts
from gpuconform.facts.model import PciDevice
from gpuconform.facts.model import PlatformFacts
from gpuconform.plugin.keys import suites_dir
from gpuconform.probes.host import facts_json


@pytest.fixture(scope="module")
def matrices() -> Matrices:
    return load_matrices()


def host(
    python: str = "3.11.9",
    driver: str | None = "550.54.15",
    gpus: tuple[tuple[str, tuple[int, int]], ...] = (("Tesla T4", (7, 5)),),
    tf: str | None = "2.21.0",
    pci: tuple[int, ...] = (),
) -> Facts:
    return Facts(
        host=HostIdentity("node-1", "2026-09-01T00:00:00+00:00"),
        platform=PlatformFacts(python, "CPython", "Linux", "6.8.0", "x86_64"),
        packages=PackagesFacts(tensorflow=PackageInfo("tensorflow", tf) if tf else None),
        driver=DriverFacts(
            pci_devices=tuple(PciDevice(f"0000:0{i}:00.0", 0x10DE, dev, 0x030200, None) for i, dev in enumerate(pci)),
            kernel_module_version=driver,
            nvml=NvmlFacts(
                driver_version=driver,
                gpus=tuple(GpuFacts(i, name, compute_capability=cc) for i, (name, cc) in enumerate(gpus)),
            ),
        ),
    )


def table(facts: Facts, profile: str, matrices: Matrices) -> CompatTable:
    return predict(facts, resolve_profile(profile, facts, matrices, Path.cwd()), matrices)


def row(t: CompatTable, series: str):  # type: ignore[no-untyped-def]
    return next(r for r in t.rows if r.series == series)


def test_every_release_in_the_matrix_gets_a_row_newest_first(matrices: Matrices) -> None:
    t = table(host(), "t4", matrices)
    assert [r.tensorflow for r in t.rows] == [str(r.version) for r in matrices.tf_releases]
    assert sum(r.installed for r in t.rows) == 1 and row(t, "2.21").installed


def test_a_470_driver_says_how_far_behind_it_is_and_which_release_runs(matrices: Matrices) -> None:
    t = table(host(driver="470.82.01"), "t4", matrices)
    r = row(t, "2.21")
    assert (r.verdict, r.runs) == ("driver-too-old", False)
    assert r.why == "driver 470.82.01 is R470; needs 525.60.13 or newer (R525+)"
    assert r.fix.startswith("sudo apt install nvidia-driver-555 (driver >= 555.42.06)")
    assert r.fix.endswith("or stay on TensorFlow 2.14.0, the newest that runs here")
    assert t.newest_runnable is not None and t.newest_runnable.series == "2.14"
    assert row(t, "2.14").verdict == "runs-minor-compat"


def test_a_release_candidate_is_listed_with_an_exact_pin_but_never_offered_as_the_newest(matrices: Matrices) -> None:
    t = table(host(driver="580.95.05"), "t4", matrices)
    rc = row(t, "2.22")
    assert (rc.tensorflow, rc.prerelease, rc.runs) == ("2.22.0rc0", True, True)
    assert rc.fix == "pip install 'tensorflow[and-cuda]==2.22.0rc0'"  # "==2.22.*" would not match an rc
    assert t.newest_runnable is not None and t.newest_runnable.tensorflow == "2.21.0"
    assert any(line.startswith("2.22.0rc0 (pre-release)") for line in render_text(t))


def test_python_outside_a_release_range_suggests_a_python_that_fits(matrices: Matrices) -> None:
    r = row(table(host(), "t4", matrices), "2.11")
    assert r.verdict == "python-outside-range"
    assert r.fix == "use a Python in >=3.7,<3.11, e.g. python3.10 -m venv .venv"


def test_a_gpu_without_kernels_in_newer_wheels_is_too_old_for_them(matrices: Matrices) -> None:
    t = table(host(gpus=(("NVIDIA GeForce GTX 960", (5, 2)),)), "auto", matrices)
    r = row(t, "2.21")
    assert r.verdict == "gpu-too-old"
    assert "no code" in r.detail and "compute capability 5.2" in r.detail
    assert "has no kernels for this GPU" in r.fix


def test_a_kepler_gpu_is_told_no_driver_runs_the_new_releases(matrices: Matrices) -> None:
    t = table(host(driver="470.82.01", gpus=(("Tesla K80", (3, 7)),)), "auto", matrices)
    r = row(t, "2.21")
    assert r.verdict == "driver-too-old"
    assert r.fix.startswith(
        "no driver runs it on this GPU: R470 is the last branch for Kepler (Tesla K80) and CUDA 12.5.1 needs R525+"
    )


def test_the_oldest_gpu_of_a_mixed_host_decides(matrices: Matrices) -> None:
    mixed = host(gpus=(("NVIDIA A100-SXM4-40GB", (8, 0)), ("NVIDIA GeForce GTX 960", (5, 2))))
    alone = host(gpus=(("NVIDIA A100-SXM4-40GB", (8, 0)),))
    assert row(table(mixed, "auto", matrices), "2.21").verdict == "gpu-too-old"
    assert row(table(alone, "auto", matrices), "2.21").runs


def test_the_cpu_profile_judges_the_python_range_only(matrices: Matrices) -> None:
    t = table(host(driver="390.10"), "cpu", matrices)
    assert t.notes == ("profile 'cpu' expects no GPU: only the Python range is judged",)
    assert {r.verdict for r in t.rows} <= {"runs", "python-outside-range"}
    assert all(r.driver == "-" for r in t.rows)
    assert row(t, "2.20").fix == "pip install 'tensorflow-cpu==2.20.*'"


def test_a_gpu_on_the_bus_without_a_driver_is_judged_on_its_pci_id(matrices: Matrices) -> None:
    t = table(host(driver=None, gpus=(), pci=(0x1EB8,)), "t4", matrices)
    assert "Tesla T4: compute capability 7.5" in t.basis
    assert any("driver is not loaded" in n for n in t.notes)
    assert row(t, "2.21").driver.startswith(">= ")


def test_the_text_table_has_a_line_per_release_and_says_how_to_confirm(matrices: Matrices) -> None:
    t = table(host(driver="470.82.01"), "t4", matrices)
    lines = render_text(t)
    assert lines[0] == (
        "judged on: driver 470.82.01 (NVML); Tesla T4: compute capability 7.5; Python 3.11.9 (the running interpreter)"
    )
    assert sum(1 for line in lines if line.split(" ")[0] in {r.tensorflow for r in t.rows}) == len(t.rows)
    assert "newest release that runs here: 2.14.0: pip install 'tensorflow[and-cuda]==2.14.*'" in lines
    assert "confirm before you upgrade: tox -e tf214-gpu" in lines


def test_the_compat_command_reads_a_facts_file(tmp_path: Path) -> None:
    path = tmp_path / "facts.json"
    path.write_text(facts_json(host(driver="470.82.01")))
    proc = subprocess.run(
        [sys.executable, "-m", "gpuconform", "compat", "--facts", str(path), "--profile", "t4"],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "confirm before you upgrade: tox -e tf214-gpu" in proc.stdout
    as_json = subprocess.run(
        [sys.executable, "-m", "gpuconform", "compat", "--facts", str(path), "--profile", "t4", "--json"],
        capture_output=True, text=True, timeout=120, check=False,
    )
    rows = json.loads(as_json.stdout)["rows"]
    assert rows[0]["verdict"] == "driver-too-old"


def test_the_compat_command_reports_a_bad_facts_file_as_a_usage_error(tmp_path: Path) -> None:
    path = tmp_path / "facts.json"
    path.write_text('{"host": 1')
    proc = subprocess.run(
        [sys.executable, "-m", "gpuconform", "compat", "--facts", str(path)],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert proc.returncode == 4
    assert "is not valid JSON" in proc.stderr and "Traceback" not in proc.stderr


def test_host_compat_prints_the_table_before_the_verdict_and_reports_it(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess(
        str(suites_dir()), "-p", "no:cacheprovider", "-m", "platform", "--host-profile", "cpu", "--host-compat"
    )
    assert result.ret == 0
    out = result.stdout.lines
    section = next(i for i, line in enumerate(out) if "TensorFlow releases on this host (--host-compat)" in line)
    assert section < len(out) - 1 and out[-1].startswith("host verdict: PASS")
    result.stdout.fnmatch_lines(["*note: profile 'cpu' expects no GPU: only the Python range is judged*"])
    data = json.loads((pytester.path / "reports/result.json").read_text())
    assert data["options"]["compat"] is True
    assert len(data["compat"]["rows"]) == len(load_matrices().tf_releases)
    page = (pytester.path / "reports/report.html").read_text()
    assert "id='gc-compat'" in page


def test_without_host_compat_the_table_is_reported_but_not_printed(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess(
        str(suites_dir()), "-p", "no:cacheprovider", "-m", "platform", "--host-profile", "cpu"
    )
    assert "--host-compat" not in result.stdout.str()
    assert json.loads((pytester.path / "reports/result.json").read_text())["compat"]["rows"]


def test_an_unreadable_driver_version_is_a_note_not_a_crash(matrices: Matrices) -> None:
    t = table(host(driver="garbage"), "t4", matrices)
    assert "the driver version 'garbage' cannot be read: the driver criterion was not judged" in t.notes
    assert not any(b.startswith("driver ") for b in t.basis)
    assert row(t, "2.21").verdict == "driver-unknown"


def test_releases_whose_cuda_predates_an_rtx_3090_are_gpu_too_new_and_tensorflow_2_4_runs(matrices: Matrices) -> None:
    facts = host(python="3.8.10", driver="455.23.05", gpus=(("NVIDIA GeForce RTX 3090", (8, 6)),), tf="2.3.0")
    t = table(facts, "auto", matrices)
    old = row(t, "2.3")
    assert old.verdict == "gpu-too-new" and not old.runs
    assert "CUDA 10.1 of TF 2.3 predates compute capability 8.6 (Ampere: first CUDA 11.0)" in old.why
    assert "built with CUDA 10.1, which predates this GPU" in old.fix
    assert row(t, "2.4").verdict == "runs"
    assert row(t, "2.1").verdict == "python-outside-range"  # the lower layer's problem is named first


def test_no_release_runs_a_blackwell_gpu_whose_architecture_postdates_every_cuda_in_the_matrix(
    matrices: Matrices,
) -> None:
    facts = host(python="3.12.3", driver="575.51.03", gpus=(("NVIDIA GeForce RTX 5080", (12, 0)),), tf="2.20.0")
    t = table(facts, "auto", matrices)
    assert {r.verdict for r in t.rows} <= {"gpu-too-new", "python-outside-range", "driver-too-old"}
    assert t.newest_runnable is None
    assert "no TensorFlow release in the matrix runs on this host as it is" in render_text(t)


def test_a_gpu_host_whose_driver_is_not_loaded_runs_no_release_it_is_unknown_until_the_driver_is_known(
    matrices: Matrices,
) -> None:
    t = table(host(driver=None, gpus=(), pci=(0x1EB8,)), "t4", matrices)
    assert not any(r.runs for r in t.rows)
    assert t.newest_runnable is None
    supported = row(t, "2.21")  # Python 3.11 and the T4's kernels are fine: only the driver is not known
    assert supported.verdict == "driver-unknown"
    assert supported.why == "unknown until the driver is known"
    assert supported.fix == "load the NVIDIA driver (nvidia-smi must answer), then run gpuconform compat again"
    assert row(t, "2.5").verdict == "python-outside-range"  # what is known to fail still says so
    lines = render_text(t)
    assert not any("runs here" in line and "unknown" not in line for line in lines)
    assert lines[-2] == (
        "which release runs here is unknown until the driver is known: "
        "load the NVIDIA driver (nvidia-smi must answer), then run gpuconform compat again"
    )


def test_the_compat_command_on_a_host_whose_driver_is_not_loaded_says_unknown_not_runs(tmp_path: Path) -> None:
    path = tmp_path / "facts.json"
    path.write_text(facts_json(host(driver=None, gpus=(), pci=(0x1EB8,))))
    proc = subprocess.run(
        [sys.executable, "-m", "gpuconform", "compat", "--facts", str(path), "--profile", "t4", "--json"],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    verdicts = {r["series"]: r["verdict"] for r in json.loads(proc.stdout)["rows"]}
    assert verdicts["2.21"] == "driver-unknown"
    assert "runs" not in verdicts.values()
