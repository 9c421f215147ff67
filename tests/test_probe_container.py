"""The probes behind the container and module rules: the runtime from the marks it leaves, WSL, Secure Boot."""

from __future__ import annotations

from pathlib import Path

import pytest

from gpuconform.probes.driver import probe_device_nodes
from gpuconform.probes.driver import probe_secure_boot
from gpuconform.probes.kernellog import relevant_lines
from gpuconform.probes.platform import detect_container
from gpuconform.probes.platform import detect_wsl

# case -> (files below the root, environment, the runtime named)
MARKS: dict[str, tuple[dict[str, str], dict[str, str], str | None]] = {
    "nothing": ({}, {}, None),
    "docker": ({".dockerenv": ""}, {}, "docker"),
    "podman": ({"run/.containerenv": 'engine="podman-5.2.0"\n'}, {"container": "podman"}, "podman"),
    "lxd, from systemd's file": ({"run/systemd/container": "lxc\n"}, {}, "lxc"),
    "lxc, from PID 1's environment": ({"proc/1/environ": "PATH=/bin\0container=lxc\0"}, {}, "lxc"),
    "kubernetes over docker": ({".dockerenv": ""}, {"KUBERNETES_SERVICE_HOST": "10.0.0.1"}, "kubernetes"),
    "kubernetes from the cgroup": ({"proc/1/cgroup": "0::/kubepods/besteffort/pod1/abc\n"}, {}, "kubernetes"),
    "apptainer from its variable": ({}, {"APPTAINER_CONTAINER": "/scratch/tf.sif"}, "apptainer"),
    "singularity from its directory": ({".singularity.d/runscript": "#!/bin/sh\n"}, {}, "apptainer"),
    "enroot from its /etc/rc": ({"etc/rc": "# enroot-provenance: docker://nvcr.io#nvidia/tensorflow\n"}, {}, "enroot"),
}


@pytest.mark.parametrize("case", sorted(MARKS))
def test_the_container_runtime_is_named_from_the_marks_it_leaves_inside(case: str, tmp_path: Path) -> None:
    files, env, expected = MARKS[case]
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    kind, evidence = detect_container(tmp_path, env)
    assert kind == expected
    assert bool(evidence) == bool(expected)


@pytest.mark.parametrize(
    ("release", "dxg", "version"),
    [
        ("4.4.0-19041-Microsoft", False, 1),
        ("5.15.153.1-microsoft-standard-WSL2", False, 2),
        ("4.4.0-19041-Microsoft", True, 2),
        ("6.8.0-45-generic", True, None),
    ],
)
def test_wsl_1_and_2_are_told_apart_by_the_kernel_release_and_dev_dxg(
    tmp_path: Path, release: str, dxg: bool, version: int | None
) -> None:
    (tmp_path / "proc/sys/kernel").mkdir(parents=True)
    (tmp_path / "proc/sys/kernel/osrelease").write_text(release + "\n")
    (tmp_path / "dev").mkdir()
    if dxg:
        (tmp_path / "dev/dxg").write_bytes(b"")
    assert detect_wsl(tmp_path) == version


@pytest.mark.parametrize(("data", "state"), [(b"\x06\x00\x00\x00\x01", True), (b"\x06\x00\x00\x00\x00", False)])
def test_secure_boot_is_read_from_its_efi_variable(tmp_path: Path, data: bytes, state: bool) -> None:
    efivars = tmp_path / "sys/firmware/efi/efivars"
    efivars.mkdir(parents=True)
    (efivars / "SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c").write_bytes(data)
    assert probe_secure_boot(tmp_path) is state


def test_secure_boot_is_unknown_without_efivars(tmp_path: Path) -> None:
    assert probe_secure_boot(tmp_path) is None


def test_wsl_2s_gpu_device_is_recorded_only_where_it_exists(tmp_path: Path) -> None:
    (tmp_path / "dev").mkdir()
    assert "/dev/dxg" not in {n.path for n in probe_device_nodes(tmp_path)}
    (tmp_path / "dev/dxg").write_bytes(b"")
    assert "/dev/dxg" in {n.path for n in probe_device_nodes(tmp_path) if n.exists}


def test_the_kernel_log_keeps_the_lines_that_say_why_the_module_was_refused() -> None:
    lines = relevant_lines(["Loading of unsigned module is rejected", "usb 1-1: new high-speed USB device"])
    assert lines == ("Loading of unsigned module is rejected",)
