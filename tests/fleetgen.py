"""Generate a fleet of result.json files for the fleet self-tests, the benchmark and the screenshot.

Each host gets every stable check id (tests/data/check_ids.txt) and a scenario drawn
from what real fleets break on: most pass; some have a driver too old for the
installed TensorFlow (on several 470 point releases, so root-cause grouping has to
see through them), cuDNN 8 where TF needs 9, nouveau, a GPU fallen off the bus, two
cuDNN copies, an NVML probe that hung (an error), or a degraded PCIe link under
--host-strict. The documents follow schemas/result.schema.json (a test checks it),
and their size is that of a real run's, compatibility table included.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gpuconform.verdict.judge import LAYERS

CHECK_IDS = Path(__file__).parent / "data" / "check_ids.txt"
GPU_LAYERS = ("platform", "driver", "libraries")


def stable_ids() -> list[str]:
    """The ids in tests/data/check_ids.txt, retired ones left out."""
    lines = CHECK_IDS.read_text().splitlines()
    return [line for line in lines if line and not line.startswith(("#", "retired: "))]


@dataclass(frozen=True)
class Scenario:
    name: str
    weight: float
    check_id: str | None = None  # the root check
    outcome: str = "failed"
    summary: str = ""
    fix: str = ""
    blocks: tuple[str, ...] = ()  # check ids (prefixes) skipped as blocked by it
    driver: str = "550.54.15"
    strict_warning: str = ""


SCENARIOS = (
    Scenario("healthy", 0.86),
    Scenario(
        "driver_470",
        0.04,
        "driver::driver_is_new_enough_for_the_tensorflow_cuda",
        summary="driver {driver} is too old for tensorflow 2.21.0 (CUDA 12.5.1): needs >= 525.60.13",
        fix="sudo apt install nvidia-driver-555 (a driver >= 555.42.06), then reboot; or keep this driver and pin "
        "TensorFlow 2.14: pip install 'tensorflow[and-cuda]==2.14.*'",
        blocks=("libraries::the_driver_api_is_new_enough_for_the_runtime",),
        driver="470.*",
    ),
    Scenario(
        "cudnn8",
        0.025,
        "libraries::library_is_found[cudnn]",
        summary="cuDNN 8.9.7 is loaded but tensorflow 2.21.0 needs cuDNN 9",
        fix="pip install 'nvidia-cudnn-cu12>=9.3.0.75,<10.0'   (or: pip install 'tensorflow[and-cuda]==2.21.0')",
        blocks=("libraries::library_version_matches_the_tensorflow_build[cudnn]",),
    ),
    Scenario(
        "nouveau",
        0.015,
        "driver::every_gpu_is_bound_to_the_nvidia_driver",
        summary="GPU 0000:{bus}:00.0 is driven by nouveau, not the NVIDIA driver",
        fix="printf 'blacklist nouveau\\noptions nouveau modeset=0\\n' "
        "| sudo tee /etc/modprobe.d/blacklist-nouveau.conf && sudo update-initramfs -u && sudo reboot",
        blocks=("driver::the_nvidia_kernel_module_is_loaded", "driver::device_nodes", "driver::nvml", "driver::gpu_"),
    ),
    Scenario(
        "gpu_lost",
        0.02,
        "driver::nvml_initialises",
        summary="a GPU has fallen off the bus (NVML: GPU is lost)",
        fix="reset or reboot the host; check power and cooling, and dmesg for Xid 79",
        blocks=("driver::gpu_", "driver::pcie_"),
    ),
    Scenario(
        "two_cudnn",
        0.015,
        "libraries::only_one_version_of_each_library_is_reachable[cudnn]",
        summary="2 different versions of libcudnn.so.9 are reachable: 9.1.0, 9.3.0",
        fix="export LD_LIBRARY_PATH=/usr/local/nvidia/lib64   (drops /opt/cudnn-9.1/lib)",
    ),
    Scenario(
        "nvml_hang",
        0.01,
        "driver::nvml_initialises",
        outcome="error",
        summary="could not check NVML: the NVML probe timeout: no answer within 20.0 s",
        fix="re-run with a longer --host-probe-timeout (e.g. 60) to tell a slow probe from a hung one",
        blocks=("driver::gpu_", "driver::pcie_"),
    ),
    Scenario(
        "pcie_strict",
        0.015,
        "driver::pcie_links_run_at_full_width",
        outcome="passed",
        strict_warning="GPU {gpu} (Tesla T4) link is degraded: x8 of x16",
        fix="reseat the card or its riser; check `lspci -vv` LnkSta for the slot",
    ),
)

#: The scenarios by name.
BY_NAME = {s.name: s for s in SCENARIOS}

_COMPAT_TEMPLATE = [
    (f"2.{minor}.0", f"2.{minor}", "runs" if minor >= 16 else "python-outside-range") for minor in range(21, -1, -1)
]


def generate(dest: Path, count: int, seed: int = 0) -> list[Path]:
    """Write `count` hosts' results as dest/<hostname>/result.json; return their paths.

    The first len(SCENARIOS) hosts have one scenario each (when there are that many hosts); the
    others draw theirs by weight.
    """
    # Two streams: which scenario each host gets does not change when a check id is added.
    pick = random.Random(seed)
    rng = random.Random(seed + 1_000_003)
    ids = stable_ids()
    compat = _compat()
    paths = []
    for n in range(count):
        drawn = pick.choices(SCENARIOS, weights=[s.weight for s in SCENARIOS])[0]
        # Every scenario is in any fleet of seven hosts or more: the first hosts take one each.
        scenario = SCENARIOS[n] if count >= len(SCENARIOS) and n < len(SCENARIOS) else drawn
        hostname = f"gpu-{n // 1000:02d}-{n % 1000:04d}"
        path = dest / hostname / "result.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result(hostname, scenario, ids, compat, rng), indent=2))
        paths.append(path)
    return paths


def result(
    hostname: str, scenario: Scenario, ids: list[str], compat: dict[str, Any], rng: random.Random
) -> dict[str, Any]:
    """One host's result document."""
    driver = scenario.driver.replace("*", rng.choice(["82.01", "57.02", "199.02", "256.02"]))
    values = {"driver": driver, "bus": f"{rng.randrange(1, 200):02x}", "gpu": rng.randrange(4)}
    summary = scenario.summary.format(**values)
    warning = scenario.strict_warning.format(**values)
    strict = bool(warning)
    checks = []
    for check_id in ids:
        layer = check_id.split("::")[0]
        entry: dict[str, Any] = {
            "id": check_id,
            "layer": layer,
            "outcome": "passed",
            "reason": "",
            "message": "",
            "remediation": "",
            "finding": None,
            "blocked_by": None,
            "warnings": [],
            "duration": round(rng.random() / 50, 6),
            "nodeid": f"suites/test_{layer}.py::test_{check_id.split('::')[1]}",
        }
        if check_id == scenario.check_id and scenario.outcome != "passed":
            finding = _finding(summary, scenario.fix)
            entry.update(outcome=scenario.outcome, reason=summary, message=summary, finding=finding)
            entry["remediation"] = scenario.fix
        elif check_id == scenario.check_id:
            entry["warnings"] = [_finding(warning, scenario.fix)]
        elif scenario.check_id and any(check_id.startswith(b) for b in scenario.blocks):
            entry.update(outcome="blocked", reason=f"blocked by {scenario.check_id}: {summary}")
            entry["blocked_by"] = scenario.check_id
        checks.append(entry)
    failed = scenario.check_id is not None
    root_layer = scenario.check_id.split("::")[0] if scenario.check_id is not None else None
    reason = f"warning treated as failure (--host-strict): {warning}" if strict else summary
    blocked = [c["id"] for c in checks if c["outcome"] == "blocked"]
    return {
        "schema": "gpuconform-result",
        "schema_version": 1,
        "gpuconform_version": "0.1.0",
        "finished_at": f"2026-09-0{rng.randrange(1, 9)}T0{rng.randrange(10)}:00:00+00:00",
        "host": {
            "hostname": hostname,
            "collected_at": "2026-09-01T00:00:00+00:00",
            "facts_source": "probe",
            "host_root": None,
            "system": "Linux",
            "kernel_release": "6.8.0-45-generic",
            "machine": "x86_64",
            "distro": "Ubuntu 24.04.1 LTS",
            "container": "kubernetes",
            "python": "3.11.9",
            "driver": driver,
            "cuda_driver_api": "12.4",
            "cuda_runtime": ["12.5"],
            "cudnn": ["8.9.7"] if scenario.name == "cudnn8" else ["9.3.0"],
            "tensorflow": "tensorflow 2.21.0",
            "gpus": [
                {
                    "index": 0,
                    "name": "Tesla T4",
                    "uuid": f"GPU-{rng.getrandbits(128):032x}",
                    "pci_bus_id": "00000000:00:04.0",
                    "compute_capability": "7.5",
                    "memory_total_mib": 15360,
                }
            ],
        },
        "summary": [{"label": "driver", "value": driver}, {"label": "gpus", "value": "0: Tesla T4"}],
        "profile": {"name": "t4", "description": "One NVIDIA Tesla T4", "source": "t4.toml"},
        "options": {"strict": strict, "compat": False},
        "verdict": {
            "status": "FAIL" if failed else "PASS",
            "layer": root_layer,
            "check_id": scenario.check_id,
            "reason": reason if failed else "",
            "fix": scenario.fix,
            "line": f"host verdict: FAIL at {root_layer}: {reason}" if failed else "host verdict: PASS (profile t4)",
            "finding": _finding(summary, scenario.fix) if failed and not strict else None,
            "blocked": blocked,
            "also_failing": [],
            "warnings": [],
        },
        "layers": [_layer(name, checks, strict) for name in LAYERS],
        "checks": checks,
        "compat": compat,
    }


