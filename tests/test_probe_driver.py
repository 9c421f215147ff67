"""The driver-layer probe, proven on simulated hosts: real files, real pynvml, shim NVML.

Each shipped spec is materialised into a root tree plus a compiled
libnvidia-ml.so.1, and `probe_driver` must report exactly what the spec put
there. Faults (segfault, abort, hang, garbage, forced NVML errors) and broken
sysfs/procfs trees must become ProbeErrors, never exceptions.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import string
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gpuconform.facts import reading
from gpuconform.facts.errors import DataError
from gpuconform.facts.model import DriverFacts
from gpuconform.facts.versions import parse_nvidia_proc_version
from gpuconform.probes.child import child_env
from gpuconform.probes.driver import probe_device_nodes
from gpuconform.probes.driver import probe_driver
from gpuconform.probes.driver import probe_modules
from gpuconform.probes.driver import probe_pci
from gpuconform.probes.driver import probe_proc_version
from gpuconform.probes.nvml import probe_nvml
from tests.simhost.nvml_shim import EXPORTED_SYMBOLS
from tests.simhost.nvml_shim import build_nvml_shim
from tests.simhost.rootfs import materialise_root
from tests.simhost.spec import NVML_RETURN_CODES
from tests.simhost.spec import HostSpec
from tests.simhost.spec import load_spec
from tests.simhost.spec import parse_spec
from tests.simhost.spec import shipped_specs

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

SPECS = {path.stem: path for path in shipped_specs()}
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
# On a GPU machine the real library answers when the simulated host has none.
REAL_NVML = ctypes.util.find_library("nvidia-ml") is not None

T4 = """
description = "one T4"
profile = "t4"
[[gpu]]
name = "Tesla T4"
pci_address = "0000:00:04.0"
pci_device_id = 0x1eb8
compute_capability = "7.5"
memory_mib = 15360
ecc = true
"""


def spec_from(text: str) -> HostSpec:
    return parse_spec(tomllib.loads(text), "<test>")


def simulate(spec: HostSpec, tmp_path: Path, timeout: float = 20.0) -> DriverFacts:
    """Materialise `spec`, build its NVML shim and probe it as the plugin would."""
    root = materialise_root(spec, tmp_path / "root")
    libdir = tmp_path / "lib"
    build_nvml_shim(spec, libdir)
    return probe_driver(root, timeout=timeout, env=child_env({"LD_LIBRARY_PATH": str(libdir)}))


def nvml_class(code_name: str) -> str:
    """pynvml's exception class name for an NVML_ERROR_* name."""
    return "NVMLError_" + string.capwords(code_name, "_").replace("_", "")


def expected_init_kind(spec: HostSpec) -> str | None:
    if spec.nvml.missing:
        return "NVMLError_LibraryNotFound"
    return nvml_class(spec.nvml.init_error) if spec.nvml.init_error else None


# ---- every shipped spec -------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SPECS))
def test_each_shipped_spec_is_probed_as_written(name: str, tmp_path: Path) -> None:
    spec = load_spec(SPECS[name])
    if spec.nvml.missing and REAL_NVML:
        pytest.skip("this machine has a real libnvidia-ml, so NVML cannot be missing")
    facts = simulate(spec, tmp_path)

    assert facts.pci_error is None
    assert [(d.address, d.bound_driver or "") for d in facts.pci_devices] == sorted(
        (g.pci_address, g.bound_driver) for g in spec.gpus
    )
    assert all(d.vendor_id == 0x10DE for d in facts.pci_devices)
    expected_version = spec.driver.version if spec.driver.proc_version else None
    assert facts.kernel_module_version == expected_version
    assert facts.proc_version_error is None
    assert [m.name for m in facts.modules] == list(spec.driver.modules)
    assert facts.modules_error is None
    present = {n.path for n in facts.device_nodes if n.exists}
    assert present == {f"/dev/{n}" for n in spec.device_node_names()}
    assert not any(n.is_char_device for n in facts.device_nodes)  # the simulator writes files

    nvml = facts.nvml
    kind = expected_init_kind(spec)
    assert (nvml.init_error.kind if nvml.init_error else None) == kind
    if kind is not None:
        assert nvml.gpus == () and nvml.device_count is None
        return
    assert nvml.library_path == str(tmp_path / "lib" / "libnvidia-ml.so.1")
    assert nvml.errors == ()
    assert nvml.driver_version == spec.driver.version
    assert nvml.cuda_driver_version == spec.driver.cuda_driver_version
    assert nvml.device_count == len(spec.nvml_gpus())
    minors = spec.minor_numbers()
    assert len(nvml.gpus) == len(spec.nvml_gpus())
    for gpu, want in zip(nvml.gpus, spec.nvml_gpus()):
        assert (gpu.name, gpu.uuid, gpu.pci_bus_id) == (want.name, want.uuid, want.pci_address)
        assert gpu.pci_device_id == want.pci_device_id
        assert gpu.minor_number == minors[want.pci_address]
        assert gpu.compute_capability == want.cc
        assert gpu.memory_total_mib == want.memory_mib
        assert gpu.persistence_mode == want.persistence_mode
        assert gpu.ecc_enabled == want.ecc
        assert gpu.retired_pages_pending == want.retired_pages
        assert gpu.remapped_rows_pending == want.remapped_rows
        assert gpu.mig_enabled == want.mig
        assert (gpu.pcie_gen_current, gpu.pcie_gen_max) == want.pcie_gen
        assert (gpu.pcie_width_current, gpu.pcie_width_max) == want.pcie_width
        # The only per-field errors are the NOT_SUPPORTED answers the board really gives.
        assert {e.kind for e in gpu.errors} <= {"NVMLError_NotSupported"}


