"""`gpuconform fleet merge`: many hosts' results rolled up by root cause, tolerant of bad inputs.

Every run is the real command in a subprocess over result.json files written by the
generator (tests/fleetgen.py, schema-checked in test_result_schema.py) or built here
from its scenarios, plus inputs broken the ways files from a fleet break.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from gpuconform.fleet.rollup import cause_text
from tests.fleetgen import BY_NAME
from tests.fleetgen import generate
from tests.fleetgen import result
from tests.fleetgen import stable_ids


def write_fleet(dest: Path, plan: dict[str, int], seed: int = 0) -> list[str]:
    """Hosts dest/<name>/result.json: `plan` maps a scenario to how many hosts have it."""
    rng = random.Random(seed)
    ids = stable_ids()
    names = []
    for scenario, count in plan.items():
        for n in range(count):
            name = f"{scenario}-{n:03d}"
            path = dest / name / "result.json"
            path.parent.mkdir(parents=True)
            compat = {"basis": [], "notes": [], "rows": [], "gpu": True}
            path.write_text(json.dumps(result(name, BY_NAME[scenario], ids, compat, rng)))
            names.append(name)
    return names


def merge(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "gpuconform", "fleet", "merge", *map(str, args)]
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=300, check=False)


def fleet_json(out: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((out / "fleet.json").read_text())
    return data


def test_failures_are_grouped_by_root_cause_across_driver_point_releases(tmp_path: Path) -> None:
    write_fleet(tmp_path / "r", {"healthy": 20, "driver_470": 12, "cudnn8": 3})
    proc = merge(tmp_path / "r", "-o", tmp_path / "out", cwd=tmp_path)
    assert proc.returncode == 1
    data = fleet_json(tmp_path / "out")
    causes = {c["title"]: c for c in data["causes"]}
    driver = causes["driver 470.* is too old for tensorflow 2.21 (CUDA 12.5): needs >= 525.*"]
    assert driver["count"] == 12 and driver["layer"] == "driver"
    assert driver["check_id"] == "driver::driver_is_new_enough_for_the_tensorflow_cuda"
    assert "nvidia-driver-555" in driver["fix"]
    assert causes["cuDNN 8.9 is loaded but tensorflow 2.21 needs cuDNN 9"]["count"] == 3
    assert [c["layer"] for c in data["causes"]] == ["driver", "libraries"]  # lowest layer first
    assert "12 host(s) at driver: driver 470.* is too old for tensorflow 2.21 (CUDA 12.5): needs >= 525.*" in (
        proc.stdout
    )
    assert proc.stdout.splitlines()[-1] == data["line"]
    assert data["line"].startswith("fleet verdict: FAIL: 20 of 35 host(s) pass; 15 fail")


def test_a_fleet_where_every_host_passes_passes(tmp_path: Path) -> None:
    write_fleet(tmp_path / "r", {"healthy": 5})
    proc = merge(tmp_path / "r", "-o", tmp_path / "out", "--expect", "5", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.splitlines()[-1] == "fleet verdict: PASS: 5 of 5 host(s) pass"
    assert fleet_json(tmp_path / "out")["ok"] is True


def test_an_error_and_a_strict_warning_each_fail_their_hosts(tmp_path: Path) -> None:
    write_fleet(tmp_path / "r", {"healthy": 2, "nvml_hang": 2, "pcie_strict": 1})
    merge(tmp_path / "r", "-o", tmp_path / "out", cwd=tmp_path)
    data = fleet_json(tmp_path / "out")
    assert data["totals"]["fail"] == 3
    assert data["layers"]["driver"] == {"pass": 2, "error": 2, "fail": 1}
    titles = [c["title"] for c in data["causes"]]
    assert "could not check NVML: the NVML probe timeout: no answer within 20.0 s" in titles
    strict = "warning treated as failure (--host-strict): GPU # (Tesla T4) link is degraded"
    assert any(t.startswith(strict) for t in titles)


@pytest.mark.parametrize(
    ("reason", "masked"),
    [
        ("driver 470.82.01 is too old for tensorflow 2.21.0 (CUDA 12.5.1): needs >= 525.60.13",
         "driver 470.* is too old for tensorflow 2.21 (CUDA 12.5): needs >= 525.*"),
        ("GPU 0000:3b:00.0 is driven by nouveau, not the NVIDIA driver",
         "GPU <pci> is driven by nouveau, not the NVIDIA driver"),
        ("GPU 3 (Tesla T4) link is degraded: x8 of x16", "GPU # (Tesla T4) link is degraded: x8 of x16"),
        ("libcublas.so.12 at /opt/conda/envs/a/lib/libcublas.so.12 crashes on load",
         "libcublas.so.12 at .../libcublas.so.12 crashes on load"),
        ("MIG-5d1ad1b0-55aa-4d0c-9b36-36b2a0a3f1e0 is gone", "<uuid> is gone"),
        ("expected 2 NVIDIA A100-SXM4-40GB on the PCI bus, found 1",
         "expected 2 NVIDIA A100-SXM4-40GB on the PCI bus, found 1"),
    ],
)
def test_host_specific_parts_are_masked_to_group_causes(reason: str, masked: str) -> None:
    assert cause_text(reason) == masked


def test_missing_truncated_foreign_and_newer_inputs_are_warnings_not_tracebacks(tmp_path: Path) -> None:
    names = write_fleet(tmp_path / "r", {"healthy": 3})
    bad = tmp_path / "bad"
    bad.mkdir()
    good = (tmp_path / "r" / names[0] / "result.json").read_text()
    (bad / "truncated.json").write_text(good[: len(good) // 2])
    (bad / "empty.json").write_text("")
    (bad / "foreign.json").write_text(json.dumps({"testsuites": []}))
    (bad / "list.json").write_text("[1, 2]")
    (bad / "binary.json").write_bytes(b"\x00\xff\xfe garbage")
    newer = json.loads(good)
    newer["schema_version"] = 2
    (bad / "newer.json").write_text(json.dumps(newer))
    partial = json.loads(good)
    del partial["verdict"]
    (bad / "partial.json").write_text(json.dumps(partial))
    (tmp_path / "empty-dir").mkdir()
    inputs = [tmp_path / "r", *sorted(bad.iterdir()), tmp_path / "no-such-file.json", tmp_path / "empty-dir"]
    proc = merge(*inputs, "-o", tmp_path / "out", cwd=tmp_path)
    assert "Traceback" not in proc.stderr
    assert proc.returncode == 1
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("gpuconform fleet: warning: ")]
    expected = {
        "truncated.json": "is not valid JSON",
        "empty.json": "is not valid JSON",
        "foreign.json": "not a gpuconform result (schema None",
        "list.json": "not a gpuconform result (an array",
        "binary.json": "",
        "newer.json": "newer than the 1 this gpuconform reads; upgrade gpuconform",
        "partial.json": "not a complete gpuconform result: missing key 'verdict'",
        "no-such-file.json": "no such file or directory",
        "empty-dir": "no result.json below this directory",
    }
    for name, words in expected.items():
        hits = [w for w in warnings if name in w]
        assert len(hits) == 1 and words in hits[0], (name, warnings)
    assert "truncated? the node may have died while writing it" in next(w for w in warnings if "truncated.json" in w)
    data = fleet_json(tmp_path / "out")
    assert data["totals"]["hosts"] == 3 and data["totals"]["skipped_inputs"] == len(expected)
    assert "input(s) skipped (see warnings)" in data["line"]


def test_a_host_list_names_the_hosts_that_sent_nothing(tmp_path: Path) -> None:
    write_fleet(tmp_path / "r", {"healthy": 2})
    hosts = tmp_path / "hosts.txt"
    hosts.write_text("# the lab\nhealthy-000\nhealthy-001\ngpu-node-17  # the flaky one\n\n")
    proc = merge(tmp_path / "r", "-o", tmp_path / "out", "--expect", hosts, cwd=tmp_path)
    assert proc.returncode == 1
    assert "sent no result: gpu-node-17" in proc.stdout
    data = fleet_json(tmp_path / "out")
    assert data["missing"] == ["gpu-node-17"] and data["totals"]["expected"] == 3
    assert proc.stdout.splitlines()[-1].endswith("; 1 expected host(s) sent no result")


def test_an_expected_count_fails_a_fleet_with_fewer_results(tmp_path: Path) -> None:
    write_fleet(tmp_path / "r", {"healthy": 2})
    proc = merge(tmp_path / "r", "-o", tmp_path / "out", "--expect", "4", cwd=tmp_path)
    assert proc.returncode == 1
    assert fleet_json(tmp_path / "out")["totals"]["missing"] == 2


def test_two_results_with_one_hostname_are_both_shown_and_counted_with_a_warning_naming_them(tmp_path: Path) -> None:
    write_fleet(tmp_path / "old", {"driver_470": 1})
    write_fleet(tmp_path / "new", {"driver_470": 1})
    old = tmp_path / "old" / "driver_470-000" / "result.json"
    new = tmp_path / "new" / "driver_470-000" / "result.json"
    data = json.loads(new.read_text())
    data["finished_at"] = "2027-01-01T00:00:00+00:00"
    new.write_text(json.dumps(data))
    proc = merge(tmp_path / "old", tmp_path / "new", "-o", tmp_path / "out", "--expect", "2", cwd=tmp_path)
    assert proc.returncode == 1  # two results, one name: the second expected host is missing
    warning = next(w for w in proc.stderr.splitlines() if "is in 2 results" in w)
    assert f"hostname 'driver_470-000' is in 2 results: {old}, {new} (newest: {new})" in warning
    merged = fleet_json(tmp_path / "out")
    assert sorted(h["result"] for h in merged["hosts"]) == [str(new), str(old)]
    assert merged["duplicates"] == [{"hostname": "driver_470-000", "results": [str(old), str(new)]}]
    assert merged["totals"]["hosts"] == 2 and merged["totals"]["missing"] == 1
    assert merged["causes"][0]["hosts"] == sorted([f"driver_470-000 ({old})", f"driver_470-000 ({new})"])
    suites = ET.parse(tmp_path / "out" / "fleet-junit.xml").getroot().findall("testsuite")
    assert [s.get("name") for s in suites] == [f"driver_470-000 ({old})", f"driver_470-000 ({new})"]
    page = (tmp_path / "out" / "fleet.html").read_text()
    assert f"<td>driver_470-000 ({old})</td>" in page and f"<td>driver_470-000 ({new})</td>" in page
    assert merged["line"].endswith("; 1 hostname(s) in more than one result (see warnings)")


def test_the_merged_junit_has_one_suite_per_host_and_honest_outcome_classes(tmp_path: Path) -> None:
    write_fleet(tmp_path / "r", {"healthy": 2, "gpu_lost": 1, "nvml_hang": 1})
    merge(tmp_path / "r", "-o", tmp_path / "out", cwd=tmp_path)
    root = ET.parse(tmp_path / "out" / "fleet-junit.xml").getroot()
    suites = {s.get("name", ""): s for s in root.findall("testsuite")}
    assert sorted(suites) == ["gpu_lost-000", "healthy-000", "healthy-001", "nvml_hang-000"]
    ids = stable_ids()
    for suite in suites.values():
        assert int(suite.get("tests", "0")) == len(ids) == len(suite.findall("testcase"))
    lost = suites["gpu_lost-000"]
    failure = lost.find("testcase[@name='driver::nvml_initialises']/failure")
    assert failure is not None and failure.get("message") == "a GPU has fallen off the bus (NVML: GPU is lost)"
    assert int(lost.get("skipped", "0")) == len(lost.findall("testcase/skipped")) > 0
    assert all(s.get("message", "").startswith("blocked by driver::nvml_initialises") for s in lost.iter("skipped"))
    hang = suites["nvml_hang-000"]
    assert hang.find("testcase[@name='driver::nvml_initialises']/error") is not None and hang.get("errors") == "1"
    props = {p.get("name"): p.get("value", "") for p in lost.iter("property")}
    assert props["gpuconform.verdict"].startswith("host verdict: FAIL at driver: a GPU has fallen off the bus")
    assert int(root.get("tests", "0")) == 4 * len(ids)
    assert int(root.get("failures", "0")) == 1 and int(root.get("errors", "0")) == 1


def test_the_fleet_page_is_one_self_contained_file_with_every_host(tmp_path: Path) -> None:
    generate(tmp_path / "r", 60, seed=5)
    merge(tmp_path / "r", "-o", tmp_path / "out", "--title", "lab <a> & b", cwd=tmp_path)
    page = (tmp_path / "out" / "fleet.html").read_text()
    data = fleet_json(tmp_path / "out")
    assert page.count("<tr><td>gpu-00-00") == 60
    assert "<title>lab &lt;a&gt; &amp; b</title>" in page
    for cause in data["causes"]:
        count = cause["count"]
        assert f"{count} host{'s' if count != 1 else ''}: " in page
    for needle in ("src=", "<link", "http://", "https://", "@import"):
        assert needle not in page, needle


def test_merging_needs_at_least_one_path(tmp_path: Path) -> None:
    proc = merge(cwd=tmp_path)
    assert proc.returncode == 4
    assert "the following arguments are required: RESULT_OR_DIR" in proc.stderr
