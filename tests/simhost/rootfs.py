"""Write a host spec's /sys, /proc and /dev as a directory tree the probes read via --host-root.

The files hold what the kernel would write (hex ids with a newline, the
"NVRM version:" line, /proc/modules rows), so the probes parse the real
formats. Two things cannot be real without privileges and are documented:
device nodes are regular files (mknod needs root), and `unreadable_nodes`
(mode 000) still pass os.access when the tests run as root.
"""

from __future__ import annotations

import os
from pathlib import Path

from tests.simhost.spec import GpuSpec
from tests.simhost.spec import HostSpec

#: Link speed text per PCIe generation, as current kernels write current_link_speed.
LINK_SPEEDS = {
    1: "2.5 GT/s PCIe",
    2: "5.0 GT/s PCIe",
    3: "8.0 GT/s PCIe",
    4: "16.0 GT/s PCIe",
    5: "32.0 GT/s PCIe",
    6: "64.0 GT/s PCIe",
}

#: Realistic /proc/modules sizes, so the rows look like the real ones.
MODULE_SIZES = {
    "nvidia": 56713216,
    "nvidia_uvm": 1527808,
    "nvidia_modeset": 1306624,
    "nvidia_drm": 77824,
    "nvidia_peermem": 16384,
    "nouveau": 2441216,
    "vfio_pci": 16384,
    "vfio": 45056,
}

#: Modules every Linux host has: the probe must pick the NVIDIA ones out of these.
BACKGROUND_MODULES = (
    "ext4 1011712 1 - Live 0x0000000000000000",
    "drm 622592 0 - Live 0x0000000000000000",
)

# A host bridge: not NVIDIA, so the probe must skip it.
_HOST_BRIDGE = ("0000:00:00.0", {"vendor": "0x8086", "device": "0x1237", "class": "0x060000"})


def proc_version_text(spec: HostSpec) -> str:
    """/proc/driver/nvidia/version as the proprietary or the open module writes it."""
    version = spec.driver.version
    if spec.driver.open_module:
        return (
            f"NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  {version}  Release Build"
            "  (dvs-builder@U16-I3-B03-4-3)  Thu Jan 23 22:51:09 UTC 2025\n"
            "GCC version:  gcc version 12.2.0 (Ubuntu 12.2.0-3ubuntu1)\n"
        )
    return (
        f"NVRM version: NVIDIA UNIX x86_64 Kernel Module  {version}  Tue Mar  5 22:23:56 UTC 2024\n"
        "GCC version:  gcc version 12.2.0 (Debian 12.2.0-14)\n"
    )


def proc_modules_text(spec: HostSpec) -> str:
    """/proc/modules with the spec's modules among some background ones."""
    modules = spec.driver.modules
    rows = list(BACKGROUND_MODULES)
    for name in modules:
        users = [m for m in modules if m != name and m.startswith(name + "_")]
        if name == "vfio":
            users = [m for m in modules if m.startswith("vfio_")]
        deps = ",".join(users) + "," if users else "-"
        size = MODULE_SIZES.get(name, 16384)
        rows.append(f"{name} {size} {len(users)} {deps} Live 0x0000000000000000")
    return "\n".join(rows) + "\n"


def materialise_root(spec: HostSpec, dest: Path) -> Path:
    """Write `spec`'s sysfs, procfs and /dev below `dest` and return `dest`."""
    dest.mkdir(parents=True, exist_ok=True)
    _write_pci(spec, dest)
    proc = dest / "proc"
    proc.mkdir(exist_ok=True)
    (proc / "modules").write_text(proc_modules_text(spec))
    if spec.driver.proc_version:
        version = proc / "driver" / "nvidia" / "version"
        version.parent.mkdir(parents=True, exist_ok=True)
        version.write_text(proc_version_text(spec))
    dev = dest / "dev"
    dev.mkdir(exist_ok=True)
    for name in spec.device_node_names():
        (dev / name).write_bytes(b"")  # a regular file: mknod would need root
        os.chmod(dev / name, 0o000 if name in spec.driver.unreadable_nodes else 0o666)
    if spec.driver.kernel_log_readable:
        # A recorded log as a file of lines (the kernel log reader reads a regular file as dmesg output).
        (dev / "kmsg").write_text("".join(line + "\n" for line in spec.driver.kernel_log))
    if spec.driver.secure_boot is not None:
        efivars = dest / "sys/firmware/efi/efivars"
        efivars.mkdir(parents=True, exist_ok=True)
        # 4 bytes of variable attributes, then the value.
        (efivars / SECURE_BOOT).write_bytes(b"\x06\x00\x00\x00" + bytes([spec.driver.secure_boot]))
    if spec.container is not None:
        _write_container_marks(spec.container, dest)
    return dest


SECURE_BOOT = "SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c"
#: The marks each runtime leaves inside its containers (container_runtimes.toml's detect lists).
CONTAINER_MARKS = {
    "docker": {".dockerenv": ""},
    "podman": {"run/.containerenv": "engine=\"podman-5.2.0\"\n"},
    "lxc": {"run/systemd/container": "lxc\n"},
    "kubernetes": {"proc/1/cgroup": "0::/kubepods/besteffort/pod0c7a/3f1e\n"},
    "apptainer": {".singularity.d/runscript": "#!/bin/sh\n"},
    "enroot": {"etc/rc": "# enroot-provenance: docker://nvcr.io#nvidia/tensorflow:24.05-tf2-py3\n"},
}


def _write_container_marks(container: str, dest: Path) -> None:
    for name, text in CONTAINER_MARKS[container].items():
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        (dest / name).write_text(text)


def _write_pci(spec: HostSpec, dest: Path) -> None:
    devices = dest / "sys" / "bus" / "pci" / "devices"
    drivers = dest / "sys" / "bus" / "pci" / "drivers"
    devices.mkdir(parents=True, exist_ok=True)
    drivers.mkdir(parents=True, exist_ok=True)
    address, files = _HOST_BRIDGE
    _write_files(devices / address, files)
    for gpu in spec.gpu:
        path = devices / gpu.pci_address
        _write_files(path, _gpu_files(gpu))
        if gpu.bound_driver:
            (drivers / gpu.bound_driver).mkdir(exist_ok=True)
            # Relative, as sysfs links are, so the tree can be copied or moved.
            os.symlink(f"../../drivers/{gpu.bound_driver}", path / "driver")
        if gpu.is_geforce:
            # GeForce boards carry an HDMI audio function: NVIDIA vendor, not a GPU class.
            audio = devices / (gpu.pci_address[:-1] + "1")
            _write_files(
                audio,
                {"vendor": "0x10de", "device": "0x10fa", "class": "0x040300"},
            )


def _gpu_files(gpu: GpuSpec) -> dict[str, str]:
    return {
        "vendor": "0x10de",
        "device": f"0x{gpu.pci_device_id:04x}",
        "class": "0x030000" if gpu.is_geforce else "0x030200",
        "subsystem_vendor": "0x10de",
        "subsystem_device": f"0x{(gpu.pci_device_id + 0x0A3) & 0xFFFF:04x}",
        "numa_node": "-1",  # what VMs without NUMA report, and TF logs about
        "current_link_speed": LINK_SPEEDS[gpu.pcie_gen[0]],
        "max_link_speed": LINK_SPEEDS[gpu.pcie_gen[1]],
        "current_link_width": str(gpu.pcie_width[0]),
        "max_link_width": str(gpu.pcie_width[1]),
    }


def _write_files(directory: Path, files: dict[str, str]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(text + "\n")