def test_a_gpu_without_its_module_is_unbound_and_nvml_says_driver_not_loaded(
    tmp_path: Path,
) -> None:
    facts = simulate(load_spec(SPECS["gpu_no_module"]), tmp_path)
    assert [d.bound_driver for d in facts.pci_devices] == [None]
    assert facts.proc_version_text is None and facts.proc_version_error is None
    assert facts.modules == ()
    assert facts.nvml.init_error is not None
    assert facts.nvml.init_error.kind == "NVMLError_DriverNotLoaded"
    assert "Driver Not Loaded" in facts.nvml.init_error.message
    # The GPU on the bus still makes /dev/nvidia0 expected, and it is reported missing.
    assert [(n.path, n.exists) for n in facts.device_nodes][-1] == ("/dev/nvidia0", False)


def test_nouveau_shows_as_the_bound_driver_and_as_a_loaded_module(tmp_path: Path) -> None:
    facts = simulate(load_spec(SPECS["nouveau_loaded"]), tmp_path)
    assert [d.bound_driver for d in facts.pci_devices] == ["nouveau"]
    assert facts.pci_devices[0].class_code == 0x030000  # GeForce: a VGA controller
    assert [m.name for m in facts.modules] == ["nouveau"]


def test_a_geforce_board_reports_ecc_as_not_supported_without_losing_other_fields(
    tmp_path: Path,
) -> None:
    gpu = simulate(load_spec(SPECS["gtx960_tf221"]), tmp_path).nvml.gpus[0]
    assert gpu.ecc_enabled is None and gpu.mig_enabled is None
    assert gpu.compute_capability == (5, 2) and gpu.memory_total_mib == 2048
    failed = {e.probe: e.kind for e in gpu.errors}
    assert failed["nvml.nvmlDeviceGetEccMode"] == "NVMLError_NotSupported"
    assert failed["nvml.nvmlDeviceGetRetiredPagesPendingStatus"] == "NVMLError_NotSupported"


def test_the_nvml_shim_exports_every_symbol_it_promises(tmp_path: Path) -> None:
    lib = build_nvml_shim(load_spec(SPECS["t4_healthy"]), tmp_path)
    assert lib is not None
    shim = ctypes.CDLL(str(lib))
    assert [s for s in EXPORTED_SYMBOLS if not hasattr(shim, s)] == []


def test_the_simulated_return_codes_are_pynvmls() -> None:
    pynvml = pytest.importorskip("pynvml")
    for name, code in NVML_RETURN_CODES.items():
        constant = "NVML_SUCCESS" if name == "SUCCESS" else f"NVML_ERROR_{name}"
        assert getattr(pynvml, constant) == code, name
        if name != "SUCCESS":
            assert pynvml.nvmlExceptionClass(code).__name__ == nvml_class(name)


# ---- NVML faults and garbage ----------------------------------------------------------