def _finding(summary: str, fix: str) -> dict[str, str]:
    return {
        "summary": summary,
        "expected": "what the profile and the matrices require",
        "found": summary,
        "source": "a generated host",
        "why": "generated for the fleet tests",
        "fix": fix,
    }


def _layer(name: str, checks: list[dict[str, Any]], strict: bool) -> dict[str, Any]:
    from gpuconform.verdict.judge import OUTCOMES
    from gpuconform.verdict.judge import layer_status

    mine = [c for c in checks if c["layer"] == name]
    counts = {kind: sum(1 for c in mine if c["outcome"] == kind) for kind in OUTCOMES}
    warnings = sum(len(c["warnings"]) for c in mine)
    return {"layer": name, "status": layer_status(counts, warnings, strict), "warnings": warnings, "counts": counts}


def compat_table() -> dict[str, Any]:
    """A compatibility table as a real run writes it (every TensorFlow release of the matrix)."""
    return _compat()


def _compat() -> dict[str, Any]:
    rows = [
        {
            "tensorflow": version,
            "series": series,
            "verdict": verdict,
            "runs": verdict == "runs",
            "detail": f"driver 550.54.15 meets 525.60.13 required by CUDA 12.5.1 (CUDA 12.5 Update 1); sm_75 SASS runs "
            f"natively on compute capability 7.5; Python 3.11.9 is in >=3.9,<3.14 ({series})",
            "why": "" if verdict == "runs" else f"Python 3.11.9 is outside >=3.7,<3.11 of TF {version}",
            "cuda": "12.5.1",
            "cudnn": "9.3.0",
            "python": ">=3.9,<3.14",
            "driver": ">= 525.60.13",
            "installed": series == "2.21",
            "fix": "" if series == "2.21" else f"pip install 'tensorflow[and-cuda]=={series}.*'",
        }
        for version, series, verdict in _COMPAT_TEMPLATE
    ]
    basis = ["driver 550.54.15 (NVML)", "Tesla T4: compute capability 7.5", "Python 3.11.9"]
    return {"basis": basis, "notes": [], "rows": rows, "gpu": True}
