"""Every shipped simulated host gets the verdict a user of that host should read.

Each scenario is a spec in tests/simhost/specs/: the suite runs for real in a
subprocess against its root tree and shim libraries. The same facts, recorded
to facts.json and replayed with --host-facts, must reach the same verdict.
"""

from __future__ import annotations

import fnmatch
import json
from pathlib import Path

import pytest

from tests.simhost.cc import require_compiler
from tests.simhost.host import SimHost
from tests.simhost.host import build_host
from tests.simhost.host import run_suite
from tests.simhost.host import verdict_line
from tests.simhost.spec import load_spec

SPECS = Path(__file__).parent / "simhost" / "specs"

# spec -> (verdict line pattern, words the failure text must contain)
SCENARIOS: dict[str, tuple[str, tuple[str, ...]]] = {
    "t4_healthy": (
        "host verdict: PASS (profile t4, * warning(s))",
        ("only through minor-version compatibility", "555.42.06"),
    ),
    "a100x2_healthy": ("host verdict: PASS (profile a100x2, * warning(s))", ("minor-version compatibility",)),
    "gpu_no_module": (
        "host verdict: FAIL at driver: the nvidia kernel module is not loaded",
        ("install the NVIDIA driver", "modprobe nvidia"),
    ),
    "nouveau_loaded": (
        "host verdict: FAIL at driver: the nouveau driver is loaded",
        ("blacklist nouveau", "update-initramfs -u"),
    ),
    "no_device_nodes": (
        "host verdict: FAIL at driver: NVIDIA device nodes are missing or inaccessible",
        ("/dev/nvidiactl missing", "nvidia-modprobe"),
    ),
    "nvml_mismatch": (
        "host verdict: FAIL at driver: driver/library version mismatch*",
        ("NVMLError_LibRmVersionMismatch", "reboot"),
    ),
    "driver_470_tf221": (
        "host verdict: FAIL at driver: driver 470.82.01 is too old for tensorflow 2.21.0 (CUDA 12.5.1): "
        "needs >= 525.60.13",
        ("nvidia-driver-555",),
    ),
    "driver_minor_compat": (
        "host verdict: PASS (profile t4, * warning(s))",
        ("535.104.05 runs CUDA 12.5.1 only through minor-version compatibility",),
    ),
    "cudnn8_for_tf221": (
        "host verdict: FAIL at libraries: cuDNN 8.* is loaded but tensorflow 2.21.0 needs cuDNN 9",
        ("nvidia-cudnn-cu12>=9.3.0.75,<10.0",),
    ),
    "two_cudnn": (
        # Since the shadowing check: the second copy is on LD_LIBRARY_PATH, which the loader searches before the
        # [and-cuda] wheels' RUNPATH, so the directory is the cause (it blocks the two-versions check);
        # "[[]" is fnmatch's "[".
        "host verdict: FAIL at libraries: */two_cudnn/ldpath on LD_LIBRARY_PATH puts libcudnn.so.9 ahead of the copies "
        "tensorflow 2.21.0 with its [[]and-cuda] wheels installs itself",
        ("two_cudnn/ldpath from LD_LIBRARY_PATH for this environment only",),
    ),
    "lib_segfault": (
        "host verdict: FAIL at libraries: libcublas.so.12 at * crashes on load: killed by SIGSEGV during dlopen",
        ("SIGSEGV",),
    ),
    "lib_hang": (
        "host verdict: FAIL at libraries: libcufft.so.11 at * hangs on load: no answer during dlopen within 3.0 s",
        ("timeout",),
    ),
    "gpu_count_short": (
        "host verdict: FAIL at driver: expected 2 NVIDIA A100-SXM4-40GB on the PCI bus, found 1",
        ("lspci",),
    ),
    "gtx960_tf221": (
        "host verdict: FAIL at framework: NVIDIA GeForce GTX 960 (compute capability 5.2) "
        "has no kernels in tensorflow 2.21.0*",
        ("sm_60",),
    ),
}


def test_every_shipped_spec_has_a_scenario() -> None:
    assert sorted(p.stem for p in SPECS.glob("*.toml")) == sorted(SCENARIOS)


@pytest.fixture(scope="module")
def hosts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, SimHost]:
    require_compiler()
    base = tmp_path_factory.mktemp("simhosts")
    return {name: build_host(load_spec(SPECS / f"{name}.toml"), base / name) for name in SCENARIOS}


def _layers(name: str) -> str:
    # The kernel-coverage check of the framework layer needs only facts and matrices.
    return (
        "platform or driver or libraries or framework" if name == "gtx960_tf221" else "platform or driver or libraries"
    )


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_the_simulated_host_gets_its_verdict(name: str, hosts: dict[str, SimHost], tmp_path: Path) -> None:
    pattern, words = SCENARIOS[name]
    proc = run_suite(hosts[name], tmp_path, "--host-probe-timeout", hosts[name].probe_timeout, layers=_layers(name))
    line = verdict_line(proc)
    assert fnmatch.fnmatchcase(line, pattern), f"{line!r} !~ {pattern!r}\n{proc.stdout[-4000:]}"
    assert proc.returncode == (0 if "PASS" in pattern else 1), proc.stdout[-3000:]
    text = proc.stdout
    for word in words:
        assert word in text, f"{word!r} missing from the output of {name}:\n{text[-4000:]}"
    result = json.loads((tmp_path / "reports/result.json").read_text())
    assert result["verdict"]["line"] == line


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_replaying_the_recorded_facts_gives_the_same_verdict(
    name: str, hosts: dict[str, SimHost], tmp_path: Path
) -> None:
    host = hosts[name]
    timeout = ("--host-probe-timeout", host.probe_timeout)
    live = run_suite(host, tmp_path, *timeout, "--host-reports", "live", layers=_layers(name))
    replay = run_suite(
        hosts[name], tmp_path, "--host-facts", "live/facts.json", "--host-reports", "replay", layers=_layers(name)
    )
    assert verdict_line(replay) == verdict_line(live)
    assert replay.returncode == live.returncode
