"""Fixtures shared by the suites: the facts each layer needs, or an error when they could not be observed."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from gpuconform.expect.expectations import Expectations
from gpuconform.facts.model import Facts
from gpuconform.facts.model import GpuFacts
from gpuconform.facts.model import NvmlFacts
from gpuconform.facts.model import PciDevice
from gpuconform.frameworks.tensorflow import LiveTf
from gpuconform.frameworks.tensorflow import recorder
from gpuconform.plugin.frameworks import live_tf
from gpuconform.verdict.check import could_not_check
from gpuconform.verdict.check import not_applicable

#: Probe failures that mean "the probe itself broke", not "the host said no".
CRASH_KINDS = ("signal", "timeout", "exit", "invalid-output")


@pytest.fixture
def gpu_profile(host_expect: Expectations) -> Expectations:
    """The expectations, for a check that applies only when the profile expects GPUs."""
    if not host_expect.profile.expects_gpu:
        not_applicable(f"profile {host_expect.profile.name!r} expects no GPU")
    return host_expect


@pytest.fixture
def pci_gpus(host_facts: Facts, gpu_profile: Expectations) -> tuple[PciDevice, ...]:
    """The NVIDIA display/3D controllers on the PCI bus."""
    return tuple(d for d in host_facts.driver.pci_devices if d.vendor_id == 0x10DE)


@pytest.fixture
def nvml(host_facts: Facts, gpu_profile: Expectations) -> NvmlFacts:
    """NVML's answers; an error (not a failure) when the NVML probe crashed or hung."""
    facts = host_facts.driver.nvml
    error = facts.init_error
    if error is not None and error.kind in CRASH_KINDS:
        could_not_check("NVML", f"the NVML probe {error.kind}: {error.message}")
    return facts


@pytest.fixture
def nvml_gpus(nvml: NvmlFacts) -> tuple[GpuFacts, ...]:
    """The GPUs NVML enumerated (the check is blocked when NVML did not initialise)."""
    return nvml.gpus


@pytest.fixture
def tf_live(request: pytest.FixtureRequest, host_expect: Expectations) -> LiveTf:
    """TensorFlow children for a live check; it skips when TF is not installed or facts are replayed."""
    return live_tf(request.config, host_expect.tensorflow)


@pytest.fixture
def measured(request: pytest.FixtureRequest) -> Callable[[str, object], None]:
    """``measured(name, value)``: report a measurement with the check (JUnit properties), without judging it."""
    return recorder(request.node)