@pytest.mark.parametrize("code", sorted(set(NVML_RETURN_CODES) - {"SUCCESS"}))
def test_each_nvml_init_error_becomes_its_own_exception_class(code: str, tmp_path: Path) -> None:
    facts = simulate(spec_from(T4 + f'[nvml]\ninit_error = "{code}"\n'), tmp_path)
    assert facts.nvml.init_error is not None
    assert facts.nvml.init_error.kind == nvml_class(code)
    assert f"return code {NVML_RETURN_CODES[code]}" in facts.nvml.init_error.message
    # Even a failed init says which library answered.
    assert facts.nvml.library_path == str(tmp_path / "lib" / "libnvidia-ml.so.1")


@pytest.mark.parametrize(("fault", "signal_name"), [("segfault", "SIGSEGV"), ("abort", "SIGABRT")])
def test_a_crash_inside_nvml_init_is_reported_with_its_signal(
    fault: str, signal_name: str, tmp_path: Path
) -> None:
    facts = simulate(spec_from(T4 + f'[nvml]\nfault = "{fault}"\n'), tmp_path)
    error = facts.nvml.init_error
    assert error is not None and error.kind == "signal"
    assert signal_name in error.message
    assert facts.pci_devices and facts.device_nodes  # the file probes still answered


def test_a_hang_inside_nvml_init_is_reported_as_a_timeout(tmp_path: Path) -> None:
    facts = simulate(spec_from(T4 + '[nvml]\nfault = "hang"\n'), tmp_path, timeout=2)
    assert facts.nvml.init_error is not None
    assert facts.nvml.init_error.kind == "timeout"


@pytest.mark.skipif(REAL_NVML, reason="a real libnvidia-ml on this machine would answer")
def test_a_missing_library_is_library_not_found(tmp_path: Path) -> None:
    facts = simulate(spec_from(T4 + "[nvml]\nmissing = true\n"), tmp_path)
    assert facts.nvml.init_error is not None
    assert facts.nvml.init_error.kind == "NVMLError_LibraryNotFound"
    assert facts.nvml.library_path is None


def test_an_absurd_device_count_is_recorded_not_enumerated(tmp_path: Path) -> None:
    facts = simulate(spec_from(T4 + "[nvml]\ngarbage = true\n"), tmp_path)
    nvml = facts.nvml
    assert nvml.init_error is None and nvml.driver_version == "550.54.15"
    assert nvml.device_count is None and nvml.gpus == ()
    assert [(e.probe, e.kind) for e in nvml.errors] == [("nvml.nvmlDeviceGetCount_v2", "malformed")]
    # Without NVML's minors, the PCI bus says which /dev/nvidiaN to expect.
    assert "/dev/nvidia0" in {n.path for n in facts.device_nodes}


def test_an_unterminated_name_and_absurd_memory_lose_only_their_own_fields(
    tmp_path: Path,
) -> None:
    spec = spec_from(T4 + '[nvml]\ngarbage = ["name", "memory"]\n')
    gpu = simulate(spec, tmp_path).nvml.gpus[0]
    assert gpu.name == ""
    assert gpu.memory_total_mib is None and gpu.memory_used_mib is None
    assert gpu.uuid == spec.gpus[0].uuid and gpu.compute_capability == (7, 5)
    malformed = {e.probe for e in gpu.errors if e.kind == "malformed"}
    assert malformed == {"nvml.nvmlDeviceGetName", "nvml.nvmlDeviceGetMemoryInfo"}


def test_forced_per_field_errors_leave_every_other_field_filled(tmp_path: Path) -> None:
    errors = '{ nvmlDeviceGetUUID = "GPU_IS_LOST", nvmlSystemGetDriverVersion = "UNKNOWN" }'
    facts = simulate(spec_from(T4 + f"[nvml]\nerrors = {errors}\n"), tmp_path)
    nvml = facts.nvml
    assert nvml.driver_version is None and nvml.cuda_driver_version == 12040
    assert [(e.probe, e.kind) for e in nvml.errors] == [
        ("nvml.nvmlSystemGetDriverVersion", "NVMLError_Unknown")
    ]
    gpu = nvml.gpus[0]
    assert gpu.uuid is None and gpu.name == "Tesla T4" and gpu.ecc_enabled is True
    assert ("nvml.nvmlDeviceGetUUID", "NVMLError_GpuIsLost") in {
        (e.probe, e.kind) for e in gpu.errors
    }


def test_a_gpu_whose_handle_fails_is_listed_with_the_reason(tmp_path: Path) -> None:
    spec = spec_from(T4 + '[nvml]\nerrors = { nvmlDeviceGetHandleByIndex_v2 = "GPU_IS_LOST" }\n')
    nvml = simulate(spec, tmp_path).nvml
    assert nvml.device_count == 1
    assert nvml.gpus[0].name == "" and nvml.gpus[0].errors[0].kind == "NVMLError_GpuIsLost"


