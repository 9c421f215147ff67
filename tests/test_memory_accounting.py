"""GPU memory from outside: the NVML memory child against the shim, and the accounting fallbacks.

The snapshots come from the real child (`gpuconform.probes.gpumem_child`) and
real pynvml loading the simulated libnvidia-ml.so.1: a GPU with our process
listed, one whose driver reports host PIDs (a PID namespace), one whose
per-process amounts are NVML_VALUE_NOT_AVAILABLE, and one whose per-process
query fails. `footprint` must pick the right method for each, and say why.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from gpuconform.facts.base import ProbeError
from gpuconform.facts.observed import GpuMemory
from gpuconform.facts.observed import GpuProcess
from gpuconform.facts.observed import NvmlMemory
from gpuconform.probes.child import child_env
from gpuconform.probes.gpumem import MIB
from gpuconform.probes.gpumem import footprint
from gpuconform.probes.gpumem import measure
from tests.simhost.nvml_shim import build_nvml_shim
from tests.simhost.spec import parse_spec

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

CHILD_PID = 31337  # the TF child the parent measures
HOST = """
description = "one T4 for memory accounting"
profile = "t4"
[[gpu]]
name = "Tesla T4"
pci_address = "0000:00:04.0"
pci_device_id = 0x1eb8
compute_capability = "7.5"
memory_mib = 15360
memory_used_mib = {used}
{processes}
"""


def snapshot(tmp_path: Path, name: str, used: int, processes: str = "", nvml: str = "") -> NvmlMemory:
    """What the memory child reports for a T4 with `used` MiB in use and `processes` listed."""
    spec = parse_spec(tomllib.loads(HOST.format(used=used, processes=processes) + nvml), name)
    libdir = tmp_path / name
    build_nvml_shim(spec, libdir)
    return measure(timeout=20, env=child_env({"LD_LIBRARY_PATH": str(libdir)}))


def listed(*entries: str) -> str:
    return "processes = [" + ", ".join(entries) + "]"


@pytest.fixture(scope="module")
def snapshots(tmp_path_factory: pytest.TempPathFactory) -> dict[str, NvmlMemory]:
    base = tmp_path_factory.mktemp("gpumem")
    return {
        "idle": snapshot(base, "idle", 300, listed("{ pid = 900, used_mib = 300 }")),
        "ours": snapshot(
            base, "ours", 1800, listed("{ pid = 900, used_mib = 300 }", f"{{ pid = {CHILD_PID}, used_mib = 1500 }}")
        ),
        "host_pids": snapshot(
            base, "host_pids", 1800, listed("{ pid = 900, used_mib = 300 }", "{ pid = 4242, used_mib = 1500 }")
        ),
        "not_available": snapshot(base, "not_available", 1800, listed("{ pid = 900 }", f"{{ pid = {CHILD_PID} }}")),
        "query_fails": snapshot(
            base,
            "query_fails",
            1800,
            nvml='[nvml]\nerrors = { nvmlDeviceGetComputeRunningProcesses_v3 = "NOT_SUPPORTED" }\n',
        ),
    }


def test_the_memory_child_reads_totals_and_processes_through_real_pynvml(snapshots: dict[str, NvmlMemory]) -> None:
    gpu = snapshots["ours"].gpu(0)
    assert gpu is not None
    assert gpu.total_bytes == 15360 * MIB
    assert gpu.used_bytes == 1800 * MIB
    assert gpu.processes == (GpuProcess(900, 300 * MIB), GpuProcess(CHILD_PID, 1500 * MIB))


def test_not_available_amounts_are_none_not_huge_numbers(snapshots: dict[str, NvmlMemory]) -> None:
    gpu = snapshots["not_available"].gpu(0)
    assert gpu is not None
    assert gpu.processes == (GpuProcess(900, None), GpuProcess(CHILD_PID, None))


def test_a_failing_process_query_is_recorded_and_the_totals_survive(snapshots: dict[str, NvmlMemory]) -> None:
    gpu = snapshots["query_fails"].gpu(0)
    assert gpu is not None
    assert gpu.processes_error is not None and gpu.processes_error.kind == "NVMLError_NotSupported"
    assert gpu.used_bytes == 1800 * MIB


def test_a_missing_nvml_library_is_an_init_error_not_an_exception(tmp_path: Path) -> None:
    spec = parse_spec(tomllib.loads(HOST.format(used=0, processes="") + "[nvml]\nmissing = true\n"), "missing")
    build_nvml_shim(spec, tmp_path)
    result = measure(timeout=20, env=child_env({"LD_LIBRARY_PATH": str(tmp_path), "LD_PRELOAD": ""}))
    # A GPU machine has a real libnvidia-ml elsewhere on the loader path: then NVML answers for real.
    assert result.init_error is not None or result.gpus


def test_our_own_pid_is_measured_per_process(snapshots: dict[str, NvmlMemory]) -> None:
    fp = footprint([CHILD_PID], 0, snapshots["idle"], snapshots["ours"])
    assert (fp.method, fp.mib) == ("per-process", 1500)
    assert f"pid {CHILD_PID}: 1500 MiB" in fp.detail


def test_host_pids_fall_back_to_the_one_process_that_appeared(snapshots: dict[str, NvmlMemory]) -> None:
    fp = footprint([CHILD_PID], 0, snapshots["idle"], snapshots["host_pids"])
    assert (fp.method, fp.mib) == ("only-new-process", 1500)
    assert f"pid {CHILD_PID} is not among the listed processes (900, 4242): a PID namespace hides it" in fp.detail


def test_not_available_amounts_fall_back_to_the_device_delta(snapshots: dict[str, NvmlMemory]) -> None:
    fp = footprint([CHILD_PID], 0, snapshots["idle"], snapshots["not_available"])
    assert (fp.method, fp.mib) == ("device-delta", 1500)
    assert f"NVML lists pid {CHILD_PID} with usedGpuMemory NVML_VALUE_NOT_AVAILABLE" in fp.detail
    assert "counts any other process that allocated meanwhile" in fp.detail


def test_a_failing_process_query_falls_back_to_the_device_delta(snapshots: dict[str, NvmlMemory]) -> None:
    fp = footprint([CHILD_PID], 0, snapshots["idle"], snapshots["query_fails"])
    assert (fp.method, fp.mib) == ("device-delta", 1500)
    assert "per-process accounting failed: NVMLError_NotSupported" in fp.detail


def test_two_children_need_two_new_processes_else_the_delta_counts_both(snapshots: dict[str, NvmlMemory]) -> None:
    fp = footprint([CHILD_PID, CHILD_PID + 1], 0, snapshots["idle"], snapshots["host_pids"])
    assert fp.method == "device-delta"
    assert "1 new process(es) with a usable amount for 2 child(ren)" in fp.detail


def test_without_a_reading_from_before_nothing_is_attributed(snapshots: dict[str, NvmlMemory]) -> None:
    fp = footprint([CHILD_PID], 0, None, snapshots["not_available"])
    assert (fp.method, fp.bytes) == ("unavailable", None)
    assert "no device-wide reading from before the child started" in fp.detail


def test_an_nvml_failure_while_measuring_is_unavailable(snapshots: dict[str, NvmlMemory]) -> None:
    broken = NvmlMemory(init_error=ProbeError("gpumem", "NVMLError_DriverNotLoaded", "Driver Not Loaded"))
    fp = footprint([CHILD_PID], 0, snapshots["idle"], broken)
    assert (fp.method, fp.bytes) == ("unavailable", None)
    assert fp.detail.startswith("NVML could not be read: ")


def test_a_gpu_nvml_does_not_list_is_unavailable(snapshots: dict[str, NvmlMemory]) -> None:
    fp = footprint([CHILD_PID], 3, snapshots["idle"], snapshots["ours"])
    assert fp.method == "unavailable"
    assert "NVML lists no GPU 3" in fp.detail


def test_memory_freed_meanwhile_never_gives_a_negative_delta() -> None:
    before = NvmlMemory(gpus=(GpuMemory(0, 16 * 1024 * MIB, 900 * MIB),))
    during = NvmlMemory(gpus=(GpuMemory(0, 16 * 1024 * MIB, 500 * MIB),))
    assert footprint([CHILD_PID], 0, before, during).bytes == 0
