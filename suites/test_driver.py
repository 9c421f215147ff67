"""Layer `driver`: is an NVIDIA GPU present, bound to the nvidia kernel module and reachable?"""

from __future__ import annotations

import pytest

from gpuconform.check import fail
from gpuconform.check import not_applicable
from gpuconform.expectations import Expectations
from gpuconform.facts import Facts

pytestmark = pytest.mark.driver

PCI = "/sys/bus/pci/devices (vendor 0x10de, class 0x0300/0x0302)"


def _gpu_profile(host_expect: Expectations) -> None:
    if not host_expect.profile.expects_gpu:
        not_applicable(f"profile {host_expect.profile.name!r} expects no GPU")


def test_nvidia_gpu_is_on_the_pci_bus(host_expect: Expectations, host_facts: Facts) -> None:
    _gpu_profile(host_expect)
    want = host_expect.profile.gpus.count
    found = [d for d in host_facts.driver.pci_devices if d.vendor_id == 0x10DE]
    if host_facts.driver.pci_error is not None and not found:
        fail(
            "the PCI bus could not be read",
            expected=f"{want} NVIDIA GPU(s) on the PCI bus",
            found=host_facts.driver.pci_error.message,
            source=PCI,
            why="without sysfs no GPU can be seen; a container may hide /sys",
            fix="run on the host, or mount /sys read-only into the container",
        )
    if len(found) < want:
        model = host_expect.gpu_model.names[0] if host_expect.gpu_model else "NVIDIA GPU"
        listed = ", ".join(f"{d.address} (0x{d.device_id:04x})" for d in found) or "none"
        fail(
            f"expected {want} {model} on the PCI bus, found {len(found)}",
            expected=f"{want} x {model} (profile {host_expect.profile.name!r})",
            found=f"{len(found)} NVIDIA display/3D controller(s): {listed}",
            source=PCI,
            why="a GPU that is not on the bus cannot be used by any driver or framework",
            fix="check the card is seated and powered, the VM/instance type has a GPU attached, "
            "and `lspci -nn | grep -i nvidia` lists it",
        )