def test_a_gpu_nvml_does_not_enumerate_still_counts_for_device_nodes(tmp_path: Path) -> None:
    second = T4.split("[[gpu]]")[1].replace("00:04.0", "00:05.0")
    spec = spec_from(T4 + "[[gpu]]" + second + "in_nvml = false\n")
    facts = simulate(spec, tmp_path)
    assert len(facts.pci_devices) == 2 and facts.nvml.device_count == 1
    nodes = {n.path: n.exists for n in facts.device_nodes}
    assert nodes["/dev/nvidia0"] and nodes["/dev/nvidia1"]


def test_a_missing_gpu_node_is_reported_absent(tmp_path: Path) -> None:
    spec = spec_from(T4.replace("[[gpu]]", '[driver]\ndevice_nodes = ["nvidiactl"]\n[[gpu]]'))
    nodes = {n.path: n.exists for n in simulate(spec, tmp_path).device_nodes}
    assert nodes == {
        "/dev/nvidiactl": True,
        "/dev/nvidia-uvm": False,
        "/dev/nvidia-uvm-tools": False,
        "/dev/nvidia-modeset": False,
        "/dev/nvidia0": False,
    }


@pytest.mark.skipif(IS_ROOT, reason="root passes os.access on mode-000 files")
def test_an_unreadable_node_is_reported_unreadable(tmp_path: Path) -> None:
    spec = spec_from(T4.replace("[[gpu]]", '[driver]\nunreadable_nodes = ["nvidia0"]\n[[gpu]]'))
    root = materialise_root(spec, tmp_path)
    node = {n.path: n for n in probe_device_nodes(root, [0])}["/dev/nvidia0"]
    assert node.exists and not node.readable and not node.writable


def test_the_open_kernel_module_wording_is_parsed(tmp_path: Path) -> None:
    spec = spec_from(
        T4.replace("[[gpu]]", '[driver]\nversion = "570.86.15"\nopen_module = true\n[[gpu]]')
    )
    text, version, error = probe_proc_version(materialise_root(spec, tmp_path))
    assert text is not None and "Open Kernel Module" in text
    assert (version, error) == ("570.86.15", None)


@pytest.mark.parametrize("output", ["not json at all", '{"unexpected": 1}'])
def test_a_child_that_prints_no_usable_answer_is_invalid_output(
    output: str, tmp_path: Path
) -> None:
    # sitecustomize runs before the child's module: it answers nonsense and leaves.
    (tmp_path / "sitecustomize.py").write_text(
        f"import os\nprint({output!r}, flush=True)\nos._exit(0)\n"
    )
    paths = [str(tmp_path), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    nvml = probe_nvml(timeout=20, env=child_env({"PYTHONPATH": os.pathsep.join(paths)}))
    assert nvml.init_error is not None and nvml.init_error.kind == "invalid-output"


# ---- sysfs and procfs edge cases (no shim) ------------------------------------------------


def write_pci(root: Path, address: str, **files: str) -> Path:
    path = root / "sys/bus/pci/devices" / address
    path.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (path / name).write_text(text)
    return path


GPU_FILES = {"vendor": "0x10de\n", "device": "0x1eb8\n", "class": "0x030200\n"}


def test_a_root_without_sys_proc_or_dev_gives_errors_not_exceptions(tmp_path: Path) -> None:
    facts = probe_driver(tmp_path, timeout=20, env=child_env({"LD_LIBRARY_PATH": str(tmp_path)}))
    assert facts.pci_error is not None and facts.pci_error.kind == "missing"
    assert facts.modules_error is not None and facts.modules_error.kind == "missing"
    assert facts.proc_version_text is None and facts.proc_version_error is None
    assert [n.exists for n in facts.device_nodes] == [False] * 4
    assert facts.nvml.init_error is not None or facts.nvml.device_count is not None


def test_a_pci_devices_file_instead_of_a_directory_is_malformed(tmp_path: Path) -> None:
    (tmp_path / "sys/bus/pci").mkdir(parents=True)
    (tmp_path / "sys/bus/pci/devices").write_text("")
    devices, error = probe_pci(tmp_path)
    assert devices == () and error is not None and error.kind == "malformed"


def test_only_nvidia_display_and_3d_controllers_are_kept(tmp_path: Path) -> None:
    write_pci(
        tmp_path, "0000:00:00.0", vendor="0x8086\n", device="0x1237\n", **{"class": "0x060000\n"}
    )
    write_pci(
        tmp_path, "0000:01:00.1", vendor="0x10de\n", device="0x10fa\n", **{"class": "0x040300\n"}
    )
    write_pci(tmp_path, "0000:01:00.0", **GPU_FILES)
    devices, error = probe_pci(tmp_path)
    assert [d.address for d in devices] == ["0000:01:00.0"] and error is None
    # Optional files absent, no driver link: unbound, and every optional field None.
    assert devices[0].bound_driver is None and devices[0].numa_node is None
    assert devices[0].current_link_speed is None and devices[0].max_link_width is None


@pytest.mark.parametrize(
    ("broken", "kind"),
    [
        ({"class": ""}, "malformed"),
        ({"class": "VGA\n"}, "malformed"),
        ({"vendor": "0xzz\n"}, "malformed"),
        ({"vendor": "0x10de0000000\n"}, "malformed"),
    ],
)
def test_an_unclassifiable_device_is_an_error_and_the_others_are_kept(
    broken: dict[str, str], kind: str, tmp_path: Path
) -> None:
    write_pci(tmp_path, "0000:00:04.0", **GPU_FILES)
    write_pci(tmp_path, "0000:00:05.0", **{**GPU_FILES, **broken})
    devices, error = probe_pci(tmp_path)
    assert [d.address for d in devices] == ["0000:00:04.0"]
    assert error is not None and error.kind == kind and "0000:00:05.0" in error.message


def test_a_directory_where_the_vendor_file_should_be_is_malformed(tmp_path: Path) -> None:
    path = write_pci(tmp_path, "0000:00:04.0", device="0x1eb8\n", **{"class": "0x030200\n"})
    (path / "vendor").mkdir()
    devices, error = probe_pci(tmp_path)
    assert devices == () and error is not None and error.kind == "malformed"
    assert "/sys/bus/pci/devices/0000:00:04.0/vendor" in error.message  # a host path


def test_an_unreadable_vendor_file_is_unreadable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_pci(tmp_path, "0000:00:04.0", **GPU_FILES)
    real_open = os.open

    def refusing_open(path: object, *args: object, **kwargs: object) -> int:
        if str(path).endswith("/vendor"):
            raise PermissionError(13, "Permission denied")
        return real_open(path, *args, **kwargs)  # type: ignore[arg-type]

    # Root reads mode-000 files, so the refusal is simulated where the one bounded reader opens files.
    monkeypatch.setattr(reading.os, "open", refusing_open)
    devices, error = probe_pci(tmp_path)
    assert devices == () and error is not None and error.kind == "unreadable"


def test_malformed_optional_pci_files_become_none(tmp_path: Path) -> None:
    files = {
        **GPU_FILES,
        "numa_node": "n/a\n",
        "current_link_width": "x16\n",
        "subsystem_vendor": "?",
    }
    write_pci(tmp_path, "0000:00:04.0", **files)
    (device,), error = probe_pci(tmp_path)
    assert error is None
    assert (device.numa_node, device.current_link_width, device.subsystem_vendor_id) == (
        None,
        None,
        None,
    )


def test_an_empty_proc_modules_lists_nothing_and_is_no_error(tmp_path: Path) -> None:
    (tmp_path / "proc").mkdir()
    (tmp_path / "proc/modules").write_text("")
    assert probe_modules(tmp_path) == ((), None)


def test_proc_modules_keeps_only_nvidia_nouveau_and_vfio_rows(tmp_path: Path) -> None:
    (tmp_path / "proc").mkdir()
    (tmp_path / "proc/modules").write_text(
        "ext4 1011712 1 - Live 0x0\nnvidia_uvm 1527808 2 - Live 0x0\n"
        "nouveau x y - Live 0x0\nvfio_pci\n\n"
    )
    modules, error = probe_modules(tmp_path)
    assert error is None
    assert [(m.name, m.size, m.refcount) for m in modules] == [
        ("nvidia_uvm", 1527808, 2),
        ("nouveau", None, None),
        ("vfio_pci", None, None),
    ]


def test_a_directory_where_proc_modules_should_be_is_malformed(tmp_path: Path) -> None:
    (tmp_path / "proc/modules").mkdir(parents=True)
    modules, error = probe_modules(tmp_path)
    assert modules == () and error is not None and error.kind == "malformed"


def test_an_unparseable_version_file_keeps_its_text_and_says_so(tmp_path: Path) -> None:
    (tmp_path / "proc/driver/nvidia").mkdir(parents=True)
    (tmp_path / "proc/driver/nvidia/version").write_text("NVRM version: something else\n")
    text, version, error = probe_proc_version(tmp_path)
    assert text == "NVRM version: something else\n" and version is None
    assert error is not None and error.kind == "malformed"


def test_a_dangling_node_link_is_not_an_existing_node(tmp_path: Path) -> None:
    (tmp_path / "dev").mkdir()
    os.symlink("/nonexistent/char/195:0", tmp_path / "dev/nvidia0")
    nodes = {n.path: n for n in probe_device_nodes(tmp_path)}
    assert not nodes["/dev/nvidia0"].exists


# ---- the proc-version parser ----------------------------------------------------------

versions = st.builds(
    lambda major, minor, patch: (
        f"{major}.{minor:02d}" + (f".{patch:02d}" if patch is not None else "")
    ),
    st.integers(100, 999),
    st.integers(0, 999),
    st.none() | st.integers(0, 99),
)


@given(st.text())
def test_the_version_parser_never_raises_on_any_text(text: str) -> None:
    assert parse_nvidia_proc_version(text) is None or isinstance(
        parse_nvidia_proc_version(text), str
    )


@given(
    versions, st.booleans(), st.sampled_from(["x86_64", "aarch64", "ppc64le"]), st.text(max_size=30)
)
def test_the_version_parser_reads_back_generated_lines(
    version: str, open_module: bool, arch: str, tail: str
) -> None:
    tail = tail.replace("\n", " ").replace("\r", " ")
    wording = f"Open Kernel Module for {arch}" if open_module else f"{arch} Kernel Module"
    text = f"NVRM version: NVIDIA UNIX {wording}  {version}  {tail}\nGCC version:  gcc 12\n"
    assert parse_nvidia_proc_version(text) == version


# ---- spec validation ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("edit", "key"),
    [
        (("ecc = true", "ecc = true\necc_mode = true"), "gpu[0].ecc_mode"),
        (
            ('name = "Tesla T4"', 'name = "Tesla T4"\nbound_driver = "nvidiafb"'),
            "gpu[0].bound_driver",
        ),
        (('"0000:00:04.0"', '"00:04.0"'), "gpu[0].pci_address"),
        (('"7.5"', '"sm_75"'), "gpu[0].compute_capability"),
    ],
)
def test_a_bad_spec_names_the_key(edit: tuple[str, str], key: str) -> None:
    with pytest.raises(DataError) as info:
        spec_from(T4.replace(*edit))
    assert info.value.key == key and info.value.source == "<test>"


@pytest.mark.parametrize(
    ("nvml", "key"),
    [
        ('init_error = "DRIVER_NOT_LODED"', "nvml.init_error"),
        ('errors = { nvmlDeviceGetEcc = "NOT_SUPPORTED" }', "nvml.errors.nvmlDeviceGetEcc"),
        ('fault = "explode"', "nvml.fault"),
        ('garbage = ["names"]', "nvml.garbage[0]"),
        ('missing = true\ninit_error = "UNKNOWN"', "nvml.missing"),
    ],
)
def test_a_bad_nvml_table_names_the_key(nvml: str, key: str) -> None:
    with pytest.raises(DataError) as info:
        spec_from(T4 + "[nvml]\n" + nvml + "\n")
    assert info.value.key == key


def test_a_near_miss_key_gets_a_suggestion() -> None:
    with pytest.raises(DataError, match="did you mean 'init_error'"):
        spec_from(T4 + '[nvml]\ninit_eror = "UNKNOWN"\n')


def test_omitted_uuids_are_deterministic_and_distinct() -> None:
    two = T4 + "[[gpu]]" + T4.split("[[gpu]]")[1].replace("00:04.0", "00:05.0")
    first, second = spec_from(two), spec_from(two)
    assert [g.uuid for g in first.gpus] == [g.uuid for g in second.gpus]
    assert len({g.uuid for g in first.gpus}) == 2


def test_without_the_nvidia_module_no_device_nodes_are_derived() -> None:
    spec = spec_from(T4.replace("[[gpu]]", '[driver]\nmodules = ["nouveau"]\n[[gpu]]'))
    assert spec.device_node_names() == ()


def test_every_shipped_spec_parses() -> None:
    assert len(SPECS) >= 14
    for path in SPECS.values():
        assert load_spec(path).description, path
